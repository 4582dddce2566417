"""``khipu bias ...``: WEAT, projections, debiasing, CrowS-Pairs, analogies, phrase ranking, SEAT.

Every command writes ``config.json``, ``metrics.json`` and PNG figures into ``--out``.
Word arguments accept plain words, comma-separated lists, and ``@name`` for a named set
(an example set such as ``@professions``, or a set from ``--word-sets FILE``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from khipu.core.cli import (
    add_run_arguments,
    bounded_int,
    existing_file,
    fraction,
    positive_int,
    start_run,
)

if TYPE_CHECKING:
    from khipu.bias.embeddings import WordEmbeddings

DEFAULT_TEST = "en-gender-career"
MAX_PARTITIONS = 10_000_000  # = khipu.bias.weat.MAX_PARTITIONS (not imported: keeps --help fast)


def _utf8(text: str, what: str) -> str:
    """``text`` if it is valid UTF-8 (command-line bytes that are not become surrogates)."""
    import khipu.core as kc

    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        raise kc.KhipuError(f"{what}: {shown!r} is not valid UTF-8 text") from None
    return text


def _add_embedding_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embeddings (default: the offline CBOW word2vec, cached)")
    g.add_argument(
        "--embeddings",
        type=existing_file,
        help="word vectors file; memory: 4 bytes x vectors x dimensions (cap with --limit)",
    )
    g.add_argument(
        "--format",
        default="word2vec",
        choices=["word2vec", "word2vec-bin", "glove", "fasttext"],
        help="file format (default word2vec text)",
    )
    g.add_argument("--lowercase", action="store_true", help="lowercase vocabulary and queries")
    g.add_argument(
        "--strip-accents", action="store_true", help="strip accents (canción -> cancion)"
    )
    g.add_argument("--limit", type=positive_int, help="read only the first N vectors")
    g.add_argument(
        "--max-missing",
        type=fraction,
        default=0.2,
        help="largest fraction of a word set that may be missing (default 0.2)",
    )
    g.add_argument(
        "--word-sets",
        type=existing_file,
        help="JSON/YAML file of named word sets, usable as @name; memory grows with its words",
    )
    g.add_argument(
        "--language",
        choices=["en", "es"],
        default="en",
        help="example word sets for @name (default en)",
    )


def _embeddings(args: argparse.Namespace) -> WordEmbeddings:
    from khipu.bias.data import default_embeddings
    from khipu.bias.embeddings import load_embeddings

    if args.embeddings is None:
        return default_embeddings()
    return load_embeddings(
        args.embeddings,
        args.format,
        lowercase=args.lowercase,
        strip_accents=args.strip_accents,
        limit=args.limit,
    )


def _named_sets(args: argparse.Namespace) -> dict[str, list[str]]:
    from khipu.bias.wordsets import example_sets, load_word_sets

    sets = example_sets(getattr(args, "language", "en"))
    if getattr(args, "word_sets", None) is not None:
        sets.update(load_word_sets(args.word_sets))
    return sets


def _words(values: list[str] | None, args: argparse.Namespace, what: str) -> list[str]:
    import khipu.core as kc

    out: list[str] = []
    sets: dict[str, list[str]] | None = None
    for value in values or []:
        for item in value.split(","):
            item = _utf8(item.strip(), what)
            if not item:
                continue
            if item.startswith("@"):
                sets = sets if sets is not None else _named_sets(args)
                if item[1:] not in sets:
                    raise kc.UnknownNameError("word set", item[1:], list(sets))
                out += sets[item[1:]]
            else:
                out.append(item)
    if not out:
        raise kc.KhipuError(f"{what}: no words given")
    return out


def _metrics(out: Path, metrics: dict[str, Any]) -> None:
    import khipu.core as kc

    kc.write_metrics(out, metrics)
    for k, v in metrics.items():
        if isinstance(v, float):
            print(f"  {k}: {v:.4g}")
        elif v not in ("", None):
            print(f"  {k}: {v}")
    print(f"wrote {out}")


# --- commands ---------------------------------------------------------------------------


def _cmd_weat(args: argparse.Namespace) -> int:
    import khipu.core as kc
    from khipu.bias.plots import plot_weat
    from khipu.bias.weat import weat
    from khipu.bias.wordsets import get_test

    test = get_test(args.test)
    emb = _embeddings(args)
    result = weat(
        emb,
        test,
        max_missing=args.max_missing,
        n_permutations=args.permutations,
        exact_limit=args.exact_limit,
        seed=args.seed,
    )
    out = start_run(args, embeddings_name=emb.name)
    plot_weat(result, path=out / "weat.png")
    kc.write_json(
        out / "words.json",
        {
            "used": result.words,
            "missing": result.missing,
            "balanced_out": result.balanced_out,
            "set_names": result.set_names,
        },
    )
    print(result.summary())
    paper = {f"paper_{k}": v for k, v in test.paper.items()}
    _metrics(out, {**result.metrics(), "embeddings": emb.name, **paper})
    return 0


def _load_compare(args: argparse.Namespace) -> list[WordEmbeddings]:
    """``--embeddings`` then the ``--compare`` files (same options), with unique names.

    The ``--compare`` files are read first, so a bad one fails before the default model
    is loaded (or trained)."""
    from khipu.bias.embeddings import load_embeddings

    others = [
        load_embeddings(
            path,
            args.format,
            lowercase=args.lowercase,
            strip_accents=args.strip_accents,
            limit=args.limit,
        )
        for path in args.compare or []
    ]
    out = [_embeddings(args)]
    for emb in others:
        names = {e.name for e in out}
        if emb.name in names:
            emb = emb.with_vectors(emb.vectors, name=f"{emb.name} ({len(out) + 1})")
        out.append(emb)
    return out


def _cmd_metrics(args: argparse.Namespace) -> int:
    import khipu.core as kc
    from khipu.bias.plots import plot_metrics, plot_rank_agreement
    from khipu.bias.query import query_metrics, rank_embeddings
    from khipu.bias.wordsets import get_test

    test = get_test(args.test)
    embeddings = _load_compare(args)
    results = [
        query_metrics(
            emb,
            test,
            bootstrap=args.bootstrap,
            seed=args.seed,
            rnsb_seeds=args.rnsb_seeds,
            n_permutations=args.permutations,
            alternative="two-sided" if args.two_sided else "greater",
            max_missing=args.max_missing,
        )
        for emb in embeddings
    ]
    ranking = rank_embeddings(results) if len(results) > 1 else None
    out = start_run(args, embeddings_name=[e.name for e in embeddings])
    plot_metrics(results, path=out / "metrics.png")
    kc.write_json(
        out / "details.json",
        {
            r.embeddings: {
                "words": r.words,
                "missing": r.missing,
                "ripa_pairs": r.pairs,
                "ripa_dropped_pairs": r.dropped_pairs,
                "rnsb_per_seed": r.rnsb_per_seed.tolist(),
                **r.details,
            }
            for r in results
        },
    )
    for r in results:
        print(r.summary())
    metrics: dict[str, Any] = dict(results[0].metrics())
    if ranking is not None:
        plot_rank_agreement(ranking, path=out / "ranking.png")
        kc.write_json(
            out / "ranking.json",
            {
                "embeddings": list(ranking.embeddings),
                "metrics": list(ranking.metrics),
                "bias_scores": ranking.scores.tolist(),
                "ranks": ranking.ranks.tolist(),
                "agreement": [
                    [None if v != v else float(v) for v in row] for row in ranking.agreement
                ],
            },
        )
        for r in results[1:]:
            for k, v in r.metrics().items():
                metrics[f"{r.embeddings}: {k}"] = v
        for i, a in enumerate(ranking.metrics):
            for j, b in enumerate(ranking.metrics):
                if i < j:
                    metrics[f"rank_agreement[{a},{b}]"] = float(ranking.agreement[i, j])
        for e, row in zip(ranking.embeddings, ranking.ranks, strict=True):
            for name, rank in zip(ranking.metrics, row, strict=True):
                metrics[f"rank[{e}][{name}]"] = float(rank)
    kc.write_metrics(out, metrics)
    print(f"wrote {out}")
    return 0


def _cmd_project(args: argparse.Namespace) -> int:
    from khipu.bias.directions import bias_direction, direct_bias, project
    from khipu.bias.plots import (
        plot_explained_variance,
        plot_projection_bars,
        plot_projection_plane,
    )

    side1, side2 = _words(args.side1, args, "--side1"), _words(args.side2, args, "--side2")
    words = _words(args.words, args, "--words")
    y_sides = None
    if args.y_side1 or args.y_side2:
        y_sides = (
            _words(args.y_side1, args, "--y-side1"),
            _words(args.y_side2, args, "--y-side2"),
        )
    emb = _embeddings(args)
    direction = bias_direction(emb, side1, side2, method=args.method, max_missing=args.max_missing)
    proj = project(emb, words, direction)
    metrics: dict[str, Any] = {
        "method": args.method,
        "direct_bias": direct_bias(emb, words, direction, max_missing=None),
        "n_words": len(proj.words),
        "n_missing": len(proj.missing) + len(direction.missing),
        "missing_words": ", ".join(proj.missing + direction.missing),
        "explained_variance": direction.explained_variance,
    }
    if y_sides is not None:  # checked before the run folder is made
        y_dir = bias_direction(emb, *y_sides, method=args.method, max_missing=args.max_missing)
        proj_y = project(emb, words, y_dir)
        metrics["direct_bias_y"] = direct_bias(emb, words, y_dir, max_missing=None)
    out = start_run(args, embeddings_name=emb.name)
    plot_projection_bars(proj, n=args.top, path=out / "projection.png")
    if direction.method == "pca":
        plot_explained_variance(direction, path=out / "explained_variance.png")
    if y_sides is not None:
        plot_projection_plane(proj, proj_y, path=out / "projection_plane.png")
    for w, s in proj.ranked()[: args.top]:
        print(f"  {s:+.3f}  {w}")
    _metrics(out, metrics)
    return 0


def _cmd_debias(args: argparse.Namespace) -> int:
    import khipu.core as kc
    from khipu.bias.debias import recoverability
    from khipu.bias.debiasers import METHODS, debias
    from khipu.bias.directions import direction_pca, project
    from khipu.bias.quality import format_table, quality_table
    from khipu.bias.weat import weat
    from khipu.bias.wordsets import (
        definitional_pairs,
        equalize_pairs,
        gender_specific_words,
        get_test,
    )

    save_outside = _save_target(args)
    test = get_test(args.test)
    neutral_words = _words(args.words, args, "--words")
    emb = _embeddings(args)
    direction = direction_pca(emb, definitional_pairs(args.language), max_missing=0.5)
    keep = gender_specific_words(args.language)
    methods = list(METHODS) if "all" in args.method else list(dict.fromkeys(args.method))
    by_method = {
        name: debias(
            emb,
            name,
            pairs=definitional_pairs(args.language),
            keep=keep,
            equalize_pairs=equalize_pairs(args.language),
            neutral_words=neutral_words,
            ran_words=args.ran_words,
            seed=args.seed,
        )
        for name in methods
    }
    debiased = by_method[methods[0]]
    table = quality_table(
        emb,
        by_method,
        direction,
        test,
        [w for w in neutral_words if w not in keep],
        exclude=keep,
        n_words=args.recover_words,
        seed=args.seed,
        analogies=not args.no_analogies,
    )
    before, after = (
        weat(
            e,
            test,
            max_missing=args.max_missing,
            n_permutations=args.permutations,
            exact_limit=args.exact_limit,
            seed=args.seed,
        )
        for e in (emb, debiased)
    )
    neutral = [w for w in neutral_words if w not in keep]
    proj_before, proj_after = (
        project(emb, neutral, direction),
        project(debiased, neutral, direction),
    )
    rec = recoverability(
        emb, debiased, direction, n_words=args.recover_words, exclude=keep, seed=args.seed
    )
    out = start_run(args, embeddings_name=emb.name)
    from khipu.bias.plots import plot_explained_variance, plot_projection_bars, plot_weat

    plot_weat(before, title=f"WEAT {test.name} before debiasing", path=out / "weat_before.png")
    plot_weat(after, title=f"WEAT {test.name} after debiasing", path=out / "weat_after.png")
    plot_projection_bars(proj_before, title="before debiasing", path=out / "projection_before.png")
    plot_projection_bars(proj_after, title="after debiasing", path=out / "projection_after.png")
    plot_explained_variance(direction, path=out / "explained_variance.png")
    if save_outside is not None:
        debiased.save_word2vec(save_outside)
    elif args.save is not None:
        debiased.save_word2vec(out / Path(args.save))
    for name, vectors in by_method.items():
        vectors.save_word2vec(out / f"debiased-{name}.txt")
    kc.write_json(out / "quality.json", table)
    from khipu.bias.plots import plot_quality

    plot_quality(table, path=out / "quality.png")
    print(format_table(table))
    kc.write_json(
        out / "recoverable_words.json",
        {"first": list(rec.words_first), "second": list(rec.words_second)},
    )
    _metrics(
        out,
        {
            "test": test.name,
            "explained_variance": direction.explained_variance,
            "effect_size_before": before.effect_size,
            "effect_size_after": after.effect_size,
            "p_value_before": before.p_value,
            "p_value_after": after.p_value,
            "max_abs_projection_before": float(abs(proj_before.scores).max()),
            "max_abs_projection_after": float(abs(proj_after.scores).max()),
            "cluster_accuracy_after": rec.cluster_accuracy,
            "neighbour_agreement_after": rec.neighbour_agreement,
            "neighbour_correlation_after": rec.neighbour_correlation,
            "n_missing": before.n_missing,
            "methods": ", ".join(methods),
            **{f"{k}[{name}]": v for name, row in table.items() for k, v in row.items()},
        },
    )
    return 0


def _save_target(args: argparse.Namespace) -> Path | None:
    """The ``--save`` path when it lies outside the run folder (checked now), else ``None``.

    A relative path is relative to the run folder. A path outside it is
    never silently replaced: an existing file needs ``--replace-save``.
    """
    import khipu.core as kc

    if args.save is None:
        return None
    save = Path(args.save)
    target = save if save.is_absolute() else Path(args.out) / save
    run = Path(args.out).resolve()
    if target.resolve().is_relative_to(run):
        if target.resolve() == run or target.name in ("config.json", "metrics.json"):
            raise kc.KhipuError(f"--save {save}: choose another file name")
        return None
    save = target.resolve()
    if save.is_dir():
        raise kc.KhipuError(f"--save {save} is a folder; name a file")
    if not save.parent.is_dir():
        raise kc.KhipuError(f"--save {save}: folder {save.parent} does not exist")
    if save.exists() and not args.replace_save:
        raise kc.KhipuError(
            f"--save {save} already exists; pass --replace-save to replace it, or choose "
            "another file"
        )
    return save


def _cmd_pairs(args: argparse.Namespace) -> int:
    import khipu.core as kc
    from khipu.bias.lm import builtin_pairs, compare_pairs, get_scorer, load_pairs
    from khipu.bias.plots import plot_pairs

    pairs = load_pairs(args.pairs) if args.pairs is not None else builtin_pairs(args.language)
    scorer = get_scorer(args.scorer)
    result = compare_pairs(scorer, pairs)
    out = start_run(args, n_pairs=len(pairs))
    plot_pairs(result, path=out / "pairs.png")
    kc.write_json(
        out / "pair_scores.json",
        [
            {
                "stereotypical": s.pair.stereotypical,
                "anti_stereotypical": s.pair.anti_stereotypical,
                "bias_type": s.pair.bias_type,
                "direction": s.pair.direction,
                "stereo_score": s.stereo_score,
                "anti_score": s.anti_score,
                "n_tokens": s.n_tokens,
            }
            for s in result.scores
        ],
    )
    _metrics(out, result.metrics())
    return 0


def _cmd_rank(args: argparse.Namespace) -> int:
    import khipu.core as kc
    from khipu.bias.lm import get_scorer, rank_fillers

    template = _utf8(args.template, "--template")
    candidates = _words(args.candidates, args, "--candidates")
    scorer = get_scorer(args.scorer)
    ranked = rank_fillers(scorer, template, candidates)
    out = start_run(args)
    kc.write_json(out / "ranking.json", [r.__dict__ for r in ranked])
    for r in ranked:
        flag = f"  ({r.n_unscored} unscored tokens)" if r.n_unscored else ""
        print(f"  {r.score:9.3f}  {r.sentence}{flag}")
    _metrics(out, {"scorer": scorer.name, "best": ranked[0].candidate, "n_candidates": len(ranked)})
    return 0


def _cmd_analogies(args: argparse.Namespace) -> int:
    import khipu.core as kc
    from khipu.bias.analogies import analogy, check_questions, evaluate_analogies
    from khipu.bias.data import gensim_datapath

    check_questions(args.questions or gensim_datapath("questions-words.txt"))
    emb = _embeddings(args)
    answers: dict[str, Any] = {}
    for q in args.query or []:
        q = _utf8(q, "--query")
        parts = [p for p in q.replace("::", ":").split(":") if p]
        if len(parts) != 3:
            raise kc.KhipuError(f"an analogy query is a:b:c (a is to b as c is to ?), got {q!r}")
        top = analogy(
            emb, *parts, method=args.method, topn=args.top, exclude_inputs=not args.include_inputs
        )
        answers[q] = top
        print(
            f"  {parts[0]} : {parts[1]} :: {parts[2]} : "
            + ", ".join(f"{w} ({s:.2f})" for w, s in top)
        )
    evaluation = evaluate_analogies(emb, args.questions)
    out = start_run(args, embeddings_name=emb.name)
    kc.write_json(out / "analogies.json", {"answers": answers, "sections": evaluation.sections})
    metrics: dict[str, Any] = {
        "accuracy": evaluation.accuracy,
        "n_questions": evaluation.n_questions,
    }
    for q, top in answers.items():
        metrics[f"answer[{q}]"] = top[0][0] if top else ""
    _metrics(out, metrics)
    return 0


def _cmd_seat(args: argparse.Namespace) -> int:
    from khipu.bias.sentences import DEFAULT_TEMPLATES, MeanWordVectorEncoder, seat
    from khipu.bias.wordsets import get_test

    templates = [_utf8(t, "--template") for t in args.template or DEFAULT_TEMPLATES]
    test = get_test(args.test)
    emb = _embeddings(args)
    result = seat(
        MeanWordVectorEncoder(emb),
        test,
        templates=templates,
        embeddings=emb,
        max_missing=args.max_missing,
        n_permutations=args.permutations,
        seed=args.seed,
    )
    out = start_run(args, embeddings_name=emb.name)
    _metrics(out, result.metrics())
    return 0


# --- registration -------------------------------------------------------------------------


def _add_permutation_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--permutations",
        type=bounded_int(1, MAX_PARTITIONS),
        default=100_000,
        help="sampled partitions when the exact test is too large (default 1e5, at most 1e7)",
    )
    p.add_argument(
        "--exact-limit",
        type=bounded_int(0, MAX_PARTITIONS),
        default=100_000,
        help="enumerate every partition up to this many (default 1e5, at most 1e7)",
    )


def register(parser: argparse.ArgumentParser) -> None:
    """Adds the ``khipu bias`` subcommands."""
    sub = parser.add_subparsers(title="commands", metavar="<command>")

    p = sub.add_parser(
        "weat",
        help="Word Embedding Association Test (Caliskan et al. 2017)",
        description="WEAT effect size (ddof=1), statistic and permutation "
        "p-value; missing words are reported by name.",
    )
    p.add_argument(
        "--test",
        default=DEFAULT_TEST,
        help=f"caliskan-t1..caliskan-t10, en-gender-career, en-gender-science, "
        f"es-genero-carrera..., or a JSON/YAML file (default {DEFAULT_TEST})",
    )
    _add_permutation_arguments(p)
    _add_embedding_arguments(p)
    add_run_arguments(p, resume=False)
    p.set_defaults(func=_cmd_weat)

    p = sub.add_parser(
        "metrics",
        help="every metric (WEAT, RND, RNSB, MAC, ECT, RIPA) with bootstrap intervals",
        description="WEAT, RND (Euclidean, cosine), RNSB, MAC, ECT and RIPA on one query, "
        "each with a seeded bootstrap interval (words resampled within each set), WEAT's "
        "permutation p-value and the missing words; --compare ranks several embeddings by "
        "each metric and shows how the rankings agree.",
    )
    p.add_argument(
        "--test",
        default=DEFAULT_TEST,
        help=f"a built-in WEAT test or a JSON/YAML file (default {DEFAULT_TEST})",
    )
    p.add_argument(
        "--compare",
        nargs="+",
        type=existing_file,
        help="more embedding files (same --format) to rank against --embeddings; memory: "
        "each file's vectors x dimensions x 4 bytes, one file at a time",
    )
    p.add_argument(
        "--bootstrap",
        type=bounded_int(1, 100_000),
        default=1000,
        help="bootstrap resamples per interval (default 1000)",
    )
    p.add_argument(
        "--rnsb-seeds",
        type=bounded_int(1, 1000),
        default=10,
        help="RNSB classifiers, reported as mean and spread (default 10)",
    )
    p.add_argument(
        "--two-sided", action="store_true", help="two-sided WEAT p-value (default one-sided)"
    )
    p.add_argument(
        "--permutations",
        type=bounded_int(1, MAX_PARTITIONS),
        default=100_000,
        help="sampled partitions when the exact test is too large (default 1e5, at most 1e7)",
    )
    _add_embedding_arguments(p)
    add_run_arguments(p, resume=False)
    p.set_defaults(func=_cmd_metrics)

    p = sub.add_parser("project", help="project words on a bias direction (EDIA's views)")
    p.add_argument(
        "--side1", nargs="+", required=True, help="words of the first side (e.g. @female)"
    )
    p.add_argument(
        "--side2", nargs="+", required=True, help="words of the second side (e.g. @male)"
    )
    p.add_argument(
        "--words",
        nargs="+",
        default=["@professions"],
        help="words to project (default @professions)",
    )
    p.add_argument(
        "--method",
        choices=["sum", "pair", "pca"],
        default="sum",
        help="how to find the direction (default sum, EDIA's)",
    )
    p.add_argument("--y-side1", nargs="+", help="first side of a second direction (4-space view)")
    p.add_argument("--y-side2", nargs="+", help="second side of a second direction")
    p.add_argument("--top", type=positive_int, default=10, help="words shown at each end")
    _add_embedding_arguments(p)
    add_run_arguments(p, resume=False)
    p.set_defaults(func=_cmd_project)

    p = sub.add_parser("debias", help="hard debiasing: WEAT before/after and recoverability")
    p.add_argument("--test", default=DEFAULT_TEST, help=f"WEAT test (default {DEFAULT_TEST})")
    p.add_argument(
        "--words",
        nargs="+",
        default=["@professions"],
        help="neutral words to show before/after (default @professions)",
    )
    p.add_argument(
        "--recover-words",
        type=positive_int,
        default=250,
        help="most biased words per side for the recoverability check",
    )
    p.add_argument(
        "--method",
        nargs="+",
        choices=["hard", "multiclass", "double-hard", "hsr", "ran", "all"],
        default=["hard"],
        help="debiasing method(s): hard (Bolukbasi), multiclass (Manzini), double-hard "
        "(Wang), hsr (Yang & Feng), ran (Kumar), or all; each writes debiased-<method>.txt "
        "and a row of the before/after quality table (default hard)",
    )
    p.add_argument(
        "--ran-words",
        type=bounded_int(1, 1_000_000),
        default=2000,
        help="RAN debiases this many of the most biased words (+ --words; default 2000)",
    )
    p.add_argument(
        "--no-analogies",
        action="store_true",
        help="leave the (slow) analogy benchmark out of the quality table",
    )
    p.add_argument(
        "--save",
        type=Path,
        help="also write the first method's debiased vectors (word2vec text); a relative "
        "name goes into --out",
    )
    p.add_argument(
        "--replace-save",
        action="store_true",
        help="allow --save to replace an existing file outside --out",
    )
    _add_permutation_arguments(p)
    _add_embedding_arguments(p)
    add_run_arguments(p, resume=False)
    p.set_defaults(func=_cmd_debias)

    p = sub.add_parser("pairs", help="CrowS-Pairs: does the model prefer stereotypes?")
    p.add_argument(
        "--pairs",
        type=existing_file,
        help="CSV with sent_more, sent_less, stereo_antistereo, bias_type "
        "(default: the built-in examples); memory grows with its rows",
    )
    p.add_argument(
        "--scorer",
        default="word2vec",
        help="word2vec (offline default) or hf:<model name or folder>",
    )
    p.add_argument(
        "--language", choices=["en", "es"], default="en", help="built-in example pairs (default en)"
    )
    add_run_arguments(p, resume=False)
    p.set_defaults(func=_cmd_pairs)

    p = sub.add_parser("rank", help="EDIA phrase bias: rank fillers of a '*' by likelihood")
    p.add_argument(
        "--template", required=True, help="sentence with one '*', e.g. 'The * is a nurse.'"
    )
    p.add_argument("--candidates", nargs="+", required=True, help="words to put in the blank")
    p.add_argument("--scorer", default="word2vec", help="word2vec or hf:<model>")
    p.add_argument("--language", choices=["en", "es"], default="en", help=argparse.SUPPRESS)
    add_run_arguments(p, resume=False)
    p.set_defaults(func=_cmd_rank)

    p = sub.add_parser("analogies", help="analogies (3CosAdd / 3CosMul) and gensim's benchmark")
    p.add_argument("--query", nargs="+", help="a:b:c queries (a is to b as c is to ?)")
    p.add_argument("--method", choices=["3cosadd", "3cosmul"], default="3cosadd")
    p.add_argument("--top", type=positive_int, default=5, help="answers per query")
    p.add_argument(
        "--include-inputs",
        action="store_true",
        help="allow a, b, c as answers (shows how exclusion shapes 'biased' analogies)",
    )
    p.add_argument(
        "--questions",
        type=existing_file,
        help="analogy questions file (default gensim's questions-words.txt); memory grows "
        "with its questions (four words each)",
    )
    _add_embedding_arguments(p)
    add_run_arguments(p, resume=False)
    p.set_defaults(func=_cmd_analogies)

    p = sub.add_parser("seat", help="sentence-level WEAT over templates (SEAT)")
    p.add_argument("--test", default=DEFAULT_TEST, help=f"WEAT test (default {DEFAULT_TEST})")
    p.add_argument("--template", nargs="+", help="templates with one {} slot")
    _add_permutation_arguments(p)
    _add_embedding_arguments(p)
    add_run_arguments(p, resume=False)
    p.set_defaults(func=_cmd_seat)
