"""Data scaling and the figures (each returns a Figure; the GIF has its frames)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import UnknownNameError
from khipu.diffusion import data, plots, toy
from khipu.diffusion.schedules import get_schedule
from matplotlib.figure import Figure
from PIL import Image


def test_digits_are_scaled_to_minus_one_one_and_toy2d_is_the_mixture() -> None:
    splits = data.load_data("digits")
    x = splits.train["x"]
    assert x.shape[1:] == (8, 8, 1) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert splits.num_classes == 10
    toy2d = data.load_data("toy2d", limit=4000)
    assert toy2d.train["x"].shape == (4000, 2)
    assert toy.moment_errors(toy2d.train["x"], toy.practical_mixture())["cov_error"] < 0.1
    with pytest.raises(UnknownNameError, match="cifar"):
        data.load_data("cifar")


def test_display_conversion_clips_instead_of_wrapping() -> None:
    x = np.array([-3.0, -1.0, 0.0, 1.0, 1.7])
    np.testing.assert_array_equal(data.to_uint8(x), [0, 0, 128, 255, 255])
    np.testing.assert_allclose(data.to_display_range(x), [0, 0, 0.5, 1, 1])


def test_figures_are_returned() -> None:
    mix = toy.practical_mixture()
    path = toy.score_ascent(mix, jnp.array([-1.6, 0.1]), steps=3, step_size=0.4)
    assert isinstance(plots.plot_mixture(mix, paths=[path], points=np.zeros((3, 2))), Figure)
    sched = get_schedule("linear", 100)
    assert isinstance(plots.plot_schedules({"linear": sched}), Figure)
    fig = plots.plot_forward_process(np.zeros((8, 8, 1)), sched, jax.random.key(0))
    assert isinstance(fig, Figure) and len([a for a in fig.axes if a.images]) == 6
    assert isinstance(plots.plot_sample_grid(np.zeros((4, 8, 8, 1)), labels=[0, 1, 2, 3]), Figure)
    assert isinstance(plots.plot_points(np.zeros((5, 2)), np.ones((5, 2))), Figure)


def test_denoising_gif_has_one_frame_per_kept_step(tmp_path) -> None:  # type: ignore[no-untyped-def]
    traj = np.linspace(-1, 1, 11)[:, None, None, None, None] * np.ones((11, 3, 8, 8, 1))
    path = plots.save_denoising_gif(traj, tmp_path / "d.gif", max_frames=6)
    with Image.open(path) as gif:
        assert gif.n_frames == 6
        assert gif.size == (3 * 9 * 4, 9 * 4)
    assert isinstance(plots.plot_denoising(traj, frames=4), Figure)
