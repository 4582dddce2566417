"""Measures the notebook's own blocks outside quick mode.

Runs ``notebooks/02_transformer.py`` with the full settings (``KHIPU_QUICK`` unset) up to
the end of section 8: the inversion model assembled from the notebook's cells (the
solution classes: ``MultiHeadAttention``, ``FeedForwardBlock``, ``AddNorm``,
``EncoderBlock``, ``DecoderBlock``, ``Seq2Seq``), trained by ``tx.train_inversion`` and
decoded autoregressively on 500 held-out crops. Prints the metrics (exact match,
token accuracy) and the wall time.

Usage (from the repository root)::

    MPLBACKEND=Agg python packages/khipu-transformer/benchmarks/notebook_blocks_full.py
"""

from __future__ import annotations

import os
import time
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "02_transformer.py"


def main() -> None:
    os.environ.pop("KHIPU_QUICK", None)
    source = NOTEBOOK.read_text()
    source = source[: source.index("# ## 9. Three families")]
    start = time.perf_counter()
    scope: dict[str, object] = {"__name__": "notebook"}
    os.chdir(NOTEBOOK.parent)
    exec(compile(source, str(NOTEBOOK), "exec"), scope)  # the notebook's own cells
    result = scope["result"]
    print("notebook blocks, full settings:", result.metrics, f"{time.perf_counter() - start:.0f} s")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
