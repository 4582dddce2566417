"""One complete run of a task into a run folder (what ``khipu gnn train`` does).

:func:`prepare_task` loads and validates everything (before the run folder exists);
:func:`run_task` trains, evaluates and writes ``metrics.json``, ``history.json`` and figures.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import khipu.core as kc
import numpy as np
from khipu.gnn import classify, links, nodes, ratings
from khipu.gnn.graphs import compact_node_ids, from_edge_list
from khipu.gnn.plots import (
    draw_graph,
    plot_graph_examples,
    plot_node_predictions,
    plot_roc,
    plot_similarity,
)

TASK_MODELS: dict[str, tuple[str, ...]] = {
    "karate": ("gcn", "gat", "graphnet"),
    "links": ("gcn", "gat", "graphnet"),
    "ratings": ("filter", "gnn"),
    "graphs": ("graphnet", "gcn"),
}
DEFAULT_EPOCHS = {"karate": 20, "links": 100, "ratings": 20, "graphs": 30}
DEFAULT_LEARNING_RATE = {"karate": 0.01, "links": 0.01, "ratings": 0.003, "graphs": 0.003}
MAX_FILE_BYTES = 200_000_000
MAX_DENSE_BYTES = 1 << 30  # default of --max-dense-mib (1024)


class PreparedTask(NamedTuple):
    """A validated task: its name, model and loaded data."""

    task: str
    model: str
    data: Any
    source: str


def check_task_model(task: str, model: str | None) -> str:
    """The model to use (the task's first when ``None``); raises on unknown names."""
    if task not in TASK_MODELS:
        raise kc.UnknownNameError("task", task, tuple(TASK_MODELS))
    allowed = TASK_MODELS[task]
    if model is None:
        return allowed[0]
    if model not in allowed:
        raise kc.KhipuError(
            f"model {model!r} does not fit task {task!r}; available: {', '.join(allowed)}"
        )
    return model


TABLE_CHUNK = 100_000
MAX_EXACT_ID = 2**53  # ids are read as float64: integers above this are not exact


def _read_table(path: Path, columns: int, what: str) -> np.ndarray:
    """``[rows, columns]`` float64 of a text file of numbers (``#`` comments, ``,`` or
    whitespace separated). Memory: the file's bytes once, then 8 bytes per value."""
    chunks: list[np.ndarray] = []
    rows: list[list[float]] = []
    for lineno, line in kc.read_lines(path, what=what, max_bytes=MAX_FILE_BYTES):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.replace(",", " ").split()
        if len(parts) != columns:
            raise kc.KhipuError(
                f"{path.name} line {lineno}: expected {columns} values, got {len(parts)}"
            )
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise kc.KhipuError(f"{path.name} line {lineno}: not a number: {text!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise kc.KhipuError(f"{path.name} line {lineno}: not a finite number: {text!r}")
        rows.append(values)
        if len(rows) == TABLE_CHUNK:
            chunks.append(np.array(rows, np.float64))
            rows = []
    if rows:
        chunks.append(np.array(rows, np.float64))
    if not chunks:
        raise kc.KhipuError(f"{what} file {path} is empty")
    return np.concatenate(chunks)


def _check_ids(values: np.ndarray, path: Path, what: str) -> None:
    if (values != np.round(values)).any() or (values < 0).any():
        raise kc.KhipuError(f"{path.name}: {what} must be non-negative integers")
    if len(values) and values.max() >= MAX_EXACT_ID:
        raise kc.KhipuError(
            f"{path.name}: {what} must be below 2**53 (exact in float64), got {values.max():.0f}"
        )


def read_edge_list(path: str | Path) -> np.ndarray:
    """``[E, 2]`` int node pairs from a text file of ``u v`` (or ``u,v``) lines, ids >= 0.

    The ids are returned as written; :func:`khipu.gnn.graphs.compact_node_ids` renumbers
    them ``0..N-1``. Memory: the file's bytes, then 16 bytes per edge.
    """
    table = _read_table(Path(path), 2, "edge list")
    _check_ids(table, Path(path), "node ids")
    return table.astype(np.int64)


def read_ratings_file(path: str | Path, *, max_dense_bytes: int = MAX_DENSE_BYTES) -> np.ndarray:
    """A ``[users, items]`` matrix from ``user item rating`` lines.

    User and item ids are any integers, renumbered in sorted order. The matrix and the
    item-item graph built from it are dense: the estimate of
    :func:`khipu.gnn.ratings.dense_bytes` is checked against ``max_dense_bytes`` before
    anything of that size is allocated.

    Raises:
      KhipuError: a malformed or non-text file, ratings out of range, ids that are not
        integers, or a problem too large for ``max_dense_bytes``.
    """
    path = Path(path)
    table = _read_table(path, 3, "ratings")
    for col, name in ((0, "user ids"), (1, "item ids")):
        if (table[:, col] != np.round(table[:, col])).any():
            raise kc.KhipuError(f"{path.name}: {name} must be integers")
    users, user_idx = np.unique(table[:, 0], return_inverse=True)
    items, item_idx = np.unique(table[:, 1], return_inverse=True)
    values = table[:, 2]
    bad = ~((values >= ratings.MIN_RATING) & (values <= ratings.MAX_RATING))
    if bad.any():
        i = int(np.argmax(bad))
        raise kc.KhipuError(
            f"{path.name}: rating out of range on entry {i + 1}: {values[i]:g} "
            f"(ratings are {ratings.MIN_RATING:g}..{ratings.MAX_RATING:g})"
        )
    ratings.check_dense_size(len(users), len(items), max_dense_bytes, source=path.name)
    matrix = np.zeros((len(users), len(items)), np.float32)
    matrix[user_idx, item_idx] = values
    return ratings.check_ratings(matrix)


def prepare_task(
    task: str,
    model: str | None = None,
    *,
    data_seed: int = 0,
    edges_file: str | Path | None = None,
    ratings_file: str | Path | None = None,
    tu_dir: str | Path | None = None,
    movielens: bool = False,
    data_dir: str | Path | None = None,
    max_dense_bytes: int = MAX_DENSE_BYTES,
) -> PreparedTask:
    """Loads and validates a task's data (nothing is written).

    Memory follows the input: an edge list costs its edges plus the one-hot features of
    the nodes its edges name (ids are renumbered ``0..N-1``); ratings cost the dense
    users x items and items x items arrays of the graph filter; a TU dataset costs its nodes
    and edges. A dense part above ``max_dense_bytes`` is refused before it is allocated.

    Raises:
      KhipuError: unknown task or model, an input that does not fit the task, bad files.
    """
    model = check_task_model(task, model)
    given = {
        "--edges": (edges_file, "links"),
        "--ratings": (ratings_file, "ratings"),
        "--movielens": (movielens or None, "ratings"),
        "--tu-dir": (tu_dir, "graphs"),
    }
    for flag, (value, owner) in given.items():
        if value is not None and owner != task:
            raise kc.KhipuError(f"{flag} is for --task {owner}, not {task}")
    if task == "karate":
        return PreparedTask(task, model, nodes.karate_club(), "networkx karate club")
    if task == "links":
        if edges_file is not None:
            pairs, _ = compact_node_ids(read_edge_list(edges_file))
            n = int(pairs.max()) + 1
            links.check_feature_size(n, max_dense_bytes, source=Path(edges_file).name)
            graph = from_edge_list(
                pairs[:, 0], pairs[:, 1], num_nodes=n, node_features=np.eye(n, dtype=np.float32)
            )
            return PreparedTask(
                task, model, links.split_edges(graph, seed=data_seed), str(edges_file)
            )
        return PreparedTask(
            task, model, links.sbm_link_split(seed=data_seed), "stochastic block model"
        )
    if task == "ratings":
        if ratings_file is not None and movielens:
            raise kc.KhipuError("give either --ratings or --movielens, not both")
        if ratings_file is not None:
            matrix = read_ratings_file(ratings_file, max_dense_bytes=max_dense_bytes)
            source = str(ratings_file)
        elif movielens:
            matrix, source = ratings.load_movielens_100k(data_dir), "movielens/100k-ratings"
        else:
            matrix, source = ratings.generate_ratings(seed=data_seed), "generated low-rank ratings"
        ratings.check_dense_size(matrix.shape[0], matrix.shape[1], max_dense_bytes, source=source)
        return PreparedTask(task, model, ratings.make_samples(matrix, seed=data_seed), source)
    if tu_dir is not None:
        return PreparedTask(task, model, classify.load_tu_dataset(tu_dir), str(tu_dir))
    return PreparedTask(task, model, classify.trees_vs_cycles(seed=data_seed), "trees vs cycles")


def run_task(
    out: str | Path,
    prepared: PreparedTask,
    *,
    epochs: int | None = None,
    learning_rate: float | None = None,
    seed: int = 0,
    data_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Trains the prepared task and writes metrics, history and figures into ``out``.

    Returns:
      The metrics written to ``metrics.json``.
    """
    out = Path(out)
    task, model, data = prepared.task, prepared.model, prepared.data
    epochs = epochs or DEFAULT_EPOCHS[task]
    lr = learning_rate or DEFAULT_LEARNING_RATE[task]
    common: dict[str, Any] = {
        "learning_rate": lr,
        "seed": seed,
        "checkpoint_dir": out / "checkpoints",
        "resume": resume,
        "progress": progress,
    }
    curves: list[str] = ["loss"]
    if task == "karate":
        result = nodes.train_node_classifier(data, model, steps=epochs, **common)
        plot_node_predictions(
            data.nx_graph,
            result.outputs["predictions"],
            data.labels,
            class_names=data.class_names,
            title=f"{model} on the karate club",
            path=out / "graph.png",
        )
        curves = ["loss", "accuracy"]
    elif task == "links":
        result = links.train_link_predictor(data, model, epochs=epochs, **common)
        plot_roc(
            result.outputs["test_scores"],
            result.outputs["test_labels"],
            auc=result.metrics["roc_auc"],
            path=out / "roc.png",
        )
        draw_graph(
            data.train_graph, with_labels=False, title="training edges", path=out / "graph.png"
        )
    elif task == "ratings":
        result = ratings.train_rating_model(data, model, epochs=epochs, **common)
        plot_similarity(data.shift, path=out / "similarity.png")
    else:
        result = classify.train_graph_classifier(
            data, model, epochs=epochs, data_seed=data_seed, **common
        )
        shown = min(8, len(data.graphs))
        plot_graph_examples(
            data.graphs[:shown],
            [f"class {data.class_names[int(y)]}" for y in data.labels[:shown]],
            path=out / "examples.png",
        )
        curves = ["loss", "accuracy"]
    kc.write_json(out / "history.json", result.history)
    kc.plot_learning_curves(
        result.history, metrics=curves, title=f"{model} on {task}", path=out / "learning_curves.png"
    )
    metrics: dict[str, Any] = {
        **result.metrics,
        "task": task,
        "model": model,
        "data": prepared.source,
        "epochs_run": result.epochs_run,
        "train_seconds": result.train_seconds,
        "parameters": kc.total_parameters(result.params),
    }
    kc.write_metrics(out, metrics)
    return metrics
