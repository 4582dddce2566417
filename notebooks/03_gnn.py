# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Graph neural networks — jraph, Haiku and graph filters
#
# Graphs are everywhere: friendships, molecules, road networks, who-rated-what. A
# **graph neural network** computes features for nodes, edges or whole graphs by passing
# **messages** along the edges. This practical combines the Deep Learning Indaba 2022 jraph
# practical and the Khipu 2023 graph-filter practical, with `khipu-gnn`:
#
# | part | what you write | time |
# |---|---|---|
# | 1. Graphs and `jraph.GraphsTuple` | edge features from endpoints | 10 min |
# | 2. Message passing and GCNs | mean aggregation `D⁻¹A X`, the GCN's `D^-½(A+I)D^-½ X` | 25 min |
# | 3. Karate club: GCN and GAT from two labels | attention weights | 15 min |
# | 4. Collaborative filtering with graph filters | target-item loss, graph filter | 25 min |
# | 5. Graph classification and link prediction | — (demos) | 10 min |
#
# **How the exercises work.** Each exercise has a stub (`# YOUR CODE HERE`): replace
# `raise NotImplementedError` by your code, run it, then run the **check** cell below. It
# prints ✓, ✗ with the failing input and a hint, or "not attempted yet", and always returns
# a working function (yours if it passed, else the reference), so the notebook runs to the
# end. The hidden **Solution** cell shows one answer — try first!

# %% tags=["pin"]
# %pip install "khipu-gnn==0.1.*"

# %%
import os

import jax
import jax.numpy as jnp
import khipu.core as kc
import khipu.gnn as gnn
import numpy as np
from khipu.gnn import graphs as gr

QUICK = os.environ.get("KHIPU_QUICK") == "1"  # short runs (tests, slow machines)
print("quick mode:", QUICK)

# %% [markdown]
# ## 1. Graphs and `GraphsTuple`
#
# jraph stores a batch of graphs as one `GraphsTuple`: `nodes` `[N, F]`, optional `edges`
# `[E, F_e]`, `senders` and `receivers` `[E]` (edge `e` goes `senders[e] → receivers[e]`),
# `n_node` and `n_edge` per graph and `globals`. The practical's toy graph:

# %%
toy = gr.from_edge_list(
    [0, 1, 2, 3, 0],
    [1, 2, 0, 0, 3],
    node_features=np.array([[0.0], [2.0], [4.0], [6.0]]),
    edge_features=np.array([[5.0], [6.0], [7.0], [8.0], [8.0]]),
    global_features=np.array([[1.0]]),
)
print("n_node", toy.n_node, "n_edge", toy.n_edge)
print("adjacency (row = sender):\n", gr.to_adjacency(toy))

# %% tags=["figure"]
gnn.draw_graph(gr.to_networkx(toy), title="the toy graph (directed edges)")

# %% [markdown]
# **Exercise 1.** Give every edge a feature: the **sum of its two endpoints' features**.
# Write `edge_sums(features, senders, receivers)` returning `[E, F]`.


# %% tags=["exercise"]
def edge_sums(features, senders, receivers):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
edge_sums = gnn.exercises.check_edge_sums(edge_sums)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def edge_sums(features, senders, receivers):
    return features[senders] + features[receivers]


# %%
print(edge_sums(jnp.asarray(toy.nodes), jnp.asarray(toy.senders), jnp.asarray(toy.receivers)))

# %% [markdown]
# Graphs of different sizes would make `jit` compile once per shape. jraph's answer is
# **padding**: add one padding graph so the node and edge counts are fixed (here the next
# power of two); masks tell real from padding entries. (jraph's own `zero_out_padding`
# calls `jax.tree_map`, which current JAX removed: `khipu.gnn` ships a working one.)

# %%
batch = gr.batch_graphs([toy, toy])
padded = gr.pad_to_power_of_two(batch)
print("nodes", batch.n_node, "->", padded.n_node, "| edges", batch.n_edge, "->", padded.n_edge)
print("real graphs:", gr.graph_mask(padded), "| real nodes:", gr.node_mask(padded))

# %% [markdown]
# ## 2. Message passing
#
# One step of message passing sums the features of each node's in-neighbours:
# `out[r] = Σ_{s→r} x[s]`, i.e. `Aᵀ X`, computed with `jax.ops.segment_sum` over the
# receivers of the gathered sender features — its cost grows with the number of edges, not
# with N². Sums grow with the degree, so GNNs **normalise**.
#
# **Exercise 2.** Write `mean_aggregate(features, senders, receivers, num_nodes)`: each
# node's **mean** over the senders of its incoming edges (`D⁻¹ A X`, with `D` the
# in-degree); a node with no incoming edge gets zeros.


# %% tags=["exercise"]
def mean_aggregate(features, senders, receivers, num_nodes):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
mean_aggregate = gnn.exercises.check_mean_aggregate(mean_aggregate)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def mean_aggregate(features, senders, receivers, num_nodes):
    total = jax.ops.segment_sum(features[senders], receivers, num_nodes)
    degree = jax.ops.segment_sum(jnp.ones(receivers.shape), receivers, num_nodes)
    return total / jnp.maximum(degree, 1.0)[:, None]


# %% [markdown]
# **Exercise 3.** The GCN of Kipf & Welling adds a **self-edge** to every node (a node keeps
# its own features) and uses the **symmetric** normalisation `D^-½ (A+I) D^-½ X`: the message
# on edge `s→r` is scaled by `1/√(deg_out(s)·deg_in(r))`, degrees counted with the
# self-edges. Write `gcn_aggregate(features, senders, receivers, num_nodes)`.


# %% tags=["exercise"]
def gcn_aggregate(features, senders, receivers, num_nodes):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
gcn_aggregate = gnn.exercises.check_gcn_aggregate(gcn_aggregate)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def gcn_aggregate(features, senders, receivers, num_nodes):
    idx = jnp.arange(num_nodes)
    s = jnp.concatenate([senders, idx])
    r = jnp.concatenate([receivers, idx])
    ones = jnp.ones(s.shape)
    deg_out = jax.ops.segment_sum(ones, s, num_nodes)
    deg_in = jax.ops.segment_sum(ones, r, num_nodes)
    weights = jax.lax.rsqrt(deg_out[s] * deg_in[r])
    return jax.ops.segment_sum(features[s] * weights[:, None], r, num_nodes)


# %% [markdown]
# Your function against the dense formula on the toy graph made undirected:

# %%
x, s, r = gnn.exercises.toy_graph()
s2, r2 = jnp.concatenate([s, r]), jnp.concatenate([r, s])
a = gr.to_adjacency(gr.from_edge_list(np.asarray(s2), np.asarray(r2), num_nodes=4))
dense = gr.normalized_adjacency(a, "symmetric").T @ np.asarray(x)
print(np.c_[np.asarray(gcn_aggregate(x, s2, r2, 4)), dense])

# %% [markdown]
# ## 3. The karate club: node classification from two labels
#
# Zachary's karate club split into two clubs. As in the practical, only the instructor
# (node 0) and the administrator (node 33) are labelled; a two-layer GCN (`gnn.GCNLayer`:
# a linear map, then your normalised aggregation) and a GAT (attention weights
# `softmax(LeakyReLU(a·[z_s, z_r]))` over each node's incoming edges) must find everyone
# else's club. Training goes through khipu-core's `fit()`: the whole graph is one example.
#
# **Exercise 4.** The GAT's attention: given one logit per edge, `attention_weights(logits,
# receivers, num_nodes)` returns a **softmax over each receiver's incoming edges** (the
# weights into every node sum to one). Subtract each receiver's maximum logit before `exp`
# so large logits do not overflow.


# %% tags=["exercise"]
def attention_weights(logits, receivers, num_nodes):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
attention_weights = gnn.exercises.check_attention_weights(attention_weights)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def attention_weights(logits, receivers, num_nodes):
    top = jax.ops.segment_max(logits, receivers, num_nodes)
    e = jnp.exp(logits - top[receivers])
    return e / jax.ops.segment_sum(e, receivers, num_nodes)[receivers]


# %%
karate = gnn.karate_club()
results = {}
for model in ("gcn", "gat"):
    results[model] = gnn.train_node_classifier(karate, model, steps=20, seed=0)
    print(f"{model}: accuracy over all 34 nodes {results[model].metrics['accuracy']:.3f}")

# %% tags=["figure"]
gnn.plot_node_predictions(
    karate.nx_graph,
    results["gcn"].outputs["predictions"],
    karate.labels,
    class_names=karate.class_names,
    title="GCN",
)

# %% tags=["figure"]
gnn.plot_node_predictions(
    karate.nx_graph,
    results["gat"].outputs["predictions"],
    karate.labels,
    class_names=karate.class_names,
    title="GAT",
)

# %% [markdown]
# ## 4. Collaborative filtering with graph filters
#
# A user's ratings are a **signal on a graph of items**: items are similar when users rate
# them alike. To predict a user's rating of a target item, we filter their other ratings
# over the item graph `S` and read the output at the target item.
#
# The data here is generated from a low-rank model (`gnn.generate_ratings`; MovieLens-100k
# works through tensorflow-datasets). The graph is built from the **training** ratings only:
# correlations of item-centred ratings, each item keeping its 10 nearest items, scaled to
# spectral radius 1. Inputs are ratings minus the item means (unrated = 0), so a model
# predicts deviations from the item mean.

# %%
users = 200 if QUICK else 400
data = gnn.make_samples(gnn.generate_ratings(num_users=users, seed=0), seed=0)
print({k: v.shape for k, v in data.train.items()})

# %% tags=["figure"]
gnn.plot_similarity(data.shift)

# %% [markdown]
# **Exercise 5.** The loss is taken **at the target item only**. Write
# `target_mse(outputs, target, y)`: `outputs` `[B, P, 1]` are the model's outputs at every
# item, `target` `[B]` the target items, `y` `[B]` the true values. (The original squeezed
# `outputs` and broke for a batch of one.)


# %% tags=["exercise"]
def target_mse(outputs, target, y):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
target_mse = gnn.exercises.check_target_mse(target_mse)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def target_mse(outputs, target, y):
    picked = outputs[jnp.arange(outputs.shape[0]), target, 0]
    return jnp.mean((picked - y) ** 2)


# %% [markdown]
# **Exercise 6.** A **graph filter** with `K` taps mixes `0, 1, …, K−1` diffusion steps:
# `H(S) x = Σ_{k=0}^{K−1} S^k X H_k + b`, with `x` `[B, N, G]`, `S` `[N, N]`, taps `h`
# `[K, G, F]` and bias `b` `[F]`. Exactly `K` terms — the original looped `K+1` times (and
# JAX silently clamped `h[K]`), and multiplied `X S` instead of `S X`, which differ when `S`
# is not symmetric.


# %% tags=["exercise"]
def graph_filter(x, S, h, b):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
graph_filter = gnn.exercises.check_graph_filter(graph_filter)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def graph_filter(x, S, h, b):
    z = x
    out = z @ h[0]
    for k in range(1, h.shape[0]):
        z = jnp.einsum("nm,bmg->bng", S, z)
        out = out + z @ h[k]
    return out + b[None, None, :]  # explicit broadcasting (no silent rank promotion)


# %% [markdown]
# `gnn.GraphFilter` wraps this filter as a Haiku module; `gnn.FilterGNN` stacks graph
# perceptrons (filter + ReLU) and a readout filter. We train the practical's graph filter
# (5 taps, 64 features, then a 1-tap readout) and the 3-layer GNN, and compare with the
# item-mean and user-mean baselines.

# %%
epochs = 3 if QUICK else 20
rating_results = {}
for model in ("filter",) if QUICK else ("filter", "gnn"):
    res = gnn.train_rating_model(data, model, epochs=epochs, seed=0)
    rating_results[model] = res
    m = res.metrics
    print(
        f"{model}: test RMSE {m['test_rmse']:.3f} | item mean {m['item_mean_rmse']:.3f} | "
        f"user mean {m['user_mean_rmse']:.3f}"
    )

# %% tags=["figure"]
kc.plot_learning_curves(rating_results["filter"].history, metrics=["loss"], title="graph filter")

# %% [markdown]
# ## 5. Graph classification and link prediction
#
# **Graph classification.** Trees against graphs with exactly one cycle: a purely
# structural property. Each graph is padded to the same size so `fit()` batches them as
# fixed-shape arrays; a graph network (`gnn.GraphNetworkBlock`: edge, node and global
# updates) produces per-graph features read out by a linear layer.

# %%
dataset = gnn.trees_vs_cycles(120 if QUICK else 400, seed=0)
graph_result = gnn.train_graph_classifier(dataset, "graphnet", epochs=4 if QUICK else 30)
print("test accuracy", graph_result.metrics["accuracy"])

# %% tags=["figure"]
gnn.plot_graph_examples(
    dataset.graphs[:8], [dataset.class_names[int(y)] for y in dataset.labels[:8]]
)

# %% [markdown]
# **Link prediction.** Hide 15 % of a stochastic-block-model graph's edges, learn node
# embeddings with a GCN on the rest, and score a pair by the dot product of its embeddings.
# Every training step compares the known edges with **fresh random negative pairs** (a new
# PRNG key each step — the original reused one key).

# %%
split = gnn.sbm_link_split(seed=0)
link_result = gnn.train_link_predictor(split, "gcn", epochs=30 if QUICK else 100)
print("test ROC-AUC", round(link_result.metrics["roc_auc"], 3))

# %% tags=["figure"]
gnn.plot_roc(
    link_result.outputs["test_scores"],
    link_result.outputs["test_labels"],
    auc=link_result.metrics["roc_auc"],
)

# %% [markdown]
# ## Going further
#
# * `khipu gnn train --task karate|ratings|graphs|links --model ... --out runs/x` runs every
#   task from the command line (metrics.json, figures, `--resume`).
# * Try `normalization="random_walk"` in `gnn.GCNLayer`, more GAT heads, or deeper models.
# * Supply MUTAG in TU format: `gnn.load_tu_dataset("MUTAG/")`.
