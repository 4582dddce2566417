"""Word map, generated analogies and projection tables against plain computations."""

from __future__ import annotations

import itertools

import khipu.bias as kb
import khipu.core as kc
import numpy as np
import pytest


@pytest.fixture(scope="module")
def emb() -> kb.WordEmbeddings:
    rng = np.random.default_rng(0)
    words = tuple(f"w{i}" for i in range(30))
    return kb.WordEmbeddings(words, rng.normal(size=(30, 6)), name="rand").normalized()


def test_generated_analogies_match_a_loop_over_pairs(emb: kb.WordEmbeddings) -> None:
    g = np.array([1.0, 0.5, 0, 0, 0, 0]) / np.linalg.norm([1.0, 0.5])
    got = kb.generated_analogies(emb, g, delta=1.2, topn=5)
    v = emb.vectors.astype(float)
    ref = []
    for i, j in itertools.permutations(range(30), 2):
        diff = v[i] - v[j]
        dist = np.linalg.norm(diff)
        if dist <= 1.2:
            ref.append((float(diff @ g / dist), emb.words[i], emb.words[j]))
    ref.sort(reverse=True)
    assert [(a.x, a.y) for a in got] == [(x, y) for _, x, y in ref[:5]]
    np.testing.assert_allclose([a.score for a in got], [s for s, _, _ in ref[:5]], atol=1e-5)
    assert all(a.distance <= 1.2 for a in got)


def test_generated_analogies_respect_exclusions_and_limits(emb: kb.WordEmbeddings) -> None:
    g = np.eye(6)[0]
    got = kb.generated_analogies(emb, g, delta=2.0, topn=50, exclude=["w0", "w1"])
    assert not {"w0", "w1"} & {w for a in got for w in (a.x, a.y)}
    with pytest.raises(kc.KhipuError, match="delta"):
        kb.generated_analogies(emb, g, delta=3.0)


def test_word_map_is_the_pca_of_the_chosen_words(emb: kb.WordEmbeddings) -> None:
    lists = {"a": ["w1", "w2", "w3", "nope"], "b": ["w4", "w5", "w6"]}
    wm = kb.word_map(emb, lists)
    assert wm.missing == ("nope",) and wm.groups == ("a",) * 3 + ("b",) * 3
    x = emb.matrix(["w1", "w2", "w3", "w4", "w5", "w6"]).astype(float)
    x -= x.mean(0)
    cov = x.T @ x
    vals, vecs = np.linalg.eigh(cov)
    top = vecs[:, np.argsort(vals)[::-1][:2]]
    ref = x @ top
    for k in range(2):  # equal up to the sign of each component
        assert np.allclose(wm.coords[:, k], ref[:, k], atol=1e-5) or np.allclose(
            wm.coords[:, k], -ref[:, k], atol=1e-5
        )
    assert wm.explained[0] >= wm.explained[1] > 0
    with pytest.raises(kc.KhipuError, match="three"):
        kb.word_map(emb, {"a": ["w1", "w2"]})


def test_projection_table_lists_words_most_positive_first(emb: kb.WordEmbeddings) -> None:
    proj = kb.project(emb, ["w1", "w2", "w3", "w4"], np.eye(6)[0])
    lines = kb.projection_table(proj).splitlines()[1:]
    scores = [float(line.split()[1]) for line in lines]
    assert scores == sorted(scores, reverse=True) and len(lines) == 4
    assert len(kb.projection_table(proj, n=1).splitlines()) == 3


def test_word_map_figure(emb: kb.WordEmbeddings) -> None:
    fig = kb.plot_word_map(kb.word_map(emb, {"a": ["w1", "w2"], "b": ["w3", "w4"]}))
    assert len(kc.figure_png(fig)) > 5000
