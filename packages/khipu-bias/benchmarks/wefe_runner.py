"""Runs WEFE 1.0.1's metrics on one query and prints their values and times as JSON.

Not imported by khipu: run it with the Python of a separate environment holding WEFE
(``pip install wefe==1.0.1``; WEFE pins numpy<=1.26.4 and scipy<1.13), as
``bench_metrics.py --wefe-python PATH`` does::

    python wefe_runner.py vectors.txt query.json REPEATS
"""

from __future__ import annotations

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")


def main() -> None:
    from gensim.models import KeyedVectors
    from wefe.metrics import ECT, MAC, RIPA, RND, RNSB, WEAT
    from wefe.query import Query
    from wefe.word_embedding_model import WordEmbeddingModel

    vectors, query_path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
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
    out = {}
    for name, run in runs.items():
        result = run()  # warm-up, and the value
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        times.sort()
        value = result.get("result")
        out[name] = {
            "value": None if value is None else float(value),
            "seconds": times[len(times) // 2],
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
