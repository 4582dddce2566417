"""The pictures are drawn from the results and saved as PNG."""

from __future__ import annotations

from pathlib import Path

import khipu.bias as kb
import khipu.core as kc
import pytest


def test_every_picture(tmp_path: Path, toy_emb) -> None:  # type: ignore[no-untyped-def]
    test = kb.make_test(
        "t",
        {"X": ["he", "man", "king"], "Y": ["she", "woman", "queen"]},
        {"A": ["doctor", "car"], "B": ["nurse", "paris"]},
    )
    result = kb.weat(toy_emb, test)
    fig = kb.plot_weat(result, path=tmp_path / "weat.png")
    assert len(fig.axes) == 2
    d = kb.direction_pca(toy_emb, [("she", "he"), ("woman", "man"), ("queen", "king")])
    p = kb.project(toy_emb, list(toy_emb.words), d)
    kb.plot_projection_bars(p, n=3, path=tmp_path / "bars.png")
    q = kb.project(toy_emb, list(toy_emb.words), kb.direction_from_pair(toy_emb, "doctor", "nurse"))
    kb.plot_projection_plane(p, q, path=tmp_path / "plane.png")
    kb.plot_explained_variance(d, path=tmp_path / "pca.png")
    with pytest.raises(kc.KhipuError, match="PCA"):
        kb.plot_explained_variance(kb.direction_from_pair(toy_emb, "she", "he"))
    pairs = kb.compare_pairs(kb.CbowScorer(kb.default_model()), kb.builtin_pairs())
    kb.plot_pairs(pairs, path=tmp_path / "pairs.png")
    for name in ("weat", "bars", "plane", "pca", "pairs"):
        assert (tmp_path / f"{name}.png").stat().st_size > 2000
