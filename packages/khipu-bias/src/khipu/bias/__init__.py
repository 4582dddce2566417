"""khipu.bias: stereotypes and bias in word embeddings and language models.

Measure (WEAT, SEAT, projections, direct bias, analogies, CrowS-Pairs, phrase ranking),
compare methods, try hard debiasing and see its limits -- with missing vocabulary always
reported by name, the paper's effect size (ddof = 1) and real permutation p-values.

Skipped by the doctests (``hatch run doctest``): it trains the offline word2vec model
(about a minute on two cores); the package's tests cover the same path.

>>> import khipu.bias as kb
>>> emb = kb.default_embeddings()  # doctest: +SKIP
>>> r = kb.weat(emb, kb.get_test("en-gender-career"))  # doctest: +SKIP
>>> print(r.summary())  # doctest: +SKIP
en-gender-career: d = ..., p = ... (exact, all 12870 partitions), S = ..., |X| = |Y| = 8
"""

import lazy_loader as _lazy
from khipu.core.deprecation import deprecated_getattr as _deprecated_getattr

# The public API is listed once, in __init__.pyi; submodules (and JAX with them)
# are imported on first use, so `khipu --help` stays fast.
__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)

# A renamed public name keeps working for one minor release: old name -> (new name, the
# version that removes it). tests/release.py lets a name listed here leave the API.
_DEPRECATED: dict[str, tuple[str, str]] = {}
__getattr__ = _deprecated_getattr(__name__, __getattr__, _DEPRECATED)
