"""All-reduce time of a parameter gradient between 2 processes over loopback.

The multi-process step of ``fit()`` all-reduces the gradient: P float32
values per step. This measures that all-reduce between two processes of one
CPU device each (gloo over 127.0.0.1), for the parameter counts of the
practicals' default models and a few larger sizes, against a baseline in the
same run: the same reduction between two devices of *one* process (no
network), so the ratio is what crossing processes costs.

    python shared/khipu-core/benchmarks/bench_allreduce.py            # launches itself
    python shared/khipu-core/benchmarks/bench_allreduce.py --sizes 53002 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# Parameter counts of the default models (from their checkpoints): khipu cnn train
# (lenet, digits), khipu transformer train --task invert, khipu diffusion train (U-Net, digits).
DEFAULT_SIZES = {
    "cnn lenet": 53_002,
    "transformer invert": 238_503,
    "diffusion unet": 464_065,
    "1M": 1_000_000,
    "10M": 10_000_000,
}


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=None, help="float32 counts")
    parser.add_argument("--repeats", type=int, default=30)
    return parser.parse_args()


def _time_allreduce(size: int, devices: list, repeats: int) -> float:  # type: ignore[type-arg]
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.asarray(devices), ("p",))
    rows = NamedSharding(mesh, PartitionSpec("p"))
    local = [d for d in devices if d.process_index == jax.process_index()]
    x = jax.make_array_from_process_local_data(
        rows, np.ones((len(local), size), np.float32), (len(devices), size)
    )
    reduce = jax.jit(
        lambda a: jnp.sum(a, axis=0), out_shardings=NamedSharding(mesh, PartitionSpec())
    )
    reduce(x).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        reduce(x).block_until_ready()
        times.append(time.perf_counter() - start)
    return min(times)  # best of: the least disturbed by other work on the machine


def main() -> int:
    args = _parse()
    sizes = dict(DEFAULT_SIZES)
    if args.sizes:
        sizes = {f"{n:,}": n for n in args.sizes}
    sizes = {k: v for k, v in sizes.items() if v > 0}
    if "KHIPU_PROCESS_ID" not in os.environ:
        # Baseline here (one process, two CPU devices), then 2 processes x 1 device.
        os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
        os.environ["JAX_PLATFORMS"] = "cpu"
        import jax

        base = [_time_allreduce(n, jax.devices()[:2], args.repeats) for n in sizes.values()]
        os.environ["BENCH_BASELINE"] = json.dumps(base)
        from khipu.core.launch import launch

        return launch([sys.executable, *sys.argv], num_processes=2, devices_per_process=1)
    from khipu.core import distributed

    distributed.initialize()
    import jax

    base = json.loads(os.environ["BENCH_BASELINE"])
    rows = [(k, n, _time_allreduce(n, jax.devices(), args.repeats)) for k, n in sizes.items()]
    if jax.process_index() == 0:
        print(
            f"{'gradient':<20} {'floats':>11} {'MiB':>6} {'1 process ms':>13} "
            f"{'2 processes ms':>15} {'ratio':>6} {'GB/s':>6}"
        )
        for (name, size, across), local in zip(rows, base, strict=True):
            mib = size * 4 / 2**20
            rate = size * 4 / across / 1e9
            print(
                f"{name:<20} {size:>11,} {mib:>6.2f} {local * 1e3:>13.2f} "
                f"{across * 1e3:>15.2f} {across / local:>6.1f} {rate:>6.2f}"
            )
    return distributed.finish(0)


if __name__ == "__main__":
    raise SystemExit(main())
