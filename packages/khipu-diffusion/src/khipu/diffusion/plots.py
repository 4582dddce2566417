"""Figures of the practical. Every function returns its ``Figure`` (saved as PNG when
given ``path``); :func:`save_denoising_gif` writes an animated GIF with pillow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from khipu.core.errors import KhipuError
from khipu.core.plotting import new_figure, plot_image_grid, save_figure
from khipu.core.random import PRNGKey
from khipu.diffusion.data import to_display_range, to_uint8
from khipu.diffusion.schedules import Schedule, q_sample
from khipu.diffusion.toy import GaussianMixture, mixture_log_prob
from matplotlib.figure import Figure


def plot_mixture(
    mixture: GaussianMixture,
    *,
    paths: Sequence[np.ndarray | jax.Array] = (),
    points: np.ndarray | jax.Array | None = None,
    extent: tuple[float, float, float, float] = (-6.0, 6.0, -7.0, 7.0),
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Contours of ``log p`` with optional trajectories ``[S, 2]`` and points ``[N, 2]``."""
    x0, x1, y0, y1 = extent
    xs, ys = np.meshgrid(np.linspace(x0, x1, 120), np.linspace(y0, y1, 120))
    grid = jnp.asarray(np.stack([xs, ys], -1), jnp.float32)
    logp = np.asarray(mixture_log_prob(mixture, grid))
    fig = new_figure(5.0, 5.0)
    ax = fig.add_subplot()
    ax.contourf(xs, ys, np.maximum(logp, -12.0), levels=20, cmap="viridis")
    if points is not None:
        p = np.asarray(points)
        ax.scatter(p[:, 0], p[:, 1], s=4, c="white", alpha=0.6, label="samples")
    for i, traj in enumerate(paths):
        t = np.asarray(traj)
        ax.plot(
            t[:, 0], t[:, 1], "-o", ms=2, lw=1, color="tab:red", label="path" if i == 0 else None
        )
        ax.plot(t[-1, 0], t[-1, 1], "*", ms=10, color="tab:orange")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if points is not None or paths:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "log p(x) of the Gaussian mixture")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_schedules(schedules: Mapping[str, Schedule], *, path: str | Path | None = None) -> Figure:
    """β_t, ᾱ_t and √ᾱ_t of each schedule, with ᾱ_T in the legend."""
    fig = new_figure(12.0, 3.5)
    axes = fig.subplots(1, 3)
    for name, s in schedules.items():
        t = np.arange(1, s.num_steps + 1) / s.num_steps
        abar_t = float(s.alphas_cumprod[-1])
        axes[0].plot(t, np.asarray(s.betas), label=name)
        axes[1].plot(t, np.asarray(s.alphas_cumprod), label=f"{name} (ᾱ_T = {abar_t:.3g})")
        axes[2].plot(t, np.asarray(s.sqrt_alphas_cumprod), label=name)
    for ax, title in zip(
        axes, ("β_t", "ᾱ_t (signal variance)", "√ᾱ_t (signal scale)"), strict=True
    ):
        ax.set_title(title)
        ax.set_xlabel("t / T")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_forward_process(
    image: np.ndarray | jax.Array,
    schedule: Schedule,
    key: PRNGKey,
    *,
    timesteps: Sequence[int] | None = None,
    path: str | Path | None = None,
) -> Figure:
    """One image ``[H, W, C]`` in [−1, 1] noised to several ``t`` (a row of panels).

    Values are mapped back to [0, 1] and *clipped* before display (the original
    converted to uint8 without clipping, so noisy pixels wrapped around).
    """
    img = jnp.asarray(image, jnp.float32)
    if img.ndim != 3:
        raise KhipuError(f"need one image [H, W, C], got shape {img.shape}")
    steps = schedule.num_steps
    ts = (
        list(timesteps)
        if timesteps is not None
        else sorted({0, steps // 20, steps // 5, steps // 2, steps - 1})
    )
    if any(not 0 <= t < steps for t in ts):
        raise KhipuError(f"time steps must lie in [0, {steps}), got {ts}")
    x0 = jnp.broadcast_to(img[None], (len(ts), *img.shape))
    noise = jax.random.normal(key, x0.shape)
    xt = q_sample(schedule, x0, jnp.asarray(ts), noise)
    panels = np.concatenate([to_display_range(img)[None], to_display_range(xt)])
    titles = ["x_0", *[f"x_{t + 1}" for t in ts]]
    return plot_image_grid(panels, titles=titles, ncols=len(panels), path=path)


def plot_sample_grid(
    samples: np.ndarray | jax.Array,
    *,
    labels: Sequence[int] | np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    ncols: int = 10,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """Generated images ``[N, H, W, C]`` in [−1, 1] as a grid (titled by label if given)."""
    titles = None
    if labels is not None:
        names = class_names or [str(i) for i in range(int(np.max(labels)) + 1)]
        titles = [names[int(y)] for y in labels]
    return plot_image_grid(
        to_display_range(samples), titles=titles, ncols=ncols, suptitle=title, path=path
    )


def plot_points(
    samples: np.ndarray | jax.Array,
    reference: np.ndarray | jax.Array,
    *,
    title: str | None = None,
    path: str | Path | None = None,
) -> Figure:
    """2-D samples next to reference points from the true distribution."""
    fig = new_figure(9.0, 4.5)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    for ax, pts, name in ((axes[0], reference, "data"), (axes[1], samples, "generated")):
        p = np.asarray(pts)
        ax.scatter(p[:, 0], p[:, 1], s=3, alpha=0.5)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_denoising(
    trajectory: np.ndarray | jax.Array,
    *,
    index: int = 0,
    frames: int = 8,
    path: str | Path | None = None,
) -> Figure:
    """``frames`` snapshots of one sample's trajectory ``[S + 1, B, H, W, C]`` (x_T … x_0)."""
    traj = np.asarray(trajectory)
    if traj.ndim != 5:
        raise KhipuError(f"need an image trajectory [S, B, H, W, C], got shape {traj.shape}")
    picks = np.unique(np.linspace(0, len(traj) - 1, frames).round().astype(int))
    return plot_image_grid(
        to_display_range(traj[picks, index]),
        titles=[f"step {i}" for i in picks],
        ncols=len(picks),
        path=path,
    )


def save_denoising_gif(
    trajectory: np.ndarray | jax.Array,
    path: str | Path,
    *,
    ncols: int = 8,
    max_frames: int = 60,
    scale: int = 4,
    duration_ms: int = 60,
) -> Path:
    """Writes the denoising of a batch as an animated GIF (pillow; no ffmpeg needed).

    Args:
      trajectory: ``[S + 1, B, H, W, C]`` in [−1, 1] (``x_T`` first).
      path: the ``.gif`` to write.
      ncols: images per row of each frame.
      max_frames: keep at most this many frames (evenly spaced, last one included).
      scale: pixel magnification.
      duration_ms: time per frame (the last frame is held longer).

    Returns:
      The path written.
    """
    from PIL import Image

    traj = np.asarray(trajectory)
    if traj.ndim != 5:
        raise KhipuError(f"need an image trajectory [S, B, H, W, C], got shape {traj.shape}")
    picks = np.unique(np.linspace(0, len(traj) - 1, min(max_frames, len(traj))).round().astype(int))
    _, b, h, w, c = traj.shape
    cols = min(ncols, b)
    rows = -(-b // cols)
    images = []
    for i in picks:
        frame = np.zeros((rows * (h + 1), cols * (w + 1), c), np.uint8)
        pix = to_uint8(traj[i])
        for j in range(b):
            r, q = divmod(j, cols)
            frame[r * (h + 1) : r * (h + 1) + h, q * (w + 1) : q * (w + 1) + w] = pix[j]
        frame = frame.repeat(scale, 0).repeat(scale, 1)
        images.append(Image.fromarray(frame[..., 0] if c == 1 else frame))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [duration_ms] * (len(images) - 1) + [1000]
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=durations, loop=0, format="GIF"
    )
    return path
