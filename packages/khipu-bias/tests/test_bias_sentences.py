"""SEAT: templates, the mean-word-vector encoder and WEAT over sentence vectors."""

from __future__ import annotations

import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest
from khipu.bias.sentences import fill_templates


def test_fill_templates() -> None:
    assert fill_templates("rose", ["This is {}.", "{} is here."]) == [
        "This is rose.",
        "Rose is here.",
    ]
    with pytest.raises(kc.KhipuError, match="slot"):
        fill_templates("rose", ["no slot"])


def test_seat_with_mean_vectors_matches_a_manual_computation(toy_emb) -> None:  # type: ignore[no-untyped-def]
    test = kb.make_test(
        "t",
        {"X": ["he", "man"], "Y": ["she", "woman"]},
        {"A": ["doctor", "car"], "B": ["nurse", "queen"]},
    )
    templates = ["This is {}.", "{} is here."]
    result = kb.seat(kb.MeanWordVectorEncoder(toy_emb), test, templates=templates)
    unit = toy_emb.normalized()

    def sent(words: list[str]) -> np.ndarray:
        rows = []
        for x in words:
            for s in fill_templates(x, templates):
                toks = [w if w in unit else w.lower() for w in s.replace(".", "").split()]
                rows.append(unit.matrix([w for w in toks if w in unit]).mean(0))
        return np.stack(rows)

    stat, d, perm, _, _ = kb.weat_from_vectors(
        sent(["he", "man"]),
        sent(["she", "woman"]),
        sent(["doctor", "car"]),
        sent(["nurse", "queen"]),
    )
    assert result.statistic == pytest.approx(stat) and result.effect_size == pytest.approx(d)
    assert result.p_value == pytest.approx(perm.p_value) and result.exact
    assert len(result.sentences["X"]) == 4


def test_seat_reports_missing_words(toy_emb) -> None:  # type: ignore[no-untyped-def]
    test = kb.make_test(
        "t",
        {"X": ["he", "man", "xx"], "Y": ["she", "woman", "queen"]},
        {"A": ["doctor"], "B": ["nurse"]},
    )
    r = kb.seat(kb.MeanWordVectorEncoder(toy_emb), test, embeddings=toy_emb, max_missing=0.5)
    assert r.missing["X (X)"] == ["xx"] and r.metrics()["n_missing"] == 1
    with pytest.raises(kc.KhipuError, match="no word"):
        kb.MeanWordVectorEncoder(toy_emb).encode(["zzz qqq"])
