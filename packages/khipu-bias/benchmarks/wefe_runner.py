"""Serves WEFE 1.0.1's metrics on one query to ``bench_peers.py``: values, then timings.

Not imported by khipu: ``bench_peers.py`` starts it with the Python of a separate
environment holding WEFE (``hatch env create peers-wefe``: WEFE pins numpy<=1.26.4 and
scipy<1.13) and talks to it over stdin/stdout, so that WEFE's rounds interleave with
khipu's calls::

    python wefe_runner.py vectors.txt query.json
    -> {"values": {metric: value}, "versions": {...}}   (after a warm-up)
    <- time
    -> {metric: seconds}          (each metric once; one line per "time" line read)
"""

from __future__ import annotations

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def main() -> None:
    import numpy
    import wefe
    from gensim.models import KeyedVectors
    from wefe.metrics import ECT, MAC, RIPA, RND, RNSB, WEAT
    from wefe.query import Query
    from wefe.word_embedding_model import WordEmbeddingModel

    vectors, query_path = sys.argv[1], sys.argv[2]
    with open(query_path) as f:
        q = json.load(f)
    model = WordEmbeddingModel(KeyedVectors.load_word2vec_format(vectors), "bench")
    query = Query([q["X"], q["Y"]], [q["A"], q["B"]], ["X", "Y"], ["A", "B"])
    one_attr = Query([q["X"], q["Y"]], [q["A"]], ["X", "Y"], ["A"])
    union = Query([q["X"], q["Y"]], [q["A"] + q["B"]], ["X", "Y"], ["A u B"])
    runs = {
        "weat_effect_size": lambda: WEAT().run_query(query, model, return_effect_size=True),
        "rnd_euclidean": lambda: RND().run_query(one_attr, model, distance="norm"),
        "rnd_cosine": lambda: RND().run_query(one_attr, model, distance="cos"),
        "rnsb": lambda: RNSB().run_query(query, model, n_iterations=10),
        "mac": lambda: MAC().run_query(query, model),
        "ect": lambda: ECT().run_query(union, model),
        "ripa": lambda: RIPA().run_query(union, model),
    }
    values = {}
    for name, run in runs.items():
        value = run().get("result")  # warm-up, and the value
        values[name] = None if value is None else float(value)
    versions = {"wefe": wefe.__version__, "numpy": numpy.__version__}
    print(json.dumps({"values": values, "versions": versions}), flush=True)
    for line in sys.stdin:
        if line.strip() != "time":
            break
        times = {}
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name] = time.perf_counter() - start
        print(json.dumps(times), flush=True)


if __name__ == "__main__":
    main()
