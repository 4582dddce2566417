"""The practical's pictures (matplotlib figures without pyplot; saved as PNG when given a path).

* :func:`plot_projection_bars`: EDIA's 2-space view -- the words most extreme at each end of
  one direction.
* :func:`plot_projection_plane`: EDIA's 4-space view -- two directions at once, read by
  quadrants (intersectional questions: gender x class, gender x age...).
* :func:`plot_weat`: per target word, the cosines with A and with B (their mean difference is
  s(w, A, B)), and the permutation null distribution against the observed statistic.
* :func:`plot_explained_variance`: PCA over definitional pairs.
* :func:`plot_pairs`: CrowS-Pairs share per bias type against the 50 % line.
* :func:`plot_metrics`: every metric of :mod:`khipu.bias.query` with its bootstrap interval,
  one panel per metric, one row per embedding.
* :func:`plot_rank_agreement`: embeddings ranked by each metric, and the rankings' agreement.
* :func:`plot_word_map`: EDIA's 2-D PCA word map.
* :func:`plot_quality`: the before/after debiasing table.
* :func:`plot_sweep`: WEAT effect sizes against a setting (e.g. the stereotype rate of the
  generated Spanish corpus), one point per seed.

Every function returns its :class:`~matplotlib.figure.Figure`; in a notebook leave it as the
cell's last expression (or call ``khipu.core.show(fig)``) and it is displayed as a PNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import khipu.core as kc
import numpy as np
from khipu.bias.directions import BiasDirection, Projection
from khipu.bias.explore import WordMap
from khipu.bias.lm import PairsResult
from khipu.bias.query import QueryMetrics, Ranking
from khipu.bias.weat import WeatResult
from matplotlib.figure import Figure

__all__ = [
    "plot_explained_variance",
    "plot_metrics",
    "plot_pairs",
    "plot_projection_bars",
    "plot_projection_plane",
    "plot_rank_agreement",
    "plot_sweep",
    "plot_weat",
]

_FIRST, _SECOND = "tab:orange", "tab:blue"


def _done(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        kc.save_figure(fig, path)
    return fig


def plot_projection_bars(
    projection: Projection,
    *,
    n: int = 10,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Horizontal bars of the ``n`` most positive and ``n`` most negative words."""
    ranked = projection.ranked()
    if len(ranked) > 2 * n:
        ranked = ranked[:n] + ranked[-n:]
    words = [w for w, _ in ranked][::-1]
    scores = np.array([s for _, s in ranked])[::-1]
    fig = kc.new_figure(6.0, max(2.5, 0.28 * len(words) + 1.0))
    ax = fig.add_subplot()
    ax.barh(words, scores, color=[_FIRST if s > 0 else _SECOND for s in scores])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(
        f"cosine with the direction   ({projection.label})"
        if projection.label
        else "cosine with the direction"
    )
    ax.set_title(title or "Words along the bias direction")
    if projection.missing:
        fig.text(
            0.01,
            0.005,
            "missing: "
            + ", ".join(projection.missing[:15])
            + (" ..." if len(projection.missing) > 15 else ""),
            fontsize=7,
            color="gray",
        )
    return _done(fig, path)


def plot_projection_plane(
    x: Projection,
    y: Projection,
    *,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Each word at (cos with direction x, cos with direction y), with quadrant lines."""
    ys = y.as_dict()
    words = [w for w in x.words if w in ys]
    px = np.array([x.as_dict()[w] for w in words])
    py = np.array([ys[w] for w in words])
    fig = kc.new_figure(6.5, 6.0)
    ax = fig.add_subplot()
    ax.axhline(0, color="gray", lw=0.8)
    ax.axvline(0, color="gray", lw=0.8)
    ax.scatter(px, py, s=14, color="tab:purple")
    for w, a, b in zip(words, px, py, strict=True):
        ax.annotate(w, (a, b), fontsize=8, xytext=(3, 2), textcoords="offset points")
    lim_x = max(1e-3, float(np.abs(px).max(initial=0))) * 1.25
    lim_y = max(1e-3, float(np.abs(py).max(initial=0))) * 1.25
    ax.set_xlim(-lim_x, lim_x)
    ax.set_ylim(-lim_y, lim_y)
    ax.set_xlabel(x.label or "direction 1")
    ax.set_ylabel(y.label or "direction 2")
    ax.set_title(title or "Two bias directions: read the quadrants")
    return _done(fig, path)


def plot_weat(
    result: WeatResult, *, title: str | None = None, path: str | Path | None = None
) -> Figure:
    """Left: for every target word, its cosines with A and with B. Right: the null
    distribution of the statistic and the observed value."""
    names = result.set_names
    words = result.words["X"] + result.words["Y"]
    cos_a = list(result.cos_xa) + list(result.cos_ya)
    cos_b = list(result.cos_xb) + list(result.cos_yb)
    fig = kc.new_figure(11.0, max(3.5, 0.3 * len(words) + 1.2))
    ax, ax2 = fig.subplots(1, 2, width_ratios=[1.4, 1])
    for i, (ca, cb) in enumerate(zip(cos_a, cos_b, strict=True)):
        ax.scatter(
            ca,
            np.full(len(ca), i - 0.12),
            s=8,
            color=_FIRST,
            alpha=0.6,
            label=names["A"] if i == 0 else None,
        )
        ax.scatter(
            cb,
            np.full(len(cb), i + 0.12),
            s=8,
            color=_SECOND,
            alpha=0.6,
            label=names["B"] if i == 0 else None,
        )
        ax.plot([ca.mean(), cb.mean()], [i, i], color="black", lw=1)
    ax.set_yticks(range(len(words)), [f"{w}" for w in words], fontsize=7)
    ax.axhline(len(result.words["X"]) - 0.5, color="gray", lw=0.8, ls="--")
    ax.invert_yaxis()
    ax.set_xlabel("cosine similarity (black bar: mean difference = s(w, A, B))")
    ax.set_title(f"{names['X']} (top) vs {names['Y']} (bottom)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax2.hist(result.null, bins=50, color="lightgray", edgecolor="gray")
    ax2.axvline(result.statistic, color="tab:red", lw=2, label="observed")
    kind = "exact" if result.exact else f"{result.n_permutations} permutations"
    ax2.set_title(f"d = {result.effect_size:.2f}, p = {result.p_value:.3g} ({kind})", fontsize=9)
    ax2.set_xlabel("test statistic over partitions")
    ax2.legend(fontsize=7)
    fig.suptitle(
        title
        or f"WEAT {result.test}"
        + (f"  ({result.n_missing} missing words)" if result.n_missing else "")
    )
    return _done(fig, path)


def plot_explained_variance(
    direction: BiasDirection,
    *,
    n: int = 10,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Bars of the explained variance ratio of the first ``n`` principal components."""
    evr = direction.explained_variance_ratio[:n]
    if len(evr) == 0:
        raise kc.KhipuError("this direction was not found by PCA: no explained variance")
    fig = kc.new_figure(5.5, 3.5)
    ax = fig.add_subplot()
    bars = ax.bar(np.arange(1, len(evr) + 1), evr, color="tab:green")
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in evr], fontsize=7)
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio")
    ax.set_xticks(np.arange(1, len(evr) + 1))
    ax.set_title(title or f"PCA over {len(direction.first)} definitional pairs")
    return _done(fig, path)


def plot_pairs(
    result: PairsResult, *, title: str | None = None, path: str | Path | None = None
) -> Figure:
    """Share of pairs where the model prefers the stereotypical sentence, per bias type."""
    kinds = list(result.by_type)
    shares = [100 * result.by_type[k][0] for k in kinds] + [100 * result.share]
    counts = [result.by_type[k][1] for k in kinds] + [len(result.scores)]
    labels = [*kinds, "all"]
    fig = kc.new_figure(max(5.0, 0.8 * len(labels) + 2), 3.8)
    ax = fig.add_subplot()
    bars = ax.bar(labels, shares, color=["tab:blue"] * len(kinds) + ["black"])
    ax.bar_label(
        bars, labels=[f"{s:.0f}% (n={c})" for s, c in zip(shares, counts, strict=True)], fontsize=7
    )
    ax.axhline(50, color="tab:red", ls="--", lw=1, label="no preference (50 %)")
    ax.set_ylim(0, 105)
    ax.set_ylabel("% pairs: stereotypical preferred")
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(fontsize=7)
    ax.set_title(title or f"CrowS-Pairs metric, scorer {result.scorer}")
    return _done(fig, path)


def plot_sweep(
    settings: Sequence[float],
    effect_sizes: Mapping[str, np.ndarray],
    *,
    xlabel: str = "setting",
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """WEAT effect sizes against a setting: one dot per seed, a line through the means.

    Args:
      settings: the ``R`` values of the setting (x axis).
      effect_sizes: per test name, effect sizes ``[R, S]`` (``S`` seeds; NaN allowed).
      xlabel: the setting's name.
      title: the figure's title.
      path: where to save a PNG.
    """
    x = np.asarray(settings, dtype=float)
    fig = kc.new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    colors = ("tab:purple", "tab:green", "tab:orange", "tab:blue")
    for k, (name, values) in enumerate(effect_sizes.items()):
        d = np.asarray(values, dtype=float).reshape(len(x), -1)
        color = colors[k % len(colors)]
        for j in range(d.shape[1]):
            ax.scatter(x, d[:, j], s=18, color=color, alpha=0.6)
        ax.plot(x, np.nanmean(d, axis=1), color=color, label=name)
    ax.axhline(0, color="gray", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("WEAT effect size d")
    ax.legend(fontsize=8)
    ax.set_title(title or "Effect size against the setting (dots: seeds)")
    return _done(fig, path)


def plot_metrics(
    results: Sequence[QueryMetrics], *, title: str | None = None, path: str | Path | None = None
) -> Figure:
    """One panel per metric: each embedding's value with its bootstrap interval.

    The metrics live on different scales (an effect size, distances, a KL divergence, a
    rank correlation), so each gets its own axis; the dotted line is each metric's
    "no bias" value (0, or 1 for ECT; MAC has none: it is a distance).
    """
    from khipu.bias.query import METRICS

    names = list(METRICS)
    cols = 4
    rows = -(-len(names) // cols)
    fig = kc.new_figure(3.0 * cols, 1.0 + 0.35 * len(results) * rows + 1.4 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    labels = [r.embeddings for r in results]
    for ax, name in zip(axes, names, strict=False):
        for i, r in enumerate(results):
            ci = r.values[name]
            low, high = ci.value - ci.low, ci.high - ci.value
            ax.errorbar(
                [ci.value],
                [i],
                xerr=[[max(low, 0.0)], [max(high, 0.0)]] if np.isfinite(ci.low) else None,
                fmt="o",
                color=f"C{i}",
                capsize=3,
            )
        reference = {"ect": 1.0, "mac": None}.get(name, 0.0)
        if reference is not None:
            ax.axvline(reference, color="gray", ls=":", lw=1)
        ax.set_yticks(range(len(results)), labels if ax is axes[0] or len(results) > 1 else [""])
        ax.tick_params(axis="y", labelsize=7)
        ax.invert_yaxis()
        ax.set_title(name, fontsize=9)
    for ax in axes[len(names) :]:
        ax.axis("off")
    level = results[0].values[names[0]].level
    fig.suptitle(
        title or f"{results[0].test}: every metric with its {level:.0%} bootstrap interval"
    )
    return _done(fig, path)


def plot_rank_agreement(
    ranking: Ranking, *, title: str | None = None, path: str | Path | None = None
) -> Figure:
    """Left: each embedding's rank under each metric (1 = most biased). Right: Spearman's
    rho between the metrics' rankings (do they agree which embedding is most biased?)."""
    fig = kc.new_figure(12.0, 1.5 + 0.45 * max(len(ranking.embeddings), len(ranking.metrics)))
    ax, ax2 = fig.subplots(1, 2)
    im = ax.imshow(ranking.ranks, cmap="Oranges_r", aspect="auto")
    ax.set_xticks(range(len(ranking.metrics)), ranking.metrics, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(ranking.embeddings)), ranking.embeddings, fontsize=7)
    for (i, j), v in np.ndenumerate(ranking.ranks):
        ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label="rank (1 = most biased)")
    im2 = ax2.imshow(ranking.agreement, cmap="RdBu", vmin=-1, vmax=1)
    ax2.set_xticks(
        range(len(ranking.metrics)), ranking.metrics, rotation=45, ha="right", fontsize=7
    )
    ax2.set_yticks(range(len(ranking.metrics)), ranking.metrics, fontsize=7)
    for (i, j), v in np.ndenumerate(ranking.agreement):
        ax2.text(
            j, i, "-" if not np.isfinite(v) else f"{v:.2f}", ha="center", va="center", fontsize=7
        )
    fig.colorbar(im2, ax=ax2, label="Spearman rho between rankings")
    fig.suptitle(title or "Rankings of the embeddings by each metric, and how they agree")
    return _done(fig, path)


def plot_quality(
    table: Mapping[str, Mapping[str, float]],
    *,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """The before/after table of :func:`khipu.bias.quality.quality_table` as bars: one
    panel per number (quality on top, remaining bias below), one bar per embedding."""
    rows = list(table)
    columns = list(next(iter(table.values())))
    cols = 4
    n_rows = -(-len(columns) // cols)
    fig = kc.new_figure(3.2 * cols, 2.8 * n_rows + 0.8)
    axes = fig.subplots(n_rows, cols, squeeze=False).ravel()
    for ax, col in zip(axes, columns, strict=False):
        values = [table[r][col] for r in rows]
        ax.bar(range(len(rows)), values, color=[f"C{i}" for i in range(len(rows))])
        ax.set_xticks(range(len(rows)), rows, rotation=45, ha="right", fontsize=7)
        ax.set_title(col, fontsize=9)
        ax.axhline(0, color="black", lw=0.6)
        if col in ("recoverability", "cluster_accuracy"):
            ax.axhline(0.5, color="gray", ls=":", lw=1)
            ax.set_ylim(0, 1.05)
    for ax in axes[len(columns) :]:
        ax.axis("off")
    fig.suptitle(title or "Before and after debiasing: quality kept, bias left (0.5 = chance)")
    return _done(fig, path)


def plot_word_map(
    word_map: WordMap, *, title: str | None = None, path: str | Path | None = None
) -> Figure:
    """EDIA's word map: the chosen words in the plane of their two principal components,
    coloured by list."""
    fig = kc.new_figure(7.0, 5.5)
    ax = fig.add_subplot()
    names = list(dict.fromkeys(word_map.groups))
    for i, name in enumerate(names):
        rows = [j for j, gname in enumerate(word_map.groups) if gname == name]
        ax.scatter(word_map.coords[rows, 0], word_map.coords[rows, 1], color=f"C{i}", label=name)
        for j in rows:
            ax.annotate(
                word_map.words[j],
                word_map.coords[j],
                fontsize=7,
                xytext=(2, 2),
                textcoords="offset points",
            )
    ev = word_map.explained
    ax.set_xlabel(f"PC1 ({ev[0]:.0%} of the variance)")
    ax.set_ylabel(f"PC2 ({ev[1]:.0%})")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.legend(fontsize=8)
    ax.set_title(title or "Word map: PCA of the chosen words")
    return _done(fig, path)
