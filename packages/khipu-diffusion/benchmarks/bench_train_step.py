"""One training step: the default MNIST denoiser vs the original practical's U-Net.

The original trained lucidrains' U-Net as written in the practical (dim 28, dim_mults
(1, 2, 4), 7x7 init conv with 18 channels, two ResNet blocks per resolution at 28x28,
14x14 and 7x7, transposed-conv upsampling, GroupNorm with 7 groups; 2,261,033
parameters) with T = 200 and batch 128: about 10 s per step on a 2-core CPU. This
script rebuilds that network in Haiku, times one jitted Adam step of it and of this
package's default 28x28 configuration (``default_config((28, 28, 1))``) on the same
random batch, after compiling both, and prints the ratio.

    python bench_train_step.py [--batch-size 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import khipu.core as kc
import optax
from khipu.diffusion import build_denoiser, default_config, get_schedule, make_ddpm_loss


class _Block(hk.Module):
    def __init__(self, dim: int, groups: int) -> None:
        super().__init__()
        self.dim, self.groups = dim, groups

    def __call__(self, x: jax.Array) -> jax.Array:
        x = hk.Conv2D(self.dim, 3, padding=(1, 1))(x)
        return jax.nn.silu(hk.GroupNorm(self.groups)(x))


class _Resnet(hk.Module):
    def __init__(self, dim: int, groups: int) -> None:
        super().__init__()
        self.dim, self.groups = dim, groups

    def __call__(self, x: jax.Array, temb: jax.Array) -> jax.Array:
        h = _Block(self.dim, self.groups)(x)
        h = h + hk.Linear(self.dim)(jax.nn.silu(temb))[:, None, None, :]
        h = _Block(self.dim, self.groups)(h)
        res = x if x.shape[-1] == self.dim else hk.Conv2D(self.dim, 1)(x)
        return h + res


def original_unet(
    x: jax.Array, t: jax.Array, dim: int = 28, mults: tuple[int, ...] = (1, 2, 4)
) -> jax.Array:
    """The practical's ``Unet(dim=28, dim_mults=(1, 2, 4), channels=1, resnet_block_groups=7)``."""
    groups = 7
    half = dim // 2
    freqs = jnp.exp(-math.log(10000) / (half - 1) * jnp.arange(half))
    temb = t.astype(jnp.float32)[:, None] * freqs[None, :]
    temb = jnp.concatenate([jnp.sin(temb), jnp.cos(temb)], -1)
    temb = hk.Linear(4 * dim)(jax.nn.gelu(hk.Linear(4 * dim)(temb)))
    dims = [dim // 3 * 2, *[dim * m for m in mults]]
    h = hk.Conv2D(dims[0], 7, padding=(3, 3))(x)
    skips = []
    for i, d_out in enumerate(dims[1:]):
        h = _Resnet(d_out, groups)(h, temb)
        h = _Resnet(d_out, groups)(h, temb)
        skips.append(h)
        if i < len(mults) - 1:
            h = hk.Conv2D(d_out, 4, stride=2, padding=(1, 1))(h)
    h = _Resnet(dims[-1], groups)(h, temb)
    h = _Resnet(dims[-1], groups)(h, temb)
    for d_in in reversed(dims[1:-1]):
        h = jnp.concatenate([h, skips.pop()], -1)
        h = _Resnet(d_in, groups)(h, temb)
        h = _Resnet(d_in, groups)(h, temb)
        h = hk.Conv2DTranspose(d_in, 4, stride=2)(h)
    h = _Resnet(dim, groups)(h, temb)
    return hk.Conv2D(x.shape[-1], 1)(h)


def _time_step(
    loss_fn: Any, params: Any, batch: dict[str, jax.Array], repeats: int
) -> tuple[float, float]:
    opt = optax.adam(3e-4)
    step = kc.make_train_step(loss_fn, opt)
    state = kc.init_train_state(params, opt, key=0)
    start = time.perf_counter()
    state, _ = step(state, batch)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        state, _ = step(state, batch)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - start)
    return min(times), compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    x = jax.random.uniform(jax.random.key(0), (args.batch_size, 28, 28, 1), minval=-1, maxval=1)
    batch = {"x": x}

    # the original: T = 200, its U-Net, the plain ε-MSE loss on the batch
    net = hk.without_apply_rng(hk.transform(original_unet))
    params0 = net.init(jax.random.key(42), x[:1], jnp.zeros((1,), jnp.int32))
    sched0 = get_schedule("linear", 200)

    def loss0(params: Any, model_state: Any, key: jax.Array, b: Any) -> Any:
        k_t, k_n = jax.random.split(key)
        t = jax.random.randint(k_t, (b["x"].shape[0],), 0, 200)
        noise = jax.random.normal(k_n, b["x"].shape)
        a = sched0.sqrt_alphas_cumprod[t][:, None, None, None]
        s = sched0.sqrt_one_minus_alphas_cumprod[t][:, None, None, None]
        pred = net.apply(params, a * b["x"] + s * noise, t)
        return jnp.mean((noise - pred) ** 2), (model_state, {})

    den = build_denoiser(default_config((28, 28, 1)))
    params1 = den.init(jax.random.key(0))
    loss1 = make_ddpm_loss(den, get_schedule("linear", 1000))

    new, new_c = _time_step(loss1, params1, batch, args.repeats)
    old, old_c = _time_step(loss0, params0, batch, args.repeats)
    print(f"one training step, batch {args.batch_size}, 28x28x1 (best of {args.repeats})")
    print(
        f"  original U-Net (dim 28, mults (1,2,4), T=200): {old:8.3f} s  "
        f"{kc.total_parameters(params0):>9,} params  (compile {old_c:.1f} s)"
    )
    print(
        f"  khipu default MNIST config:                    {new:8.3f} s  "
        f"{kc.total_parameters(params1):>9,} params  (compile {new_c:.1f} s)"
    )
    print(f"  RATIO original / khipu: {old / new:.1f}x")


if __name__ == "__main__":
    main()
