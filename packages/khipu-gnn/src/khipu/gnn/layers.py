"""Graph layers as Haiku modules and pure functions on ``GraphsTuple``s.

Message passing is ``segment_sum`` over the receivers of gathered sender features, so the
cost grows with the number of edges, not with ``N^2``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import haiku as hk
import jax
import jax.numpy as jnp
import jraph
from khipu.core import KhipuError
from khipu.gnn.graphs import NORMALIZATIONS, add_self_edges, edge_normalization, node_graph_index

Activation = Callable[[jax.Array], jax.Array]
READOUTS: tuple[str, ...] = ("sum", "mean", "max")
ATTENTIONS: tuple[str, ...] = ("pair", "sender")


def add_bias(x: jax.Array, bias: jax.Array) -> jax.Array:
    """``x`` ``[..., F]`` plus ``bias`` ``[F]`` (explicit broadcast: no rank promotion)."""
    return x + bias.reshape((1,) * (x.ndim - 1) + bias.shape)


def propagate(
    features: jax.Array,
    senders: jax.Array,
    receivers: jax.Array,
    num_nodes: int,
    weights: jax.Array | None = None,
) -> jax.Array:
    """One message-passing step: ``out[r] = sum over edges s->r of w_e * features[s]``.

    Args:
      features: ``[N, ...]`` node features.
      senders, receivers: ``[E]`` edge endpoints.
      num_nodes: ``N`` (static).
      weights: ``[E]`` edge coefficients (default 1).

    Returns:
      ``[N, ...]`` aggregated messages (``A^T X`` for the weighted adjacency ``A``).
    """
    messages = features[senders]
    if weights is not None:
        messages = messages * weights.reshape(weights.shape + (1,) * (messages.ndim - 1))
    return jax.ops.segment_sum(messages, receivers, num_nodes)


def gcn_propagate(
    graph: jraph.GraphsTuple,
    features: jax.Array,
    *,
    normalization: str = "symmetric",
    self_edges: bool = True,
) -> jax.Array:
    """Normalised aggregation of node features ``[N, F]`` over incoming edges.

    With ``A[s, r] = 1`` for an edge ``s -> r`` (row = sender) and ``Â = A + I`` (with
    ``self_edges``), degrees counted on ``Â``: ``"symmetric"`` is
    ``D_in^-1/2 Âᵀ D_out^-1/2 X`` (for an undirected graph ``D^-1/2 Â D^-1/2 X``),
    ``"random_walk"`` is ``D_in^-1 Âᵀ X`` (the mean over in-neighbours) and ``"none"``
    is ``Âᵀ X``.
    """
    if normalization not in NORMALIZATIONS:
        raise KhipuError(
            f"unknown normalization {normalization!r}; available: {', '.join(NORMALIZATIONS)}"
        )
    n = features.shape[0]
    g = add_self_edges(graph._replace(nodes=features, edges=None)) if self_edges else graph
    s, r = jnp.asarray(g.senders), jnp.asarray(g.receivers)
    w = edge_normalization(s, r, n, normalization)
    return propagate(features, s, r, n, w)


class GCNLayer(hk.Module):
    """Graph convolution (Kipf & Welling): ``act(D_in^-1/2 Âᵀ D_out^-1/2 X W + b)``.

    ``Â = A + I`` with ``A[s, r] = 1`` per edge ``s -> r`` (see :func:`gcn_propagate`).

    The linear map is applied first (as in ``jraph.GraphConvolution``), then the
    normalised aggregation over receivers.
    """

    def __init__(
        self,
        out_features: int,
        *,
        normalization: str = "symmetric",
        self_edges: bool = True,
        activation: Activation | None = None,
        with_bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if normalization not in NORMALIZATIONS:
            raise KhipuError(
                f"unknown normalization {normalization!r}; available: {', '.join(NORMALIZATIONS)}"
            )
        self.out_features = out_features
        self.normalization = normalization
        self.self_edges = self_edges
        self.activation = activation
        self.with_bias = with_bias

    def __call__(self, graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
        """``graph.nodes`` ``[N, F_in]`` -> a graph whose nodes are ``[N, out_features]``."""
        h = hk.Linear(self.out_features, with_bias=False)(graph.nodes)
        h = gcn_propagate(graph, h, normalization=self.normalization, self_edges=self.self_edges)
        if self.with_bias:
            h = add_bias(h, hk.get_parameter("b", [self.out_features], init=jnp.zeros))
        if self.activation is not None:
            h = self.activation(h)
        return graph._replace(nodes=h)


class GATLayer(hk.Module):
    """Graph attention (Veličković et al.) with several heads.

    For each head, ``z = W x``; the logit of edge ``s -> r`` is
    ``LeakyReLU(a_s . z_s + a_r . z_r)`` (equal to a linear map of the concatenated sender
    and receiver features); weights are a softmax over each receiver's incoming edges and
    the output is the weighted sum of ``z_s``. Heads are concatenated (or averaged).

    ``attention="sender"`` drops the receiver term (the Indaba practical's task 6): the
    logit ``LeakyReLU(a_s . z_s)`` depends on the sender only, so every receiver ranks its
    neighbours in the same global order.
    """

    def __init__(
        self,
        out_features: int,
        *,
        num_heads: int = 1,
        concat_heads: bool = True,
        self_edges: bool = True,
        negative_slope: float = 0.2,
        activation: Activation | None = None,
        attention: str = "pair",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if attention not in ATTENTIONS:
            raise KhipuError(f"unknown attention {attention!r}; available: {', '.join(ATTENTIONS)}")
        self.attention_kind = attention
        self.out_features = out_features
        self.num_heads = num_heads
        self.concat_heads = concat_heads
        self.self_edges = self_edges
        self.negative_slope = negative_slope
        self.activation = activation

    def attention(self, graph: jraph.GraphsTuple) -> tuple[jraph.GraphsTuple, jax.Array, jax.Array]:
        """Returns the graph used (with self-edges), ``z`` ``[N, H, F]`` and weights ``[E, H]``."""
        x = graph.nodes
        n = x.shape[0]
        g = add_self_edges(graph._replace(edges=None)) if self.self_edges else graph
        s, r = jnp.asarray(g.senders), jnp.asarray(g.receivers)
        h, f = self.num_heads, self.out_features
        z = hk.Linear(h * f, with_bias=False)(x).reshape(n, h, f)
        init = hk.initializers.VarianceScaling(1.0, "fan_avg", "uniform")
        a_s = hk.get_parameter("attention_sender", [h, f], init=init)
        logits = jnp.einsum("nhf,hf->nh", z, a_s)[s]
        if self.attention_kind == "pair":
            a_r = hk.get_parameter("attention_receiver", [h, f], init=init)
            logits = logits + jnp.einsum("nhf,hf->nh", z, a_r)[r]
        logits = jax.nn.leaky_relu(logits, self.negative_slope)
        weights = jraph.segment_softmax(logits, r, n)
        return g, z, weights

    def __call__(self, graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
        """``graph.nodes`` ``[N, F_in]`` -> nodes ``[N, H*F]`` (concat) or ``[N, F]`` (mean)."""
        g, z, weights = self.attention(graph)
        n = z.shape[0]
        out = jax.ops.segment_sum(weights[..., None] * z[g.senders], g.receivers, n)
        out = out.reshape(n, -1) if self.concat_heads else out.mean(axis=1)
        out = add_bias(out, hk.get_parameter("b", [out.shape[-1]], init=jnp.zeros))
        if self.activation is not None:
            out = self.activation(out)
        return graph._replace(nodes=out)


def _mlp(
    sizes: Sequence[int], name: str, activate_final: bool = False
) -> Callable[[jax.Array], jax.Array]:
    return hk.nets.MLP(
        list(sizes), activation=jax.nn.relu, activate_final=activate_final, name=name
    )


class GraphNetworkBlock(hk.Module):
    """One full graph-network step (Battaglia et al.): edge, node and global updates.

    * edge update: ``MLP([e, x_sender, x_receiver, u])`` — messages depend on both
      endpoints' features;
    * node update: ``MLP([x, sum of outgoing e', sum of incoming e', u])``;
    * global update: ``MLP([sum of x', sum of e', u])`` per graph.

    Missing edge or global features start as zeros of width 1.
    """

    def __init__(self, latent: int = 64, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.latent = latent

    def __call__(self, graph: jraph.GraphsTuple) -> jraph.GraphsTuple:
        """The graph with new ``edges`` ``[E, L]``, ``nodes`` ``[N, L]``, ``globals`` ``[G, L]``."""
        e_count = graph.senders.shape[0]
        g_count = graph.n_node.shape[0]
        if graph.edges is None:
            graph = graph._replace(edges=jnp.zeros((e_count, 1), jnp.float32))
        if graph.globals is None:
            graph = graph._replace(globals=jnp.zeros((g_count, 1), jnp.float32))
        size = (self.latent, self.latent)
        net = jraph.GraphNetwork(
            update_edge_fn=jraph.concatenated_args(_mlp(size, "edge_mlp", activate_final=True)),
            update_node_fn=jraph.concatenated_args(_mlp(size, "node_mlp", activate_final=True)),
            update_global_fn=jraph.concatenated_args(_mlp(size, "global_mlp", activate_final=True)),
        )
        return net(graph)


def readout(nodes: jax.Array, n_node: jax.Array, kind: str = "sum") -> jax.Array:
    """Pools node features ``[N, F]`` per graph into ``[G, F]``.

    Args:
      nodes: ``[N, F]`` node features of a batch of graphs.
      n_node: ``[G]`` nodes per graph (padding nodes belong to the padding graph).
      kind: ``"sum"``, ``"mean"`` or ``"max"`` (an empty graph gives zeros).
    """
    if kind not in READOUTS:
        raise KhipuError(f"unknown readout {kind!r}; available: {', '.join(READOUTS)}")
    g = n_node.shape[0]
    idx = node_graph_index(n_node, nodes.shape[0])
    if kind == "max":
        pooled = jax.ops.segment_max(nodes, idx, g)
        return jnp.where((n_node > 0)[:, None], pooled, jnp.zeros_like(pooled))
    total = jax.ops.segment_sum(nodes, idx, g)
    if kind == "sum":
        return total
    return total / jnp.maximum(n_node, 1).astype(nodes.dtype)[:, None]


# --- graph filters (the 2023 practical) ------------------------------------------


def diffusion_sequence(x: jax.Array, shift: jax.Array, num_steps: int) -> jax.Array:
    """The diffusion sequence ``U_k = S^k X``, ``k = 0 .. K-1``: ``U_0 = X``, ``U_k = S U_{k-1}``.

    Row ``i`` of ``S U`` is ``sum_j S[i, j] U[j]``: node ``i`` gathers from the nodes ``j``
    with ``S[i, j] != 0``, so ``U_k[i]`` depends only on nodes within ``k`` hops (locality).

    Args:
      x: ``[..., N, G]`` graph signals.
      shift: ``[N, N]`` graph shift operator ``S``.
      num_steps: ``K >= 1``, the number of terms.

    Returns:
      ``[K, ..., N, G]``.
    """
    if num_steps < 1:
        raise KhipuError(f"a diffusion sequence needs at least one term, got {num_steps}")
    terms = [x]
    for _ in range(1, num_steps):
        terms.append(jnp.einsum("nm,...mg->...ng", shift, terms[-1]))
    return jnp.stack(terms)


def graph_filter(
    x: jax.Array, shift: jax.Array, taps: jax.Array, bias: jax.Array | None = None
) -> jax.Array:
    """The graph convolutional filter ``H(S) x = sum_{k=0}^{K-1} S^k X H_k (+ b)``.

    Exactly ``K = taps.shape[0]`` taps: ``S^0 = I`` through ``S^{K-1}``.

    Args:
      x: ``[..., N, G]`` graph signals with ``G`` features per node.
      shift: ``[N, N]`` graph shift operator ``S`` (e.g. a normalised adjacency).
      taps: ``[K, G, F]`` filter coefficients ``H_k``.
      bias: ``[F]`` (optional).

    Returns:
      ``[..., N, F]``.
    """
    z = x
    out = jnp.einsum("...ng,gf->...nf", z, taps[0])
    for k in range(1, taps.shape[0]):
        z = jnp.einsum("nm,...mg->...ng", shift, z)
        out = out + jnp.einsum("...ng,gf->...nf", z, taps[k])
    if bias is not None:
        out = add_bias(out, bias)
    return out


class GraphFilter(hk.Module):
    """A learnable graph filter of ``num_taps`` taps: ``h`` ``[K, G, F]`` and ``b`` ``[F]``.

    Initialised uniformly in ``±1/sqrt(K G)`` as in the practical.
    """

    def __init__(self, num_taps: int, out_features: int, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if num_taps < 1:
            raise KhipuError(f"a graph filter needs at least one tap, got {num_taps}")
        self.num_taps = num_taps
        self.out_features = out_features

    def __call__(self, x: jax.Array, shift: jax.Array) -> jax.Array:
        """``x`` ``[..., N, G]``, ``shift`` ``[N, N]`` -> ``[..., N, out_features]``."""
        g = x.shape[-1]
        scale = 1.0 / (self.num_taps * g) ** 0.5
        init = hk.initializers.RandomUniform(-scale, scale)
        h = hk.get_parameter("h", [self.num_taps, g, self.out_features], init=init)
        b = hk.get_parameter("b", [self.out_features], init=init)
        return graph_filter(x, shift, h, b)


class GraphPerceptron(hk.Module):
    """A graph filter followed by a pointwise nonlinearity: ``sigma(H(S) x)``."""

    def __init__(
        self,
        num_taps: int,
        out_features: int,
        *,
        activation: Activation = jax.nn.relu,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.filter = GraphFilter(num_taps, out_features, name="filter")
        self.activation = activation

    def __call__(self, x: jax.Array, shift: jax.Array) -> jax.Array:
        """``[..., N, G]`` -> ``[..., N, out_features]``."""
        return self.activation(self.filter(x, shift))


class FilterGNN(hk.Module):
    """A multi-layer GNN of graph perceptrons and a final (linear) graph-filter readout.

    ``taps[i]`` and ``features[i]`` are layer ``i``'s number of taps and output features;
    every layer but the last is followed by ``activation``. One layer is a plain filter.
    """

    def __init__(
        self,
        taps: Sequence[int],
        features: Sequence[int],
        *,
        activation: Activation = jax.nn.relu,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if len(taps) != len(features) or not taps:
            raise KhipuError(
                f"taps {list(taps)} and features {list(features)} must be non-empty "
                "and of equal length"
            )
        self.taps = tuple(taps)
        self.features = tuple(features)
        self.activation = activation

    def __call__(self, x: jax.Array, shift: jax.Array) -> jax.Array:
        """``[..., N, G]`` -> ``[..., N, features[-1]]``."""
        for i, (k, f) in enumerate(zip(self.taps[:-1], self.features[:-1], strict=True)):
            x = GraphPerceptron(k, f, activation=self.activation, name=f"perceptron_{i}")(x, shift)
        return GraphFilter(self.taps[-1], self.features[-1], name="readout")(x, shift)
