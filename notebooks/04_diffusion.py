# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Deep generative models — denoising diffusion
#
# A **generative model** learns p(x) from examples so that it can draw new
# ones. **Diffusion models** do it by learning to undo noise: a fixed *forward
# process* turns data into Gaussian noise in T small steps, and a network
# learns the *reverse* steps. We follow the Khipu practical (after Ho et al.,
# 2020, "Denoising Diffusion Probabilistic Models") with `khipu-diffusion`:
# scores of a known density, the noise schedule and forward process, a U-Net,
# the training loss, DDPM and DDIM sampling and classifier-free guidance — on
# scikit-learn's 8×8 digits, which ship offline and train in minutes on a CPU.
#
# Each exercise has a cell to fill (`# YOUR CODE HERE`), a check cell that
# prints ✓ / ✗ / "not attempted yet" (and uses the package's reference when
# your answer is missing or wrong, so the notebook always runs), and a hidden
# **Solution** cell.

# %% tags=["pin"]
# %pip install "khipu-diffusion==0.1.*"

# %%
import os
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import khipu.core as kc
import khipu.diffusion as dm
import khipu.diffusion.exercises as ex
import numpy as np
from IPython.display import Image, display

QUICK = os.environ.get("KHIPU_QUICK") == "1"  # short runs (tests, slow machines)
OUT = Path(os.environ.get("KHIPU_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="khipu-diffusion-"))
print("quick mode:", QUICK, "| files in", OUT)

# %% [markdown]
# ## 1. A probability refresher: Bayes' rule
#
# Generative and discriminative models are linked by Bayes' rule: a
# generative model of each class, p(x | y), and a prior p(y) give the
# classifier
#
# $$p(y \mid x) = \frac{p(x \mid y)\,p(y)}{\sum_{y'} p(x \mid y')\,p(y')},$$
#
# where the denominator is p(x) by the **sum rule**.
#
# **Exercise 1.** Write `bayes_posterior(likelihoods, prior)`: both are
# arrays `[K]` (p(x | y) and p(y) for each class y); return p(y | x), `[K]`.


# %% tags=["exercise"]
def bayes_posterior(likelihoods, prior):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
bayes_posterior = ex.check_bayes_posterior(bayes_posterior)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def bayes_posterior(likelihoods, prior):
    joint = jnp.asarray(likelihoods) * jnp.asarray(prior)
    return joint / joint.sum()


# %%
print(bayes_posterior(jnp.array([0.2, 0.6]), jnp.array([0.5, 0.5])))  # [0.25 0.75]

# %% [markdown]
# ## 2. Scores: following ∇ₓ log p(x)
#
# A network that outputs a density p_θ(x) must keep it normalised, which is
# hard. The **score** ∇ₓ log p(x) does not care about the normalising constant
# (its log is a constant, its gradient zero) and it points towards where the
# data is. The practical's density is a mixture of two Gaussians,
# ½·N([0.8, 3.2], [[0.8, −0.8], [−0.8, 2]]) + ½·N([−1.3, −2.7], [[1.5, 0.75], [0.75, 1.5]]);
# `ex.log_density(x)` computes its log-density at one point `[2]`.
#
# **Exercise 2.** Write `score_fn(x)`, the score of that mixture at one point
# `[2]`, with `jax.grad`.


# %% tags=["exercise"]
def score_fn(x):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
score_fn = ex.check_score_fn(score_fn)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def score_fn(x):
    return jax.grad(ex.log_density)(jnp.asarray(x, jnp.float32))


# %% [markdown]
# **Score ascent** x ← x + λ ∇ₓ log p(x) climbs to a mode (the practical's
# start (−1.6, 0.1), λ = 0.4). Adding noise turns it into **Langevin
# dynamics**, x ← x + (ε/2) ∇ₓ log p(x) + √ε z, whose points are distributed as
# p itself: a sampler that only needs the score. Diffusion models learn the
# score of noisy data and run a version of this backwards.

# %% tags=["figure"]
mixture = dm.practical_mixture()
ascent = dm.score_ascent(mixture, jnp.array([-1.6, 0.1]), steps=9, step_size=0.4)
start = jax.random.normal(jax.random.key(0), (500, 2)) * 4.0
langevin = dm.langevin_sample(mixture, jax.random.key(1), start, steps=300, step_size=0.05)
print("score at the start:", score_fn(jnp.array([-1.6, 0.1])))
print("Langevin vs the mixture (relative errors):", dm.moment_errors(langevin[-1], mixture))
dm.plot_mixture(
    mixture, paths=[ascent], points=langevin[-1], title="Score ascent and Langevin samples"
)

# %% [markdown]
# ## 3. The forward process
#
# The forward process adds a little Gaussian noise at each of T steps,
# q(x_t | x_{t−1}) = N(√(1 − β_t) x_{t−1}, β_t I), with a **noise schedule**
# β_1 … β_T. The practical's schedule is linear from 10⁻⁴ to 0.02.
#
# **Exercise 3.** Write `linear_beta_schedule(timesteps)`, an array
# `[timesteps]` from 0.0001 to 0.02.


# %% tags=["exercise"]
def linear_beta_schedule(timesteps):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
linear_beta_schedule = ex.check_linear_beta_schedule(linear_beta_schedule)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def linear_beta_schedule(timesteps):
    return jnp.linspace(0.0001, 0.02, timesteps)


# %% [markdown]
# With α_t = 1 − β_t and ᾱ_t = α_1 ⋯ α_t, the forward process has a closed
# form: **q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)**. How much of the image is
# left at the end is √ᾱ_T. The practical used T = 200: then ᾱ_T ≈ 0.13 and
# √ᾱ_T ≈ 0.36 — x_T still holds a third of the image, so it is **not** pure
# noise, while sampling starts from pure noise. With T = 1000 (Ho et al.) or
# the cosine schedule (Nichol & Dhariwal) ᾱ_T is below 10⁻⁴.

# %% tags=["figure"]
schedules = {
    "linear, T=200 (the practical)": dm.make_schedule(linear_beta_schedule(200)),
    "linear, T=1000": dm.get_schedule("linear", 1000),
    "cosine, T=1000": dm.get_schedule("cosine", 1000),
}
for name, s in schedules.items():
    print(f"{name:32s} ᾱ_T = {dm.schedule_summary(s)['alpha_bar_T']:.3g}")
dm.plot_schedules(schedules)

# %% [markdown]
# **Exercise 4.** Write `q_sample(x0, t, noise, betas)`: x_t = √ᾱ_t x_0 +
# √(1 − ᾱ_t) ε for a batch `x0` `[B, ...]`, time indices `t` `[B]` (0-indexed:
# index t holds β_{t+1}), noise `[B, ...]` and the schedule `betas` `[T]`.
# Reshape ᾱ_t to `[B, 1, ..., 1]` so it broadcasts against `x0`.


# %% tags=["exercise"]
def q_sample(x0, t, noise, betas):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
q_sample = ex.check_q_sample(q_sample)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def q_sample(x0, t, noise, betas):
    alphas_cumprod = jnp.cumprod(1.0 - jnp.asarray(betas))
    abar = alphas_cumprod[t].reshape((-1,) + (1,) * (jnp.ndim(x0) - 1))
    return jnp.sqrt(abar) * x0 + jnp.sqrt(1.0 - abar) * noise


# %% [markdown]
# The data: scikit-learn's 8×8 digits (1,797 images) scaled to [−1, 1]. One
# digit noised to several t (values are clipped to [0, 1] before display;
# the original converted to `uint8` without clipping, so noisy pixels wrapped
# around):

# %% tags=["figure"]
splits = dm.load_data("digits")
print(
    {k: v.shape for k, v in splits.train.items()},
    "values in",
    splits.train["x"].min(),
    splits.train["x"].max(),
)
dm.plot_forward_process(splits.train["x"][0], dm.get_schedule("linear", 1000), jax.random.key(0))

# %% [markdown]
# ### The reverse process
#
# If the steps are small, the reverse step q(x_{t−1} | x_t) is Gaussian too;
# given x_0 it is known exactly: q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) with
# **β̃_t = β_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t)** (and ᾱ_0 = 1, so β̃ at the first
# step is 0). The model p_θ(x_{t−1} | x_t) = N(μ_θ(x_t, t), σ_t² I) learns μ
# and uses σ_t² = β̃_t (or β_t).
#
# **Exercise 5.** Write `posterior_variance(betas)`: β̃ for every step, `[T]`.


# %% tags=["exercise"]
def posterior_variance(betas):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
posterior_variance = ex.check_posterior_variance(posterior_variance)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def posterior_variance(betas):
    betas = jnp.asarray(betas)
    alphas_cumprod = jnp.cumprod(1.0 - betas)
    alphas_cumprod_prev = jnp.concatenate([jnp.ones(1), alphas_cumprod[:-1]])
    return betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)


# %% [markdown]
# ## 4. The network: a U-Net ε_θ(x_t, t)
#
# Writing μ_θ through a noise prediction, μ_θ = (x_t − β_t ε_θ(x_t, t) / √(1 − ᾱ_t)) / √α_t,
# the network only has to guess **which noise was added**; ε_θ is (minus) the
# score scaled by √(1 − ᾱ_t). `khipu.diffusion` has a Haiku U-Net: a
# sinusoidal embedding of t through an MLP; ResNet blocks (GroupNorm → SiLU →
# 3×3 conv, plus the time embedding); stride-2 downsampling; a middle with
# optional self-attention; on the way up each block sees its input
# **concatenated with the skip** from the same resolution of the way down,
# then nearest-neighbour upsampling. A class label can be embedded and added
# to the time embedding (label K is the *null* label used for guidance).
# The original practical's U-Net had 2.3 M parameters and took ~10 s per
# training step on a 2-core CPU; the one for 8×8 digits is much smaller.

# %%
config = dm.default_config((8, 8, 1), num_classes=10)
if QUICK:
    config = dm.DenoiserConfig(
        kind="unet", data_shape=(8, 8, 1), dim=16, dim_mults=(1, 2), num_classes=10
    )
denoiser = dm.build_denoiser(config)
print(config)
print(f"{kc.total_parameters(denoiser.init(jax.random.key(0))):,} parameters")

# %% [markdown]
# ## 5. Training
#
# Maximising a bound on log p(x) (Jensen's inequality) and simplifying leaves
# Ho et al.'s loss: pick x_0 from the data, t uniformly, ε ~ N(0, I), and
# minimise **‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖²**.
#
# **Exercise 6.** Write `ddpm_loss(eps_model, x0, t, noise, betas)`: noise
# `x0` with your `q_sample`, predict with `eps_model(x_t, t)` and return the
# mean squared error against `noise`. Use the batch you are given: the
# original practical's loss read a global `x_batch`, so under `jax.jit` it kept
# training on the first batch, frozen into the compiled function.


# %% tags=["exercise"]
def ddpm_loss(eps_model, x0, t, noise, betas):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
ddpm_loss = ex.check_ddpm_loss(ddpm_loss)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def ddpm_loss(eps_model, x0, t, noise, betas):
    x_t = q_sample(x0, t, noise, betas)
    return jnp.mean((noise - eps_model(x_t, t)) ** 2)


# %% [markdown]
# The package's version (`dm.make_ddpm_loss`) is the same loss in khipu-core's
# `loss_fn(params, model_state, key, batch)` form; with a conditional model it
# also replaces 15 % of the labels by the null label. `dm.train_denoiser` runs
# it through khipu-core's `fit()` with Adam and keeps an exponential moving
# average (EMA) of the parameters inside the optimizer state (an optax
# transformation, `dm.with_parameter_ema`): sampling uses the EMA.

# %% tags=["figure"]
schedule = dm.get_schedule("linear", 1000)
result = dm.train_denoiser(
    denoiser, schedule, splits.train, epochs=25 if QUICK else 120, batch_size=128, seed=0
)
steps_run = int(result.state.step)
print(
    f"final loss {result.history['loss'][-1]:.4f}, {steps_run} steps, {result.train_seconds:.0f} s"
)
kc.plot_learning_curves(result.history, metrics=["loss"], log_y=True)

# %% [markdown]
# ## 6. Sampling
#
# **Algorithm 2** of Ho et al.: start from x_T ~ N(0, I) and for t = T … 1
# set x_{t−1} = (x_t − β_t ε_θ(x_t, t) / √(1 − ᾱ_t)) / √α_t + σ_t z with
# z ~ N(0, I) and σ_t² = β̃_t (zero at the last step).
#
# **Exercise 7.** Write `ddpm_step(x, t, eps, z, betas)`: one such step for
# the 0-indexed step `t` (an `int`), the prediction `eps` and the noise `z`
# (arrays shaped like `x`).


# %% tags=["exercise"]
def ddpm_step(x, t, eps, z, betas):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
ddpm_step = ex.check_ddpm_step(ddpm_step)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def ddpm_step(x, t, eps, z, betas):
    betas = jnp.asarray(betas)
    alphas_cumprod = jnp.cumprod(1.0 - betas)
    mean = (x - betas[t] / jnp.sqrt(1.0 - alphas_cumprod[t]) * eps) / jnp.sqrt(1.0 - betas[t])
    return mean + jnp.sqrt(posterior_variance(betas)[t]) * z


# %% [markdown]
# `dm.ddpm_sample` runs all T = 1000 such steps in one `jax.lax.scan`.
# **DDIM** (Song et al., 2021) uses the same trained network but a
# deterministic update that can skip steps: x_{t'} = √ᾱ_{t'} x̂_0 + √(1 − ᾱ_{t'}) ε̂
# with x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t — 50 steps instead of 1000.
#
# Conditional models sample with **classifier-free guidance** (Ho & Salimans,
# 2022): ε̂ = (1 + w) ε_θ(x_t, t, y) − w ε_θ(x_t, t, ∅) pushes samples towards
# what distinguishes class y from the rest. Labels 0, 1, …, 9, 0, … below.

# %% tags=["figure"]
n = 50 if QUICK else 100
labels = dm.sample_labels(n, 10)
key = jax.random.key(1)
ddim = dm.ddim_sample(
    denoiser,
    result.params,
    schedule,
    key,
    n,
    steps=50,
    labels=labels,
    guidance=2.0,
    trajectory=True,
    clip=1.0,
)
dm.plot_sample_grid(ddim.x[:50], labels=labels[:50], title="DDIM, 50 steps, guidance 2")

# %% tags=["figure"]
ddpm = dm.ddpm_sample(
    denoiser, result.params, schedule, key, n, labels=labels, guidance=2.0, clip=1.0
)
dm.plot_sample_grid(ddpm.x[:50], labels=labels[:50], title="DDPM, 1000 steps, guidance 2")

# %% [markdown]
# The denoising of the first 16 DDIM samples, from x_T to x_0 (a GIF written
# with pillow, and its key frames):

# %% tags=["figure"]
gif = dm.save_denoising_gif(ddim.trajectory[:, :16], OUT / "denoising.gif")
display(Image(filename=str(gif)))
dm.plot_denoising(ddim.trajectory, index=3)

# %% [markdown]
# ## 7. How good are the samples?
#
# An evaluation classifier trained on the real digits gives (a) the **Fréchet
# distance** between real and generated images in its feature space (FID's
# formula; 0 for identical distributions), (b) the **class accuracy**: the
# fraction of samples generated for class y that it calls y, and (c) a
# copying check, the **nearest-neighbour distance ratio**: how far samples are
# from their nearest training image, relative to held-out real images (0
# would mean the model reproduces its training set).

# %%
classifier = dm.train_eval_classifier(splits, epochs=10 if QUICK else 30)
print(f"classifier accuracy on real validation digits: {classifier.val_accuracy:.3f}")
for w in (0.0, 2.0):
    out = dm.ddim_sample(
        denoiser,
        result.params,
        schedule,
        jax.random.key(2),
        n,
        steps=50,
        labels=labels,
        guidance=w,
        clip=1.0,
    )
    metrics = dm.evaluate_samples(np.asarray(out.x), splits, labels=labels, classifier=classifier)
    print(f"guidance {w}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))

# %% [markdown]
# ## 8. Going further
#
# The whole pipeline is one command (`khipu diffusion train --conditional --out runs/digits`,
# then `khipu diffusion sample --checkpoint runs/digits --sampler ddpm --out runs/ddpm`).
#
# 1. Discuss: why does the loss not depend on the normalising constant of
#    p_θ? What does the network see at t close to T, and at t close to 0?
# 2. Train on Fashion-MNIST (`--dataset fashion_mnist`, needs
#    tensorflow-datasets) with a bigger network, for longer.
# 3. Conditional generation p(x | y): compare a one-hot label with the learnt
#    embedding used here.
# 4. Classifier-free guidance: plot class accuracy and Fréchet distance
#    against the guidance weight w. Where is the trade-off?
