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
from khipu.diffusion.models import DenoiserConfig, unet_layout
from khipu.diffusion.schedules import Schedule, q_sample, vlb_weights
from khipu.diffusion.toy import (
    GaussianMixture,
    class_posterior,
    fit_class_gaussians,
    gaussian_conditional,
    gaussian_mismatch,
    mixture_log_prob,
    reverse_step_density,
)
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


# Colours of the U-Net diagram (as in the original practical's figure).
UNET_COLOURS = {
    "resnet": "tab:orange",
    "down": "tab:red",
    "up": "goldenrod",
    "skip": "tab:green",
    "out": "tab:purple",
}


def plot_unet(config: DenoiserConfig, *, path: str | Path | None = None) -> Figure:
    """A diagram of the U-Net ``config`` builds, drawn from :func:`unet_layout`.

    Boxes are feature maps labelled ``H×W×C``; orange arrows are ResNet blocks, red
    ones stride-2 down-sampling, gold ones up-sampling, green dashed ones the skip
    connections (copy and concatenate), purple the final 1×1 convolution.
    """
    levels = unet_layout(config)
    depth = len(levels)
    h0, w0, c_in = config.data_shape
    fig = new_figure(11.0, 2.2 + 1.4 * depth)
    ax = fig.add_subplot()
    ax.set_axis_off()

    def box(x: float, y: float, text: str, colour: str = "whitesmoke") -> None:
        ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=8,
            bbox={"boxstyle": "round,pad=0.3", "fc": colour, "ec": "0.3"},
        )

    def arrow(x0: float, y0: float, x1: float, y1: float, colour: str, style: str = "-") -> None:
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 1.8, "linestyle": style},
        )

    span = depth + 1.0
    for lv, level in enumerate(levels):
        y = -lv
        xd, xu = lv * 0.8, 2 * span - lv * 0.8
        shape = f"{level.height}×{level.width}×{level.channels}"
        box(xd, y, f"down {lv}: {shape}\n{level.num_blocks} ResNet block(s)")
        box(xu, y, f"up {lv}: {shape}\n{level.num_blocks} ResNet block(s)")
        arrow(xd + 1.1, y + 0.05, xu - 1.1, y + 0.05, UNET_COLOURS["skip"], "--")
        ax.text(
            span,
            y + 0.18,
            f"skip: copy + concatenate ({level.num_blocks}×)",
            ha="center",
            fontsize=7,
            color=UNET_COLOURS["skip"],
        )
        if lv < depth - 1:
            arrow(xd, y - 0.25, xd + 0.8, y - 0.75, UNET_COLOURS["down"])
            arrow(xu - 0.8, y - 0.75, xu, y - 0.25, UNET_COLOURS["up"])
    mid = levels[-1]
    box(
        span,
        -depth,
        f"middle: {mid.height}×{mid.width}×{mid.channels}\n2 ResNet blocks"
        + (" + attention" if config.attention else ""),
        "lavender",
    )
    last = depth - 1
    arrow(last * 0.8 + 0.3, -last - 0.25, span - 0.6, -depth + 0.2, UNET_COLOURS["resnet"])
    arrow(
        span + 0.6, -depth + 0.2, 2 * span - last * 0.8 - 0.3, -last - 0.25, UNET_COLOURS["resnet"]
    )
    box(-0.2, 1.2, f"x_t: {h0}×{w0}×{c_in}, t (and y)", "lightcyan")
    box(2 * span + 0.2, 1.2, f"ε̂: {h0}×{w0}×{c_in}", "lightcyan")
    arrow(-0.2, 0.95, 0.0, 0.35, UNET_COLOURS["resnet"])
    arrow(2 * span, 0.35, 2 * span + 0.2, 0.95, UNET_COLOURS["out"])
    ax.set_xlim(-1.8, 2 * span + 1.8)
    ax.set_ylim(-depth - 0.7, 1.7)
    ax.set_title(
        "U-Net: orange ResNet blocks (+ time embedding), red down-sampling, gold "
        "up-sampling, green skips, purple output conv",
        fontsize=9,
    )
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_generative_vs_discriminative(
    x: np.ndarray | jax.Array,
    labels: np.ndarray | jax.Array,
    *,
    path: str | Path | None = None,
) -> Figure:
    """Two views of the same labelled 2-D points ``[N, 2]``, ``[N]`` (two classes).

    Left, discriminative: ``p(y = 1 | x)`` and its decision boundary
    ``p(y = 0 | x) = p(y = 1 | x)``. Right, generative: the contours of ``p(x | y)`` of
    each class (the boundary on the left follows from them by Bayes' rule).
    """
    pts, lab = np.asarray(x, np.float64), np.asarray(labels)
    model = fit_class_gaussians(pts, lab)
    lo, hi = pts.min(0) - 1.0, pts.max(0) + 1.0
    xs, ys = np.meshgrid(np.linspace(lo[0], hi[0], 150), np.linspace(lo[1], hi[1], 150))
    grid = np.stack([xs, ys], -1)
    post = class_posterior(model, grid)[..., 1]
    fig = new_figure(10.0, 4.5)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    colours = ("tab:red", "tab:blue")
    for ax in axes:
        for c in (0, 1):
            ax.scatter(*pts[lab == c].T, s=6, color=colours[c], alpha=0.6, label=f"y = {c}")
        ax.grid(alpha=0.3)
        ax.set_xlabel("$x_1$")
    axes[0].contourf(xs, ys, post, levels=10, cmap="RdBu", alpha=0.3)
    axes[0].contour(xs, ys, post, levels=[0.5], colors="k", linestyles="--")
    axes[0].set_title("discriminative: p(y | x) and the boundary p(y=1 | x) = ½")
    axes[0].set_ylabel("$x_2$")
    for c in (0, 1):
        diff = grid - model.means[c]
        maha = np.einsum("...i,ij,...j->...", diff, np.linalg.inv(model.covs[c]), diff)
        axes[1].contour(xs, ys, maha, levels=[1.0, 4.0, 9.0], colors=colours[c])
    axes[1].set_title("generative: p(x | y) for each class (1, 2, 3 σ)")
    axes[1].legend(loc="upper right", fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_gaussian_conditionals(
    mean: Sequence[float] | np.ndarray,
    cov: Sequence[Sequence[float]] | np.ndarray,
    *,
    x: float = -0.8,
    y: float = 2.0,
    path: str | Path | None = None,
) -> Figure:
    """A 2-D Gaussian ``p(x, y)`` with its marginals ``p(x)``, ``p(y)`` and the
    conditionals ``p(y | x)`` and ``p(x | y)`` at the given values (the original's
    refresher figure: the practical's mean [0.8, 3.2], x = −0.8, y = 2)."""
    m, c = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
    mu_y, var_y = gaussian_conditional(m, c, x=x)
    mu_x, var_x = gaussian_conditional(m, c, y=y)

    def pdf(v: np.ndarray, mu: float, var: float) -> np.ndarray:
        out: np.ndarray = np.exp(-0.5 * (v - mu) ** 2 / var) / np.sqrt(2 * np.pi * var)
        return out

    fig = new_figure(8.0, 7.0)
    grid = fig.add_gridspec(2, 2, width_ratios=(1, 3), height_ratios=(3, 1))
    ax = fig.add_subplot(grid[0, 1])
    axl = fig.add_subplot(grid[0, 0], sharey=ax)
    axb = fig.add_subplot(grid[1, 1], sharex=ax)
    sx, sy = np.sqrt(c[0, 0]), np.sqrt(c[1, 1])
    xs = np.linspace(m[0] - 4 * sx, m[0] + 4 * sx, 300)
    ys = np.linspace(m[1] - 4 * sy, m[1] + 4 * sy, 300)
    gx, gy = np.meshgrid(xs, ys)
    diff = np.stack([gx - m[0], gy - m[1]], -1)
    maha = np.einsum("...i,ij,...j->...", diff, np.linalg.inv(c), diff)
    ax.contour(gx, gy, maha, levels=[1.0, 4.84], colors="b")
    ax.plot(*m, "bx")
    ax.axvline(x, color="g", lw=1)
    ax.axhline(y, color="orange", lw=1)
    ax.set_title("joint p(x, y)")
    axb.plot(xs, pdf(xs, m[0], c[0, 0]), "b", label="marginal p(x)")
    axb.plot(xs, pdf(xs, mu_x, var_x), color="orange", label=f"conditional p(x | y={y:g})")
    axb.set_xlabel("x")
    axb.legend(fontsize=7)
    axl.plot(pdf(ys, m[1], c[1, 1]), ys, "b", label="marginal p(y)")
    axl.plot(pdf(ys, mu_y, var_y), ys, "g", label=f"conditional p(y | x={x:g})")
    axl.invert_xaxis()
    axl.set_ylabel("y")
    axl.legend(fontsize=7, loc="lower left")
    for a in (ax, axl, axb):
        a.grid(alpha=0.3)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_vlb_weights(schedule: Schedule, *, path: str | Path | None = None) -> Figure:
    """The weight λ_t of each term of the variational bound (ε-form) against t, next to
    the simple loss's λ_t = 1, on a log scale."""
    t = np.arange(1, schedule.num_steps + 1)
    fig = new_figure(6.5, 4.0)
    ax = fig.add_subplot()
    for variance, name in (("posterior", "σ² = β̃_t"), ("beta", "σ² = β_t")):
        ax.plot(t, np.asarray(vlb_weights(schedule, variance=variance)), label=f"bound, {name}")
    ax.axhline(1.0, color="k", ls="--", label="simple loss (λ_t = 1)")
    ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("λ_t")
    ax.set_title("The simple loss reweights the bound's terms")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_reverse_step(
    betas: Sequence[float] = (0.5, 0.1, 0.01),
    *,
    x_t: float = 0.3,
    path: str | Path | None = None,
) -> Figure:
    """The exact reverse step ``q(x_{t−1} | x_t)`` for data ``½ N(−1, 0.2²) + ½ N(1, 0.2²)``
    and one forward step of each β, next to the Gaussian of the same mean and variance
    (the total-variation distance in each title): Gaussian only for small β."""
    fig = new_figure(4.0 * len(betas), 3.5)
    axes = np.atleast_1d(fig.subplots(1, len(betas)))
    for ax, beta in zip(axes, betas, strict=True):
        grid = np.linspace(-2.5, 2.5, 2001) * 1.0
        dens = reverse_step_density([0.5, 0.5], [-1.0, 1.0], [0.2, 0.2], x_t, beta, grid)
        dx = grid[1] - grid[0]
        mean = float((grid * dens).sum() * dx)
        var = float(((grid - mean) ** 2 * dens).sum() * dx)
        gauss = np.exp(-0.5 * (grid - mean) ** 2 / var) / np.sqrt(2 * np.pi * var)
        ax.plot(grid, dens, label="exact q(x_{t−1} | x_t)")
        ax.plot(grid, gauss, "--", label="Gaussian, same moments")
        lo, hi = mean - 5 * np.sqrt(var), mean + 5 * np.sqrt(var)
        ax.set_xlim(max(lo, -2.5), min(hi, 2.5))
        ax.set_title(f"β = {beta:g}: TV = {gaussian_mismatch(dens, grid):.3f}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if path is not None:
        save_figure(fig, path)
    return fig
