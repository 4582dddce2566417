"""Node classification on Zachary's karate club (networkx's bundled graph).

As in the practical, only two nodes are labelled for training: node 0 (the instructor,
"Mr. Hi") and node 33 (the administrator, "Officer"); accuracy is measured over all 34
nodes against networkx's ``club`` attribute. Node features are one-hot ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jraph
import networkx as nx
import numpy as np
from khipu.gnn.graphs import from_networkx
from khipu.gnn.models import node_model
from khipu.gnn.train import (
    Batch,
    TaskResult,
    init_params,
    masked_cross_entropy,
    run_fit,
    single_graph,
    single_graph_arrays,
)

CLUBS: tuple[str, ...] = ("Mr. Hi", "Officer")


class NodeTask(NamedTuple):
    """A node-classification problem on one graph.

    Attributes:
      graph: the graph, node features ``[N, F]``.
      labels: ``[N]`` int32 classes.
      train_mask: ``[N]`` bool, the labelled nodes.
      class_names: one name per class.
      nx_graph: the networkx graph (for drawing).
    """

    graph: jraph.GraphsTuple
    labels: np.ndarray
    train_mask: np.ndarray
    class_names: tuple[str, ...]
    nx_graph: nx.Graph


def karate_club() -> NodeTask:
    """The karate club: 34 nodes, 78 undirected edges (156 directed), two labelled nodes."""
    g = nx.karate_club_graph()
    labels = np.array([CLUBS.index(g.nodes[v]["club"]) for v in g.nodes], np.int32)
    mask = np.zeros(len(labels), bool)
    mask[[0, 33]] = True
    return NodeTask(from_networkx(g, identity_features=True), labels, mask, CLUBS, g)


def train_node_classifier(
    task: NodeTask,
    model: str = "gcn",
    *,
    steps: int = 20,
    learning_rate: float = 0.01,
    hidden: int = 8,
    seed: int = 0,
    eval_every: int = 10,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> TaskResult:
    """Full-graph training on the labelled nodes, one ``fit()`` epoch per step.

    Returns:
      A :class:`TaskResult` whose metrics hold ``accuracy`` (all nodes),
      ``train_accuracy`` (labelled nodes) and ``loss``; outputs hold ``predictions`` ``[N]``.
    """
    net = node_model(model, len(task.class_names), hidden=hidden)
    data = single_graph_arrays(task.graph, labels=task.labels, mask=task.train_mask)
    all_nodes = single_graph_arrays(
        task.graph, labels=task.labels, mask=np.ones_like(task.train_mask)
    )

    def loss_fn(params: Any, state: Any, key: jax.Array, batch: Batch) -> Any:
        del key
        logits = net.apply(params, single_graph(batch))
        loss, acc = masked_cross_entropy(logits, batch["labels"][0], batch["mask"][0])
        return loss, (state, {"accuracy": acc})

    def eval_fn(params: Any, state: Any, batch: Batch) -> dict[str, jax.Array]:
        del state
        logits = net.apply(params, single_graph(batch))
        loss, acc = masked_cross_entropy(logits, batch["labels"][0], batch["mask"][0])
        return {"loss": loss, "accuracy": acc}

    params = init_params(net, seed, jax.tree.map(jnp.asarray, task.graph))
    # All-node accuracy is reported per epoch for the curves only: nothing is selected on it.
    result, seconds = run_fit(
        params,
        loss_fn,
        data,
        epochs=steps,
        learning_rate=learning_rate,
        seed=seed,
        eval_fn=eval_fn,
        val_data=all_nodes,
        monitor="loss",
        eval_every=eval_every,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
        whole_graph=True,
    )
    params = result.state.params
    logits = np.asarray(jax.jit(net.apply)(params, jax.tree.map(jnp.asarray, task.graph)))
    predictions = logits.argmax(-1)
    metrics = {
        "accuracy": float((predictions == task.labels).mean()),
        "train_accuracy": float((predictions == task.labels)[task.train_mask].mean()),
        "loss": float(result.history["loss"][-1]) if result.history.get("loss") else float("nan"),
    }
    return TaskResult(
        params, result.history, metrics, result.epochs_run, seconds, {"predictions": predictions}
    )
