"""DDPM and DDIM with an exact-optimum denoiser for Gaussian data; shapes, determinism,
guidance and argument errors."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError, UnknownNameError
from khipu.diffusion import models, sampling
from khipu.diffusion.schedules import get_schedule

MU = np.array([1.0, -2.0], np.float32)
SIGMA = np.array([[0.5, 0.2], [0.2, 0.3]], np.float32)


def exact_gaussian_denoiser(schedule) -> models.Denoiser:  # type: ignore[no-untyped-def]
    """ε*(x_t, t) = E[ε | x_t] = s (a²Σ + s²I)⁻¹ (x_t − aμ) for x_0 ~ N(μ, Σ)."""
    a_tab, s_tab = schedule.sqrt_alphas_cumprod, schedule.sqrt_one_minus_alphas_cumprod

    def forward(x, t, label=None):  # type: ignore[no-untyped-def]
        del label
        a, s = a_tab[t][:, None, None], s_tab[t][:, None, None]
        cov = a**2 * jnp.asarray(SIGMA)[None] + s**2 * jnp.eye(2)[None]
        centred = x - a[:, :, 0] * jnp.asarray(MU)[None]
        return s[:, :, 0] * jnp.linalg.solve(cov, centred[..., None])[..., 0]

    config = models.DenoiserConfig(kind="mlp", data_shape=(2,))
    return models.Denoiser(config, hk.without_apply_rng(hk.transform(forward)))


@pytest.mark.parametrize(("sampler", "steps"), [("ddpm", None), ("ddim", 100), ("ddim", 1000)])
def test_exact_optimum_denoiser_reproduces_the_gaussian(sampler: str, steps: int | None) -> None:
    schedule = get_schedule("linear", 1000)
    den = exact_gaussian_denoiser(schedule)
    out = sampling.sample(sampler, den, {}, schedule, jax.random.key(0), 4000, steps=steps)
    x = np.asarray(out.x, np.float64)
    assert x.shape == (4000, 2)
    np.testing.assert_allclose(x.mean(0), MU, atol=0.05)
    np.testing.assert_allclose(np.cov(x.T), SIGMA, atol=0.04)


def test_a_wrong_denoiser_does_not_reproduce_it() -> None:
    """The test above can fail: ε ≡ 0 leaves x_T's scale wrong."""
    schedule = get_schedule("linear", 1000)
    zero = models.Denoiser(
        models.DenoiserConfig(kind="mlp", data_shape=(2,)),
        hk.without_apply_rng(hk.transform(lambda x, t, label=None: jnp.zeros_like(x))),
    )
    x = np.asarray(sampling.ddim_sample(zero, {}, schedule, jax.random.key(0), 2000).x)
    assert np.abs(np.cov(x.T) - SIGMA).max() > 0.2


def _tiny(num_classes: int | None = None) -> tuple[models.Denoiser, dict]:  # type: ignore[type-arg]
    """A small U-Net with random parameters (shapes traced, not compiled: the output
    convolution starts at zero, which would make every prediction 0)."""
    cfg = models.DenoiserConfig(
        kind="unet",
        data_shape=(8, 8, 1),
        dim=8,
        dim_mults=(1, 2),
        groups=4,
        num_classes=num_classes,
    )
    den = models.build_denoiser(cfg)
    rng = np.random.default_rng(0)
    shapes = jax.eval_shape(den.init, jax.random.key(0))
    params = jax.tree.map(lambda s: jnp.asarray(0.1 * rng.normal(size=s.shape), s.dtype), shapes)
    return den, params


def test_shapes_trajectories_and_determinism() -> None:
    den, params = _tiny()
    schedule = get_schedule("cosine", 12)
    a = sampling.ddpm_sample(den, params, schedule, jax.random.key(3), 5, trajectory=True)
    b = sampling.ddpm_sample(den, params, schedule, jax.random.key(3), 5, trajectory=True)
    c = sampling.ddpm_sample(den, params, schedule, jax.random.key(4), 5)
    assert a.x.shape == (5, 8, 8, 1) and a.trajectory is not None
    assert a.trajectory.shape == (13, 5, 8, 8, 1)
    np.testing.assert_array_equal(np.asarray(a.x), np.asarray(b.x))
    np.testing.assert_array_equal(np.asarray(a.trajectory[-1]), np.asarray(a.x))
    assert not np.allclose(np.asarray(a.x), np.asarray(c.x))
    d = sampling.ddim_sample(den, params, schedule, jax.random.key(3), 5, steps=4, trajectory=True)
    assert d.trajectory is not None and d.trajectory.shape == (5, 5, 8, 8, 1)
    assert list(d.timesteps) == [11, 7, 4, 0]
    assert c.trajectory is None


def test_guidance_combines_conditional_and_unconditional() -> None:
    den, params = _tiny(num_classes=3)
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 1))
    t = jnp.array([0, 3, 5, 9])
    y = jnp.array([0, 1, 2, 1])
    cond = den.apply(params, x, t, y)
    uncond = den.apply(params, x, t, jnp.full((4,), 3))
    assert not np.allclose(np.asarray(cond), np.asarray(uncond), atol=1e-3)
    np.testing.assert_allclose(
        np.asarray(den.apply(params, x, t, None)), np.asarray(uncond), atol=1e-6
    )
    got = sampling.guided_eps(den, params, y, 2.0)(x, t)
    np.testing.assert_allclose(np.asarray(got), np.asarray(3 * cond - 2 * uncond), atol=1e-5)


def test_sampling_errors_are_clear() -> None:
    den, params = _tiny()
    schedule = get_schedule("linear", 10)
    key = jax.random.key(0)
    with pytest.raises(KhipuError, match="conditional model"):
        sampling.ddim_sample(den, params, schedule, key, 2, guidance=1.0)
    with pytest.raises(KhipuError, match="unconditional"):
        sampling.ddim_sample(den, params, schedule, key, 2, labels=[0, 1])
    with pytest.raises(KhipuError, match="between 1 and"):
        sampling.ddim_sample(den, params, schedule, key, 2, steps=11)
    with pytest.raises(KhipuError, match="all T = 10"):
        sampling.sample("ddpm", den, params, schedule, key, 2, steps=5)
    with pytest.raises(UnknownNameError):
        sampling.sample("euler", den, params, schedule, key, 2)
    cden, cparams = _tiny(num_classes=3)
    with pytest.raises(KhipuError, match="one label per sample"):
        sampling.ddim_sample(cden, cparams, schedule, key, 2, labels=[0, 1, 2])
    with pytest.raises(KhipuError, match=r"labels must lie in \[0, 3\)"):
        sampling.ddim_sample(cden, cparams, schedule, key, 2, labels=[0, 3])
    with pytest.raises(KhipuError, match="non-negative"):
        sampling.ddim_sample(cden, cparams, schedule, key, 2, labels=[0, 1], guidance=-1.0)
