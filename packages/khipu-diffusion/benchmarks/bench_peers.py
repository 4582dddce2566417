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
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
from khipu.diffusion import build_denoiser, default_config, get_schedule, make_ddpm_loss, sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--num-samples", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    try:
        import torch
        from diffusers import DDIMScheduler, UNet2DModel
    except ImportError:
        print("torch / diffusers not installed: use `hatch run peers:bench`; skipped.")
        return
    repeats = 3 if args.quick else args.repeats
    torch.manual_seed(0)
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # `taskset -c 0`: 1 thread

    config = default_config((28, 28, 1))
    den = build_denoiser(config)
    params = den.init(jax.random.key(0))
    schedule = get_schedule("linear", 1000)
    opt = optax.adam(3e-4)
    state = kc.init_train_state(params, opt, key=0)
    step = kc.make_train_step(make_ddpm_loss(den, schedule), opt)
    x_np = np.random.default_rng(0).uniform(-1, 1, (args.batch_size, 28, 28, 1)).astype(np.float32)
    batch = {"x": jnp.asarray(x_np)}
    khipu_params = kc.total_parameters(params)

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
    torch_params = sum(q.numel() for q in unet.parameters())
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
        t = torch.randint(0, 1000, (args.batch_size,))
        noise = torch.randn_like(x0)
        ab = alphas_cumprod[t].view(-1, 1, 1, 1)
        loss = torch.nn.functional.mse_loss(eps(ab.sqrt() * x0 + (1 - ab).sqrt() * noise, t), noise)
        loss.backward()
        torch_opt.step()
        loss.item()

    ddim = DDIMScheduler(
        num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02, beta_schedule="linear"
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
        khipu_step()
        torch_step()
    train = kc.interleaved_medians({"khipu": khipu_step, "diffusers": torch_step}, repeats)
    unet.eval()
    khipu_ddim()
    torch_ddim()
    gen = kc.interleaved_medians(
        {"khipu": khipu_ddim, "diffusers": torch_ddim}, max(3, repeats // 2)
    )

    print(
        f"load average: {os.getloadavg()[0]:.1f}; jax {jax.__version__}, torch {torch.__version__}"
    )
    print(f"28x28 U-Net (patch {p}, widths {widths}, attention at the lowest resolution)")
    print(f"  parameters: khipu {khipu_params:,}, diffusers {torch_params:,}")
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
