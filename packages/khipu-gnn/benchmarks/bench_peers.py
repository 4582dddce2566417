"""khipu's 2-layer GCN train step against PyTorch Geometric's ``GCNConv``, in one run.

    hatch run peers:bench            # every package's peer benchmark
    python bench_peers.py [--quick] [--nodes 10000] [--edges 100000] [--repeats 30]

The same model on both sides: 2 GCN layers (64 → 16 → 4 features, ReLU between,
self-edges added, symmetric normalisation recomputed every step as ``GCNConv`` does with
``cached=False``), cross-entropy on every node, Adam (lr 1e-2), 1,108 parameters each.
The graph is random and undirected (each of ``--edges / 2`` pairs both ways), where
khipu's ``D_in^-1/2 Âᵀ D_out^-1/2`` and PyG's normalisation coincide: the script copies
khipu's weights into PyG and checks that the two forward passes agree before timing.
Compilation is excluded, repeats are interleaved, medians and ``peer / khipu`` printed.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from khipu.gnn.depth import gcn_stack, init_gcn_layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    try:
        import torch
        from torch_geometric.nn import GCNConv
    except ImportError:
        print("torch / torch_geometric not installed: use `hatch run peers:bench`; skipped.")
        return
    repeats = 5 if args.quick else args.repeats
    torch.manual_seed(0)
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # `taskset -c 0`: 1 thread

    n, features, hidden, classes = args.nodes, 64, 16, 4
    rng = np.random.default_rng(0)
    a = rng.integers(0, n, args.edges // 2)
    b = rng.integers(0, n, args.edges // 2)
    a, b = a[a != b], b[a != b]  # PyG adds a self-loop only where none is (khipu: always)
    senders_np = np.concatenate([a, b]).astype(np.int32)
    receivers_np = np.concatenate([b, a]).astype(np.int32)
    x_np = rng.standard_normal((n, features)).astype(np.float32)
    y_np = rng.integers(0, classes, n)

    # khipu
    layers = init_gcn_layers(jax.random.key(0), [features, hidden, classes])
    senders, receivers = jnp.asarray(senders_np), jnp.asarray(receivers_np)
    # the edges are arguments, not constants: XLA would fold the normalisation at compile time
    batch = {
        "x": jnp.asarray(x_np),
        "y": jnp.asarray(y_np, jnp.int32),
        "senders": senders,
        "receivers": receivers,
    }

    def loss_fn(params: Any, model_state: Any, key: jax.Array, batch: Any) -> Any:
        del key
        logits = gcn_stack(params, batch["x"], batch["senders"], batch["receivers"], n)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
        return loss, (model_state, {})

    opt = optax.adam(1e-2)
    state = kc.init_train_state(layers, opt, key=0)
    step = kc.make_train_step(loss_fn, opt)
    khipu_params = sum(int(np.size(p)) for p in jax.tree_util.tree_leaves(layers))

    # PyG, with khipu's initial weights
    class GCN(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = GCNConv(features, hidden)
            self.conv2 = GCNConv(hidden, classes)

        def forward(self, x: Any, edge_index: Any) -> Any:
            return self.conv2(torch.relu(self.conv1(x, edge_index)), edge_index)

    net = GCN()
    with torch.no_grad():
        for conv, (w, bias) in zip((net.conv1, net.conv2), layers, strict=True):
            conv.lin.weight.copy_(torch.from_numpy(np.asarray(w).T.copy()))
            conv.bias.copy_(torch.from_numpy(np.array(bias)))  # a writable copy
    torch_params = sum(p.numel() for p in net.parameters())
    edge_index = torch.from_numpy(np.stack([senders_np, receivers_np]).astype(np.int64))
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np.astype(np.int64))
    with torch.no_grad():
        theirs = net(x, edge_index).numpy()
    forward = jax.jit(lambda p, x, s, r: gcn_stack(p, x, s, r, n))
    ours = np.asarray(forward(layers, batch["x"], senders, receivers))
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    torch_opt = torch.optim.Adam(net.parameters(), lr=1e-2)

    holder = {"state": state}

    def khipu_step() -> None:
        holder["state"], metrics = step(holder["state"], batch)
        jax.block_until_ready(metrics["loss"])

    def torch_step() -> None:
        torch_opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(x, edge_index), y)
        loss.backward()
        torch_opt.step()
        loss.item()

    for _ in range(3):
        khipu_step()
        torch_step()
    medians = kc.interleaved_medians({"khipu": khipu_step, "pyg": torch_step}, repeats)
    print(
        f"load average: {os.getloadavg()[0]:.1f}; jax {jax.__version__}, torch {torch.__version__}"
    )
    print(f"2-layer GCN train step, {n} nodes, {len(senders_np)} edges, {features} features")
    print(f"  parameters: khipu {khipu_params:,}, PyG {torch_params:,}; same forward: yes")
    print(f"  khipu {medians['khipu'] * 1e3:8.2f} ms   PyG {medians['pyg'] * 1e3:8.2f} ms")
    print(f"  peer / khipu: {medians['pyg'] / medians['khipu']:.2f}  (median of {repeats})")


if __name__ == "__main__":
    main()
