def register(parser):
    pass
