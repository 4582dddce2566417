"""``khipu gnn ...``: train a task (karate, ratings, graphs, links) into a run folder.

Heavy modules (JAX, Haiku, networkx) are imported inside the command function so that
``khipu --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from khipu.core.cli import (
    add_run_arguments,
    existing_dir,
    non_negative_int,
    positive_float,
    positive_int,
    start_run,
)

TASKS = ("karate", "ratings", "graphs", "links")
WHOLE_GRAPH_TASKS = ("karate", "links")  # one graph per step: one device, one process


def register(parser: argparse.ArgumentParser) -> None:
    """Adds the ``train`` subcommand."""
    sub = parser.add_subparsers(title="commands", metavar="<command>")
    train = sub.add_parser(
        "train",
        help="train a GNN on a task; metrics.json, learning curves and task figures",
        description="Trains a graph model: karate (node classification, gcn|gat|graphnet), "
        "ratings (collaborative filtering, filter|gnn), graphs (graph classification, "
        "graphnet|gcn), links (link prediction, gcn|gat|graphnet). Writes config.json, "
        "metrics.json, history.json, learning_curves.png, the task's figures and "
        "checkpoints/last.npz (for --resume).",
    )
    add_run_arguments(train, distributed=True)
    train.add_argument("--task", choices=TASKS, default="karate", help="default karate")
    train.add_argument("--model", default=None, help="default: the task's first model")
    train.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="epochs (full-graph steps for karate/links); default per task: "
        "karate 20, links 100, ratings 20, graphs 30",
    )
    train.add_argument("--learning-rate", type=positive_float, default=None, help="Adam step")
    train.add_argument(
        "--data-seed", type=non_negative_int, default=0, help="seed of the data and splits (0)"
    )
    train.add_argument(
        "--edges",
        type=Path,
        default=None,
        help="links: UTF-8 edge-list file of 'u v' lines, ids any non-negative integers "
        "(renumbered 0..N-1, N = distinct ids). Memory: about 100 bytes per edge while "
        "reading, then 8*N*N bytes of one-hot node features (refused above --max-dense-mib)",
    )
    train.add_argument(
        "--ratings",
        type=Path,
        default=None,
        help="ratings: UTF-8 file of 'user item rating' lines (U users, P items). Memory: the "
        "graph filter is dense, about 32*U*P + 48*P*P bytes (refused above --max-dense-mib)",
    )
    train.add_argument(
        "--movielens", action="store_true", help="ratings: MovieLens-100k via tensorflow-datasets"
    )
    train.add_argument(
        "--data-dir",
        type=existing_dir,
        default=None,
        help="tfds data folder; memory: MovieLens-100k is 943 users x 1682 items, about "
        "0.2 GiB of dense arrays",
    )
    train.add_argument(
        "--tu-dir",
        type=Path,
        default=None,
        help="graphs: folder of a TU-format dataset (UTF-8 NAME_A.txt, NAME_graph_indicator.txt, "
        "NAME_graph_labels.txt, optional NAME_node_labels.txt). Memory grows linearly with "
        "its nodes and edges; a batch is padded to the nodes and edges of its largest graphs",
    )
    train.add_argument(
        "--max-dense-mib",
        type=positive_int,
        default=1024,
        help="refuse a dense array estimate above this many MiB (default 1024): the ratings "
        "matrix and item-item graph, the one-hot node features of --edges",
    )
    train.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    """``khipu gnn train``."""
    from khipu.gnn.runs import DEFAULT_EPOCHS, DEFAULT_LEARNING_RATE, prepare_task, run_task
    from khipu.gnn.train import check_whole_graph_run

    if args.task in WHOLE_GRAPH_TASKS:
        check_whole_graph_run(f"--task {args.task}")
    prepared = prepare_task(
        args.task,
        args.model,
        data_seed=args.data_seed,
        edges_file=args.edges,
        ratings_file=args.ratings,
        tu_dir=args.tu_dir,
        movielens=args.movielens,
        data_dir=args.data_dir,
        max_dense_bytes=args.max_dense_mib * 2**20,
    )
    # config.json records the values the run uses, never null for "the task's default"
    args.model = prepared.model
    args.epochs = args.epochs or DEFAULT_EPOCHS[args.task]
    args.learning_rate = args.learning_rate or DEFAULT_LEARNING_RATE[args.task]
    out = start_run(
        args, resume_may_differ=("epochs", "no_progress"), resolved_model=prepared.model
    )
    metrics = run_task(
        out,
        prepared,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        seed=args.seed,
        data_seed=args.data_seed,
        resume=args.resume,
        progress=not args.no_progress,
    )
    shown = [
        f"{k} {metrics[k]:.4f}"
        for k in ("accuracy", "roc_auc", "test_rmse", "item_mean_rmse", "user_mean_rmse")
        if k in metrics
    ]
    print(f"{args.task} / {prepared.model}: {', '.join(shown)}; {metrics['epochs_run']} epochs")
    print(f"wrote {out}")
    return 0
