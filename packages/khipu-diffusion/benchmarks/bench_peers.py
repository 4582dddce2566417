"""khipu's 28x28 U-Net against diffusers' ``UNet2DModel``: train step and DDIM-50, one run.

    hatch run peers:bench            # every package's peer benchmark
    python bench_peers.py [--quick] [--batch-size 128] [--num-samples 64] [--repeats 10]

khipu: the package's default 28x28 denoiser (``default_config((28, 28, 1))``: 2x2 pixel
blocks folded into 4 channels, widths 16 and 32 at 14x14 and 7x7, one ResNet block per
resolution, GroupNorm 8, 4-head self-attention at 7x7). The peer: ``UNet2DModel`` built the same
way (``pixel_unshuffle`` to 4 x 14 x 14 in, ``pixel_shuffle`` out, ``block_out_channels``
(16, 32), one ResNet per level, GroupNorm 8, 4-head attention at 7x7). Their parameter counts are
printed; diffusers has more because its up path runs ``layers_per_block + 1`` ResNets per
level and its middle block adds two ResNets around an attention layer.

Workloads: one Adam step (lr 3e-4) of the ε-prediction loss with T = 1000 (linear β) on
a batch of ``--batch-size`` images, and DDIM with 50 steps (η = 0) drawing
``--num-samples`` images (diffusers' ``DDIMScheduler`` in a plain loop, as its pipeline
does). Compilation is excluded, repeats interleaved, medians and ``peer / khipu`` printed.

``--scaling OUT_DIR`` times the train step over the base width (8-64, levels ``w, 2w``,
GroupNorm 8, 4 heads) at batch 128 and over the batch (32-256) at width 16, and writes
``OUT_DIR/khipu-diffusion_scaling.png`` and ``.json`` (medians, ``peer / khipu``, parameter
counts, load average, versions); nothing else is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from khipu.diffusion import build_denoiser, default_config, get_schedule, make_ddpm_loss, sample
from khipu.diffusion.models import Denoiser

WIDTH = 16  # default_config((28, 28, 1)).dim: widths (16, 32)
SCALING_WIDTHS = (8, 16, 32, 64)
SCALING_BATCHES = (32, 64, 128, 256)
SCALING_REPEATS = 5
T = 1000


class UNetPair(NamedTuple):
    """Both sides at one size: khipu's denoiser and live state, the diffusers U-Net and its
    ``eps(x_t, t)`` on 28x28 images, and one train step each."""

    den: Denoiser
    holder: dict[str, kc.TrainState]
    unet: Any
    eps: Callable[[Any, Any], Any]
    steps: kc.SweepCase


def unet_pair(dim: int, batch_size: int) -> UNetPair:
    """khipu's 28x28 U-Net of base width ``dim`` and diffusers' twin, one Adam step each."""
    import torch
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    config = dataclasses.replace(default_config((28, 28, 1)), dim=dim)
    den = build_denoiser(config)
    params = den.init(jax.random.key(0))
    schedule = get_schedule("linear", T)
    opt = optax.adam(3e-4)
    state = kc.init_train_state(params, opt, key=0)
    step = kc.make_train_step(make_ddpm_loss(den, schedule), opt)
    x_np = np.random.default_rng(0).uniform(-1, 1, (batch_size, 28, 28, 1)).astype(np.float32)
    batch = {"x": jnp.asarray(x_np)}

    p = config.patch
    widths = tuple(config.dim * m for m in config.dim_mults)
    unet = UNet2DModel(
        sample_size=28 // p,
        in_channels=p * p,
        out_channels=p * p,
        block_out_channels=widths,
        layers_per_block=config.num_res_blocks,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=config.groups,
        attention_head_dim=widths[-1] // 4,  # 4 heads, as khipu's
    )
    torch_opt = torch.optim.Adam(unet.parameters(), lr=3e-4)
    alphas_cumprod = torch.from_numpy(np.array(schedule.alphas_cumprod))
    x0 = torch.from_numpy(x_np).permute(0, 3, 1, 2).contiguous()

    def eps(xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = unet(torch.nn.functional.pixel_unshuffle(xt, p), t).sample
        return torch.nn.functional.pixel_shuffle(out, p)

    holder = {"state": state}

    def khipu_step() -> None:
        holder["state"], metrics = step(holder["state"], batch)
        jax.block_until_ready(metrics["loss"])

    def torch_step() -> None:
        torch_opt.zero_grad(set_to_none=True)
        t = torch.randint(0, T, (batch_size,))
        noise = torch.randn_like(x0)
        ab = alphas_cumprod[t].view(-1, 1, 1, 1)
        loss = torch.nn.functional.mse_loss(eps(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, t), noise)
        loss.backward()
        torch_opt.step()
        loss.item()

    info = {
        "khipu_params": kc.total_parameters(params),
        "diffusers_params": sum(q.numel() for q in unet.parameters()),
        "widths": list(widths),
    }
    steps = kc.SweepCase({"khipu": khipu_step, "diffusers": torch_step}, info)
    return UNetPair(den, holder, unet, eps, steps)


def scaling(out_dir: str, repeats: int) -> None:
    """Times the train step over width and batch; writes the figure and the numbers."""
    import diffusers
    import torch

    def build(settings: Mapping[str, int]) -> kc.SweepCase:
        return unet_pair(settings["width"], settings["batch"]).steps

    sweep = kc.scaling_sweep(
        {"width": WIDTH, "batch": 128},
        {"width": SCALING_WIDTHS, "batch": SCALING_BATCHES},
        build,
        repeats=repeats,
        log=lambda line: print(line, flush=True),
    )
    report = kc.scaling_report(
        sweep,
        baseline="khipu",
        title="28x28 U-Net train step (ε-prediction, Adam): khipu vs diffusers UNet2DModel",
        axis_labels={"width": "base width (levels w, 2w)", "batch": "batch size"},
        versions={
            **kc.package_versions("diffusion"),
            "torch": torch.__version__,
            "diffusers": diffusers.__version__,
        },
        notes={
            "torch_threads": torch.get_num_threads(),
            "parameters": "diffusers has more: layers_per_block + 1 ResNets per level on the "
            "way up, two ResNets around the middle attention",
        },
    )
    for path in kc.save_scaling_report(report, out_dir, "khipu-diffusion_scaling"):
        print(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--scaling",
        metavar="OUT_DIR",
        help="train step vs width and batch; write OUT_DIR/khipu-diffusion_scaling.{png,json}",
    )
    args = parser.parse_args(argv)
    if args.scaling is not None:
        try:
            kc.scaling_report_paths(args.scaling, "khipu-diffusion_scaling")
        except kc.KhipuError as exc:
            parser.error(str(exc))
    try:
        import torch
        from diffusers import DDIMScheduler
    except ImportError:
        print("torch / diffusers not installed: use `hatch run peers:bench`; skipped.")
        return
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # `taskset -c 0`: 1 thread
    if args.scaling is not None:
        scaling(args.scaling, 3 if args.quick else SCALING_REPEATS)
        return
    repeats = 3 if args.quick else args.repeats
    pair = unet_pair(WIDTH, args.batch_size)
    den, holder, unet, eps = pair.den, pair.holder, pair.unet, pair.eps
    schedule = get_schedule("linear", T)
    ddim = DDIMScheduler(
        num_train_timesteps=T, beta_start=1e-4, beta_end=0.02, beta_schedule="linear"
    )
    seeds = iter(range(10**6))

    def khipu_ddim() -> None:
        out = sample(
            "ddim",
            den,
            holder["state"].params,
            schedule,
            jax.random.key(next(seeds)),
            args.num_samples,
            steps=50,
        )
        jax.block_until_ready(out.x)

    def torch_ddim() -> None:
        ddim.set_timesteps(50)
        x = torch.randn(args.num_samples, 1, 28, 28)
        with torch.no_grad():
            for t in ddim.timesteps:
                x = ddim.step(eps(x, t), t, x, eta=0.0).prev_sample

    for _ in range(3):
        for fn in pair.steps.fns.values():
            fn()
    train = kc.interleaved_medians(pair.steps.fns, repeats)
    unet.eval()
    khipu_ddim()
    torch_ddim()
    gen = kc.interleaved_medians(
        {"khipu": khipu_ddim, "diffusers": torch_ddim}, max(3, repeats // 2)
    )

    info = pair.steps.info
    print(
        f"load average: {os.getloadavg()[0]:.1f}; jax {jax.__version__}, torch {torch.__version__}"
    )
    print(
        f"28x28 U-Net (patch 2, widths {tuple(info['widths'])}, attention at the lowest resolution)"
    )
    print(f"  parameters: khipu {info['khipu_params']:,}, diffusers {info['diffusers_params']:,}")
    print(f"  train step, batch {args.batch_size}:")
    print(
        f"    khipu {train['khipu'] * 1e3:8.2f} ms   diffusers {train['diffusers'] * 1e3:8.2f} ms"
    )
    print(f"    peer / khipu: {train['diffusers'] / train['khipu']:.2f}  (median of {repeats})")
    print(f"  DDIM-50, {args.num_samples} samples:")
    print(f"    khipu {gen['khipu'] * 1e3:8.2f} ms   diffusers {gen['diffusers'] * 1e3:8.2f} ms")
    print(f"    peer / khipu: {gen['diffusers'] / gen['khipu']:.2f}")


if __name__ == "__main__":
    main()
