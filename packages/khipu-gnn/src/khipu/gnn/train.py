"""Training pieces shared by the tasks, all through khipu-core's ``fit()``.

Full-graph training fits ``fit()`` as a dataset of **one example**: the graph's arrays get
a leading axis of size 1 (:func:`single_graph_arrays`), ``batch_size=1`` and one epoch is
one full-graph step; :func:`single_graph` undoes the leading axis inside the loss. Batches
of graphs of different sizes are fixed-shape padded arrays
(:func:`khipu.gnn.graphs.graphs_to_arrays`), which ``fit()`` shuffles and batches as usual.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import jraph
import khipu.core as kc
import numpy as np
import optax

Batch = Mapping[str, jax.Array]


def single_graph_arrays(graph: jraph.GraphsTuple, **extra: Any) -> dict[str, np.ndarray]:
    """A one-graph dataset for ``fit()``: every array with a leading axis of size 1.

    Returns:
      ``{"nodes": [1, N, F], "senders": [1, E], "receivers": [1, E], **extra}`` with each
      ``extra`` array also given a leading axis of 1.
    """
    arrays = {
        "nodes": np.asarray(graph.nodes, np.float32),
        "senders": np.asarray(graph.senders, np.int32),
        "receivers": np.asarray(graph.receivers, np.int32),
        **{k: np.asarray(v) for k, v in extra.items()},
    }
    return {k: v[None] for k, v in arrays.items()}


def single_graph(batch: Batch) -> jraph.GraphsTuple:
    """The ``GraphsTuple`` of a :func:`single_graph_arrays` batch (inside ``jit``)."""
    nodes = batch["nodes"][0]
    senders = batch["senders"][0]
    return jraph.GraphsTuple(
        nodes=nodes,
        edges=None,
        senders=senders,
        receivers=batch["receivers"][0],
        n_node=jnp.array([nodes.shape[0]]),
        n_edge=jnp.array([senders.shape[0]]),
        globals=None,
    )


def masked_cross_entropy(
    logits: jax.Array, labels: jax.Array, mask: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Mean cross-entropy and accuracy over the entries where ``mask`` is true.

    Args:
      logits: ``[N, C]``.
      labels: ``[N]`` integer classes.
      mask: ``[N]`` bool (or 0/1) weights.
    """
    m = mask.astype(jnp.float32)
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, labels[:, None].astype(jnp.int32), axis=1)[:, 0]
    count = jnp.maximum(m.sum(), 1.0)
    correct = (logits.argmax(-1) == labels).astype(jnp.float32)
    return (nll * m).sum() / count, (correct * m).sum() / count


def binary_cross_entropy_with_logits(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean of ``-[y log sigmoid(z) + (1-y) log(1 - sigmoid(z))]`` (numerically stable)."""
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels.astype(logits.dtype)))


def roc_auc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve: P(score of a random positive > a random negative).

    Ties count one half (ranks averaged over ties). ``labels`` are 0/1.

    Raises:
      KhipuError: only one class is present.
    """
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise kc.KhipuError("ROC-AUC needs both positive and negative examples")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pairwise_auc(pos: jax.Array, neg: jax.Array) -> jax.Array:
    """ROC-AUC of positive scores ``[P]`` against negative scores ``[Q]`` (jit-friendly)."""
    diff = pos[:, None] - neg[None, :]
    return jnp.mean((diff > 0).astype(jnp.float32) + 0.5 * (diff == 0).astype(jnp.float32))


class TaskResult(NamedTuple):
    """What a task's training returns.

    Attributes:
      params: the trained (best, if monitored) parameters.
      history: ``fit()``'s per-epoch columns.
      metrics: final metrics (task-specific: ``accuracy``, ``roc_auc``, ``test_rmse``...).
      epochs_run: epochs completed (one full-graph step per epoch for one-graph tasks).
      train_seconds: wall time of ``fit()``.
      outputs: arrays for figures (predicted classes, scores...).
    """

    params: Any
    history: dict[str, list[float]]
    metrics: dict[str, float]
    epochs_run: int
    train_seconds: float
    outputs: dict[str, np.ndarray]


LossFn = Callable[[Any, Any, jax.Array, Batch], tuple[jax.Array, tuple[Any, dict[str, jax.Array]]]]


def run_fit(
    params: Any,
    loss_fn: LossFn,
    train_data: Mapping[str, np.ndarray],
    *,
    epochs: int,
    learning_rate: float,
    batch_size: int = 1,
    seed: int = 0,
    eval_fn: Callable[[Any, Any, Batch], dict[str, jax.Array]] | None = None,
    val_data: Mapping[str, np.ndarray] | None = None,
    monitor: str = "val_loss",
    mode: str = "min",
    eval_every: int = 1,
    patience: int | None = None,
    weight_decay: float = 0.0,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    whole_graph: bool = False,
) -> tuple[kc.FitResult, float]:
    """Adam (AdamW with ``weight_decay``) on ``loss_fn`` through :func:`khipu.core.fit`.

    ``whole_graph``: ``train_data`` is one graph (:func:`single_graph_arrays`), which
    cannot be split into batches over devices: it trains on this process's first
    device (one process; :func:`check_whole_graph_run` refuses several).

    Returns:
      ``(fit_result, seconds)``.
    """
    if whole_graph:
        check_whole_graph_run()
    optimizer = (
        optax.adamw(learning_rate, weight_decay=weight_decay)
        if weight_decay
        else optax.adam(learning_rate)
    )
    state = kc.init_train_state(params, optimizer, key=jax.random.fold_in(kc.as_key(seed), 1))
    step = kc.make_train_step(loss_fn, optimizer)
    eval_step = kc.make_eval_step(eval_fn) if eval_fn is not None else None
    start = time.perf_counter()
    result = kc.fit(
        state,
        step,
        train_data,
        batch_size=batch_size,
        epochs=epochs,
        seed=seed,
        eval_step=eval_step,
        val_data=val_data,
        eval_every=eval_every,
        monitor=monitor,
        mode="max" if mode == "max" else "min",
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
        mesh=kc.data_mesh(jax.local_devices()[:1]) if whole_graph else None,
    )
    return result, time.perf_counter() - start


def check_whole_graph_run(what: str = "this task") -> None:
    """Refuses a whole-graph task in a run of several processes, with the way out.

    Args:
      what: the task as the user named it (``"--task karate"``).

    Raises:
      KhipuError: this process is one of several.
    """
    if jax.process_count() > 1:
        raise kc.KhipuError(
            f"{what} trains on one whole graph, which cannot be split over "
            f"{jax.process_count()} processes; run it as one process (ratings and graphs "
            "train on several)"
        )


def init_params(net: hk.Transformed, seed: int, *args: Any) -> Any:
    """``net.init`` under a key derived from ``seed`` (jitted: one compilation)."""
    return jax.jit(net.init)(jax.random.fold_in(kc.as_key(seed), 0), *args)
