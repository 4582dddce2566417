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
# generative vs discriminative models and why p_θ(x) is hard, scores of a
# known density, the noise schedule and forward process, the U-Net, the
# variational bound and the training loss, DDPM and DDIM sampling, classifier
# guidance and classifier-free guidance — on scikit-learn's 8×8 digits, which
# ship offline and train in minutes on a CPU.
#
# Each exercise has a cell to fill (`# YOUR CODE HERE`), a check cell that
# prints ✓ / ✗ / "not attempted yet" (and uses the package's reference when
# your answer is missing or wrong, so the notebook always runs), and a hidden
# **Solution** cell. **Quizzes** are cells reading `quiz_...(None)`: replace
# `None` by your option (`"a"`, `"b"`, …). **Group tasks** are questions to
# discuss with your neighbours; each has a collapsed model answer — discuss
# first, then open it.

# %% tags=["pin"]
# %pip install "khipu-diffusion==0.2.*"

# %%
import inspect
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
# ## 1. Generative and discriminative models
#
# Take data from two classes, points x with labels y ∈ {0, 1}.
#
# * A **discriminative** model learns **p(y | x)**: given an example, how
#   likely is each class? Logistic regression and most classifiers are
#   discriminative. They draw a *decision boundary*, where
#   p(y = 0 | x) = p(y = 1 | x), and say nothing about what the examples look like.
# * A **generative** model learns **p(x | y)** (what examples of class y look
#   like) or **p(x)** (what examples look like at all). If we can *sample*
#   x ~ p(x | y) or x ~ p(x), we can make new, unseen examples: images, sounds,
#   molecules.
#
# The original practical showed both on one picture; here it is drawn from the
# two components of the mixture we will meet again in section 3 (one class
# each). Left: a discriminative view, p(y = 1 | x) and its boundary. Right: a
# generative view, the contours of p(x | y) of each class.

# %% tags=["figure"]
mixture = dm.practical_mixture()
points, classes = dm.sample_classes(mixture, jax.random.key(0), 400)
dm.plot_generative_vs_discriminative(points, classes)

# %% [markdown]
# The two views are linked by **Bayes' rule**: a generative model of each
# class, p(x | y), and a prior p(y) give the classifier
#
# $$p(y \mid x) = \frac{p(x \mid y)\,p(y)}{p(x)}
# = \frac{p(x \mid y)\,p(y)}{\sum_{y'} p(x \mid y')\,p(y')},$$
#
# which is exactly how the boundary on the left was computed from the
# Gaussians on the right (a *generative classifier*, scikit-learn's quadratic
# discriminant analysis). The converse is harder: from p(y | x) alone we cannot
# get p(x | y) back without p(x) — and p(x) is the hard part, as we will see.
#
# ### A probability refresher
#
# Three rules come up again and again:
#
# 1. **Product rule**: p(x, y) = p(x | y) p(y) = p(y | x) p(x).
# 2. **Sum rule** (marginalisation): p(x) = Σ_y p(x, y) (an integral for
#    continuous y).
# 3. **Bayes' rule**: p(y | x) = p(x | y) p(y) / p(x), a consequence of the first.
#
# **Group task (math).** Derive Bayes' rule from the product rule, then use
# the sum rule to write it without p(x).
#
# <details><summary>Model answer</summary>
#
# The product rule written both ways gives p(y | x) p(x) = p(x, y) = p(x | y) p(y);
# divide by p(x): p(y | x) = p(x | y) p(y) / p(x). By the sum rule and the product
# rule, p(x) = Σ_y p(x, y) = Σ_y p(x | y) p(y), so
# p(y | x) = p(x | y) p(y) / Σ_{y'} p(x | y') p(y'). The denominator does not depend
# on y: it only normalises, which is why a classifier can compare p(x | y) p(y)
# across classes without ever computing it.
#
# </details>
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
# ### Joint, marginal and conditional of a 2-D Gaussian
#
# An example to build intuition (the original's): the joint Gaussian
# p(x, y) = N([0.8, 3.2], Σ) with Σ = [[0.8, −0.8], [−0.8, 2.0]]. Its
# **marginals** are the joint projected onto each axis: p(x) = N(0.8, 0.8),
# p(y) = N(3.2, 2.0). Its **conditionals** are the joint cut along a line,
# renormalised: for a Gaussian they are Gaussian again, with
#
# $$p(y \mid x) = \mathcal N\!\left(\mu_y + \frac{\Sigma_{yx}}{\Sigma_{xx}}(x - \mu_x),\;
# \Sigma_{yy} - \frac{\Sigma_{yx}\Sigma_{xy}}{\Sigma_{xx}}\right),$$
#
# and symmetrically for p(x | y). Knowing x moves the mean of y along the
# correlation and *shrinks* its variance.
#
# **Exercise 2.** Write `gaussian_conditional(mean, cov, x=None, y=None)`:
# `mean` `[2]`, `cov` `[2, 2]`, exactly one of `x` (then return the mean and
# variance of p(y | x)) or `y` (then those of p(x | y)), as a pair of floats.


# %% tags=["exercise"]
def gaussian_conditional(mean, cov, x=None, y=None):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
gaussian_conditional = ex.check_gaussian_conditional(gaussian_conditional)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def gaussian_conditional(mean, cov, x=None, y=None):
    if x is not None:
        k = cov[1, 0] / cov[0, 0]
        return mean[1] + k * (x - mean[0]), cov[1, 1] - k * cov[0, 1]
    k = cov[0, 1] / cov[1, 1]
    return mean[0] + k * (y - mean[1]), cov[0, 0] - k * cov[1, 0]


# %% [markdown]
# The joint with its marginals (blue) and the conditionals p(y | x = −0.8)
# (green) and p(x | y = 2) (orange), computed with the package's version of
# your function:

# %% tags=["figure"]
mean2, cov2 = np.array([0.8, 3.2]), np.array([[0.8, -0.8], [-0.8, 2.0]])
for given in ({"x": -0.8}, {"y": 2.0}):
    mu, var = gaussian_conditional(mean2, cov2, **given)
    print(f"conditioned on {given}: mean {mu:.3f}, variance {var:.3f}")
dm.plot_gaussian_conditionals(mean2, cov2, x=-0.8, y=2.0)

# %% [markdown]
# ## 2. Deep generative models, and why p_θ(x) is hard
#
# A **deep** generative model is a generative model whose p_θ(x) (or
# p_θ(x | y)) is represented by a neural network with parameters θ. Usually it
# lets us *sample*: draw random noise z and let the network turn it into an
# example x. Some models also let us *evaluate* p_θ(x) for a given x.
#
# **The central problem: we do not know how to write p_θ(x) down.**
#
# **Group task.** Consider a generative model of images of cats and dogs. What
# is the true distribution of such images? How would you write it down
# mathematically?
#
# <details><summary>Model answer</summary>
#
# Nobody can. A 64×64 colour image is a point in a 12,288-dimensional space;
# natural images occupy a tiny, curved, oddly shaped region of it (almost every
# random point is noise), and its shape is exactly what we want to learn. No
# textbook family (a Gaussian, a mixture of a few Gaussians) comes close, and a
# flexible family (a network f_θ(x) turned into a density exp f_θ(x) / Z_θ)
# needs the normaliser Z_θ = ∫ exp f_θ(x) dx, an integral over all of that
# space that we cannot compute. Conditioning on the class (p(x | cat)) does not
# help: it is just as high-dimensional. Each family of generative models below
# is a different way round this.
#
# </details>
#
# **Why do we need p_θ(x) at all, if we only want samples?** To **train** the
# model. From the probabilistic point of view there is one principled way:
# make the observed data likely, i.e. minimise the **negative log-likelihood**
#
# $$\mathcal L_{\text{NLL}}(\theta) = -\sum_{n=1}^{N} \log p_\theta(x^{(n)}),$$
#
# and for that we must be able to compute (or bound, or estimate the gradient
# of) log p_θ(x).
#
# ### The families, and how diffusion connects to them
#
# * **Autoregressive models** factorise p(x) = p(x₁) Π_d p(x_{d+1} | x_d, …, x₁)
#   and make each factor a simple distribution predicted by a network (WaveNet,
#   PixelCNN, GPT). Exact likelihood, but slow sequential sampling and an
#   arbitrary order of the dimensions. *Diffusion is autoregressive over time
#   steps instead of dimensions*: x_T → x_{T−1} → … → x_0, each step a simple
#   (Gaussian) conditional.
# * **Variational autoencoders (VAEs)** write p(x) = ∫ p(x | z) p(z) dz with a
#   simple latent z and train an encoder q(z | x) jointly by maximising the
#   **evidence lower bound (ELBO)** on log p(x). *A diffusion model is a
#   hierarchical VAE* with latents x_1 … x_T, a fixed (not learned) encoder —
#   the forward noising process — and the same kind of ELBO (section 6).
# * **Normalising flows** map x to z by an invertible f and use the change of
#   variables p(x) = p(f(x)) |det ∂f/∂x|: exact likelihood, but f must stay
#   invertible with a cheap determinant, which limits it. *A diffusion model
#   with infinitely many infinitesimal steps is a flow* (the deterministic
#   probability-flow ODE; DDIM in section 7 is its discretisation).
# * **Energy-based models** set p(x) = exp(f_θ(x)) / Z_θ and avoid Z_θ by
#   training on gradients (contrastive divergence, score matching) and
#   sampling with Langevin dynamics. *Diffusion models learn the score
#   ∇ₓ log p of the noisy data*, an energy gradient, and sample with a
#   Langevin-like chain — without ever needing Z_θ.
# * **Generative adversarial networks (GANs)** give up on p(x): a generator
#   maps noise to samples and a discriminator is trained to tell them from real
#   data. Fast sampling and sharp images, but unstable training, no likelihood
#   and *mode collapse* (missing parts of the data). Diffusion models replaced
#   GANs for image synthesis by being stable to train and covering the modes;
#   guidance (section 8) buys back the sharpness.

# %% [markdown]
# ## 3. Scores: following ∇ₓ log p(x)
#
# Diffusion models side-step p_θ(x) by learning the **score** ∇ₓ log p(x): the
# gradient of the log-density *with respect to the data*, not to the
# parameters (∇_θ log p_θ(x) says how to change θ to make x likelier;
# ∇ₓ log p(x) says how to change x itself). The score ignores the normalising
# constant and points towards where the data is — hence the other name of
# these models, *score-based generative models*.

# %% [markdown]
# **Quiz.** p_θ(x) = exp(f_θ(x)) / Z_θ. Why can a network learn the score
# ∇ₓ log p_θ(x) without Z_θ?
#
# * (a) Z_θ is always 1 for neural networks
# * (b) log Z_θ does not depend on x, so its gradient with respect to x is zero
# * (c) the score is only needed at the data points, where Z_θ cancels
# * (d) Z_θ is estimated by Monte Carlo during training

# %% tags=["quiz"]
ex.quiz_score_normaliser(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# The practical's density is the mixture of two Gaussians you saw above,
# ½·N([0.8, 3.2], [[0.8, −0.8], [−0.8, 2]]) + ½·N([−1.3, −2.7], [[1.5, 0.75], [0.75, 1.5]]);
# `ex.log_density(x)` computes its log-density at one point `[2]`.
#
# **Exercise 3.** Write `score_fn(x)`, the score of that mixture at one point
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
# **Score ascent** x ← x + λ ∇ₓ log p(x) climbs to a mode: start at an
# x_T, take T steps and hope that x_0 looks like a sample of p (the practical's
# start (−1.6, 0.1), T = 9, λ = 0.4, in red below).
#
# **Group task.** Try other starting points, numbers of steps and step sizes
# (the arguments of `dm.score_ascent` in the next cell). Are the end points
# x_0 more like samples of p (the white dots) than the starting points? Does
# that make sense?
#
# <details><summary>Model answer</summary>
#
# The end points are much closer to the data than random starting points: the
# score points uphill, so every start climbs towards a mode. But they are *not*
# samples of p. With enough steps every start converges to (nearly) the same
# point, the mode of its basin: all the probability mass collapses onto two
# points, the spread of each Gaussian is lost, and which mode you reach depends
# only on where you started, not on the mixture's weights. A too-large λ
# overshoots and oscillates. Ascent finds *likely* points; sampling needs
# noise, as in Langevin dynamics below.
#
# </details>
#
# Adding noise turns ascent into **Langevin dynamics**,
# x ← x + (ε/2) ∇ₓ log p(x) + √ε z with z ~ N(0, I), a sampler that needs only
# the score. Precisely: its points follow p **only in the limit ε → 0 with
# many steps** (steps × ε large). At a fixed step size the chain settles on a
# slightly different distribution (for N(0, s²) its variance is
# s² / (1 − ε/(4s²)), too wide); with too few steps it still remembers where it
# started. Below: 500 chains started far too wide, run for the same total time
# (steps × ε = 60) with a large step (ε = 1) and a small one (ε = 0.05): the
# large step's mean and covariance errors show its bias (with 500 points,
# errors of about 0.03 are sampling noise); the plot shows the small step's.

# %% tags=["figure"]
ascent = dm.score_ascent(mixture, jnp.array([-1.6, 0.1]), steps=9, step_size=0.4)
start = jax.random.normal(jax.random.key(0), (500, 2)) * 4.0
print("score at the start:", score_fn(jnp.array([-1.6, 0.1])))
for eps in (1.0, 0.05):
    chain = dm.langevin_sample(
        mixture, jax.random.key(1), start, steps=int(60 / eps), step_size=eps
    )
    errors = dm.moment_errors(chain[-1], mixture)
    print(
        f"Langevin, step {eps}: mean error {errors['mean_error']:.3f}, "
        f"covariance error {errors['cov_error']:.3f}"
    )
dm.plot_mixture(
    mixture, paths=[ascent], points=chain[-1], title="Score ascent and Langevin samples"
)

# %% [markdown]
# ## 4. The forward process
#
# The forward process adds a little Gaussian noise at each of T steps,
#
# $$q(x_t \mid x_{t-1}) = \mathcal N\!\left(\sqrt{1 - \beta_t}\, x_{t-1},\; \beta_t I\right),$$
#
# with a **noise schedule** β_1 … β_T. Ho et al.'s schedule is linear from
# 10⁻⁴ to 0.02. This is *diffusion*, and what gives the models their name.
#
# **Exercise 4.** Write `linear_beta_schedule(timesteps)`, an array
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
# Because every step adds Gaussian noise, x_t can be drawn from x_0 directly:
# with α_t = 1 − β_t and ᾱ_t = α_1 ⋯ α_t,
# **q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)**. How much of the image is left at
# the end is √ᾱ_T. The practical used T = 200: then ᾱ_T ≈ 0.13 and
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
# **Exercise 5.** Write `q_sample(x0, t, noise, betas)`: x_t = √ᾱ_t x_0 +
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
# ## 5. The reverse process
#
# A diffusion model has two parts (Ho et al.'s figure): the **forward process**
# q(x_t | x_{t−1}), fixed, from data x_0 to noise x_T, and the **reverse
# process** p_θ(x_{t−1} | x_t), learned, from noise back to data. Each reverse
# step removes a little of the noise — hence *denoising*.
#
# **Group task.** Does the link between the score and the reverse process make
# sense? Why would a step of the reverse process look like a step along
# ∇ log p?
#
# <details><summary>Model answer</summary>
#
# The forward process blurs the data distribution a little at each step:
# q(x_t) is q(x_{t−1}) convolved with a narrow Gaussian (and shrunk by
# √(1 − β_t)). To undo one step we must move each noisy point back towards
# where the less noisy data is dense — uphill on log q(x_t), i.e. along the
# score. Tweedie's formula makes it exact: E[x_0 | x_t] = (x_t + (1 − ᾱ_t)
# ∇ log q(x_t)) / √ᾱ_t, so the best denoiser *is* a score step. The model's
# noise prediction is minus the score, scaled: ε_θ(x_t, t) ≈ −√(1 − ᾱ_t)
# ∇ log q(x_t). The reverse chain is then a Langevin-like sampler whose target
# changes from the noise distribution to the data distribution as t goes to 0.
#
# </details>

# %% [markdown]
# We model each reverse step as a Gaussian,
# p_θ(x_{t−1} | x_t) = N(μ_θ(x_t, t), σ_t² I), the mean predicted by a network,
# the variance fixed (Ho et al.; Nichol & Dhariwal later learned it too).
#
# **Group task.** Why does it make sense to assume that the reverse step is
# Gaussian?
#
# <details><summary>Model answer</summary>
#
# Because each forward step is small. By Bayes, q(x_{t−1} | x_t) ∝
# q(x_t | x_{t−1}) q(x_{t−1}): a Gaussian likelihood of width √β_t times the
# (complicated) density of the less noisy data. When β_t is small the
# likelihood is much narrower than the structure of q(x_{t−1}), which over
# such a short range is close to log-linear, and the product is close to a
# Gaussian (Feller 1949; Sohl-Dickstein et al. 2015). This is an
# approximation that becomes exact only as β_t → 0: with large steps the true
# reverse step keeps several modes and a Gaussian cannot represent it. That is
# why diffusion models take hundreds or thousands of small steps, and why
# sampling with few steps needs other tricks (DDIM, distillation).
#
# </details>
#
# The figure makes the approximation concrete: data ½N(−1, 0.2²) + ½N(1, 0.2²),
# one forward step of size β, and the exact reverse step q(x_{t−1} | x_t = 0.3)
# next to the Gaussian with the same mean and variance. The total-variation
# distance (TV) shrinks as β does: **the reverse step is approximately Gaussian
# for small β**, and only then.

# %% tags=["figure"]
dm.plot_reverse_step((0.5, 0.1, 0.01), x_t=0.3)

# %% [markdown]
# Given x_0 the reverse step is known exactly (all Gaussians):
# q(x_{t−1} | x_t, x_0) = N(μ̃_t, β̃_t I) with
#
# $$\tilde\mu_t = \frac{\sqrt{\bar\alpha_{t-1}}\,\beta_t}{1 - \bar\alpha_t} x_0
# + \frac{\sqrt{\alpha_t}(1 - \bar\alpha_{t-1})}{1 - \bar\alpha_t} x_t, \qquad
# \tilde\beta_t = \frac{1 - \bar\alpha_{t-1}}{1 - \bar\alpha_t}\,\beta_t$$
#
# (and ᾱ_0 = 1, so β̃ at the first step is 0). Ho et al. tried both
# σ_t² = β̃_t and σ_t² = β_t for the model and found similar samples: β̃_t is
# the right variance when x_0 is a single point, β_t when x_0 ~ N(0, I).
#
# **Exercise 6.** Write `posterior_variance(betas)`: β̃ for every step, `[T]`.


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
# **The ε-parametrisation.** Writing x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε and
# substituting x_0 into μ̃_t gives μ̃_t = (x_t − β_t ε / √(1 − ᾱ_t)) / √α_t. So
# instead of μ we let the network predict **which noise was added**,
#
# $$\mu_\theta(x_t, t) = \frac{1}{\sqrt{\alpha_t}}
# \left(x_t - \frac{\beta_t}{\sqrt{1 - \bar\alpha_t}}\,\epsilon_\theta(x_t, t)\right),$$
#
# and since ε_θ ≈ −√(1 − ᾱ_t) ∇ log q(x_t), μ_θ ≈ (x_t + β_t ∇ log q(x_t)) / √α_t:
# a score step with λ = β_t, rescaled by 1/√α_t ≈ 1 (the original practical
# wrote λ = −β_t / √(1 − ᾱ_t), mixing up ε and the score). Since the same
# network serves every step, it also receives t: ε_θ(x_t, t).
#
# ## 6. The network: a U-Net ε_θ(x_t, t)
#
# The usual network for ε_θ on images is a **U-Net** (Ronneberger et al. 2015),
# named after its shape. Like an autoencoder it has a **way down**, where each
# stage widens the channels and halves the resolution, a bottleneck, and a
# **way up**, where each stage undoes one halving. Unlike an autoencoder, each
# stage of the way up also receives the feature maps of the same resolution
# from the way down, **concatenated** as extra channels: the *skip
# connections*.
#
# **Why skip connections?** The output must be exact at the pixel level (the
# noise of *every* pixel), but the bottleneck is coarse — 4×4 here. Without
# skips the fine detail of x_t would have to squeeze through it; with them
# each resolution of the way up sees both the coarse, global view (what digit
# is this?) and the fine, local one (where exactly are its edges?) — the
# output mixes several *frequencies*. The skips are also short paths for the
# gradient, which helps training as in ResNets.
#
# The package's U-Net: a sinusoidal embedding of t through an MLP (plus a
# label embedding for conditional models; label K is the *null* label of
# guidance); per resolution, ResNet blocks (GroupNorm → SiLU → 3×3 conv, plus
# the time embedding) and a stride-2 convolution down; a middle with optional
# self-attention; nearest-neighbour up-sampling and a convolution on the way
# up; a final 1×1 convolution. The diagram for this notebook's model:

# %% tags=["figure"]
config = dm.default_config((8, 8, 1), num_classes=10)
if QUICK:
    config = dm.DenoiserConfig(
        kind="unet", data_shape=(8, 8, 1), dim=16, dim_mults=(1, 2), num_classes=10
    )
print(config)
dm.plot_unet(config)

# %% [markdown]
# **Quiz.** What do the U-Net's skip connections give the way up?
#
# * (a) fewer parameters than an autoencoder of the same depth
# * (b) the fine, high-resolution detail of x_t that the bottleneck has thrown
#   away, and short paths for the gradient
# * (c) the time embedding, which the bottleneck does not receive
# * (d) a way to skip the noisy time steps during training

# %% tags=["quiz"]
ex.quiz_skip_connections(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# The way down is written for you (the package's code):

# %%
print(inspect.getsource(dm.unet_down_path))

# %% [markdown]
# **Exercise 7 (the original's U-Net task).** Write the way up,
# `unet_up_path(h, skips, emb, blocks, upsample)`, symmetric to the way down.
# `h` comes out of the middle; `skips` is the list the way down built (one per
# block, at its resolution); `blocks[level]` are the ResNet blocks of a level
# of the way up (call `block(h, emb)`); `upsample[level]` doubles the
# resolution (`None` at level 0). Go from the lowest level to the highest;
# before each block, **concatenate** `h` with the most recent skip
# (`skips.pop()`) along the channels, `jnp.concatenate([h, skip], axis=-1)`;
# after a level's blocks, up-sample. Return the full-resolution features.
# Your function becomes the U-Net trained below.


# %% tags=["exercise"]
def unet_up_path(h, skips, emb, blocks, upsample):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
unet_up_path = ex.check_unet_up_path(unet_up_path)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def unet_up_path(h, skips, emb, blocks, upsample):
    for level in reversed(range(len(blocks))):
        for block in blocks[level]:
            h = jnp.concatenate([h, skips.pop()], axis=-1)
            h = block(h, emb)
        if upsample[level] is not None:
            h = upsample[level](h)
    return h


# %%
denoiser = dm.build_denoiser(config, up_path=unet_up_path)  # your way up
print(f"{kc.total_parameters(jax.eval_shape(denoiser.init, jax.random.key(0))):,} parameters")

# %% [markdown]
# (The original practical's U-Net for 28×28 MNIST had 2.3 M parameters and took
# about 10 s per training step on a 2-core CPU; the one for 8×8 digits is much
# smaller.)
#
# ## 7. Training: the variational bound and the simple loss
#
# We want to maximise log p_θ(x_0) of the data, but p_θ(x_0) is the marginal
# of the whole reverse chain. By the sum and product rules,
#
# $$p_\theta(x_0) = \int p(x_T) \prod_{t=1}^{T} p_\theta(x_{t-1} \mid x_t)\; dx_1 \cdots dx_T,$$
#
# where every factor is known: p(x_T) = N(0, I) and the Gaussian reverse steps.
#
# **Group task.** Why is this integral a problem? How would you try to compute it?
#
# <details><summary>Model answer</summary>
#
# It is an integral over T × D dimensions (T = 1000 steps of a 64-pixel image
# here: 64,000 dimensions; millions for real images). No closed form exists
# because μ_θ is a neural network; quadrature is hopeless in so many
# dimensions; and naive Monte Carlo — sample x_T, …, x_1 from the reverse chain
# and average p_θ(x_0 | x_1) — almost never produces a chain that ends near the
# given x_0, so the estimate has enormous variance. We need samples of the
# latents that are *consistent with x_0*: that is what the forward process
# provides, by importance sampling below.
#
# </details>

# %% [markdown]
# **Importance sampling with the forward process.** Multiply and divide by
# q(x_{1:T} | x_0) = Π_t q(x_t | x_{t−1}), which we can sample:
#
# $$p_\theta(x_0) = \mathbb E_{q(x_{1:T} \mid x_0)}\left[
# \frac{p(x_T) \prod_t p_\theta(x_{t-1} \mid x_t)}{\prod_t q(x_t \mid x_{t-1})}\right].$$
#
# A product of many numbers below one under- or overflows, so take the log.
# **Jensen's inequality** for the concave log, log E[Y] ≥ E[log Y], gives the
# **variational bound**
#
# $$-\log p_\theta(x_0) \le \mathbb E_q\left[-\log p(x_T)
# - \sum_{t=1}^{T} \log \frac{p_\theta(x_{t-1} \mid x_t)}{q(x_t \mid x_{t-1})}\right] =: L.$$
#
# **Group task.** Convince yourselves that (a) we can compute L, and (b)
# minimising L is a sensible way to maximise p_θ(x_0).
#
# <details><summary>Model answer</summary>
#
# (a) Every term is a Gaussian log-density we can evaluate, and the
# expectation is over the forward process, which we can sample; a Monte Carlo
# average of one chain per example is an unbiased estimate of L and of its
# gradient. (b) L is an upper bound on −log p_θ(x_0) for every θ: pushing it
# down pushes down a ceiling on the negative log-likelihood. The gap is
# KL(q(x_{1:T} | x_0) ‖ p_θ(x_{1:T} | x_0)): the bound is tight when the model's
# posterior over the latents matches the forward process — exactly the VAE
# story, with the encoder q fixed. Minimising L is not *equivalent* to
# maximising p_θ(x_0) (a θ may lower L by shrinking the gap), but the gap is
# small when the reverse steps are good, so both improve together.
#
# </details>
#
# **The KL form.** Rewriting q(x_t | x_{t−1}) with Bayes' rule as
# q(x_{t−1} | x_t, x_0) q(x_t | x_0) / q(x_{t−1} | x_0) (the Markov property lets
# us condition on x_0), the ratios telescope and L splits into KL divergences
# (Ho et al., eq. 5):
#
# $$L = \underbrace{\mathrm{KL}(q(x_T \mid x_0) \,\|\, p(x_T))}_{L_T:\ \text{no parameters}}
# + \sum_{t=2}^{T} \underbrace{\mathbb E_q\,
# \mathrm{KL}(q(x_{t-1} \mid x_t, x_0) \,\|\, p_\theta(x_{t-1} \mid x_t))}_{L_{t-1}}
# \; \underbrace{-\; \mathbb E_q \log p_\theta(x_0 \mid x_1)}_{L_0}.$$
#
# Each L_{t−1} compares two Gaussians with the same fixed variance σ_t², so it
# is a squared distance of the means, (1 / 2σ_t²) ‖μ̃_t − μ_θ(x_t, t)‖² + const.
# With the ε-parametrisation both means have the same form and only the noise
# differs:
#
# $$L_{t-1} = \lambda_t\, \mathbb E_{x_0, \epsilon}\, \big\|\epsilon
# - \epsilon_\theta(\sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon,\ t)\big\|^2
# + \text{const}, \qquad
# \lambda_t = \frac{\beta_t^2}{2\sigma_t^2\,\alpha_t\,(1 - \bar\alpha_t)}.$$
#
# Finally, instead of summing all T terms per example, pick one t uniformly
# at random: the expectation is the same (up to the factor T), x_t comes
# straight from x_0 by q(x_t | x_0), and the network runs once per example.
#
# **Ho et al.'s simple loss** sets λ_t = 1 for every t:
#
# $$L_{\text{simple}} = \mathbb E_{t \sim \mathcal U,\ x_0,\ \epsilon}\,
# \big\|\epsilon - \epsilon_\theta(x_t, t)\big\|^2 .$$
#
# This is **a reweighting of the bound, not a simplification of it**: each
# term is still minimised by the true noise (so a perfect model is optimal
# for both), but the terms are weighted differently, and L_simple is no longer
# a bound on −log p. Relative to the bound it down-weights the small-t terms
# (λ_t is largest at small t, see the figure), which are easy — barely any
# noise to remove — and spends the network's capacity on the noisier steps
# that shape the samples. Ho et al. found it gives better samples and worse
# likelihoods.

# %% tags=["figure"]
schedule = dm.get_schedule("linear", 1000)
lam = np.asarray(dm.vlb_weights(schedule))
print(f"λ_t with σ² = β̃: t=2 {lam[1]:.3g}, t=100 {lam[99]:.3g}, t=1000 {lam[-1]:.3g}")
dm.plot_vlb_weights(schedule)

# %% [markdown]
# **Quiz.** Ho et al.'s loss ‖ε − ε_θ(x_t, t)‖² with t uniform, compared with
# the variational bound:
#
# * (a) it is exactly the bound, simplified
# * (b) it is the bound with each time step's term reweighted (λ_t = 1 instead
#   of β_t² / (2σ_t² α_t (1 − ᾱ_t))): a different objective with the same
#   minimiser for a perfect model
# * (c) it is a lower bound on the bound
# * (d) it ignores the forward process

# %% tags=["quiz"]
ex.quiz_simple_loss(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# **Exercise 8.** Write `ddpm_loss(eps_model, x0, t, noise, betas)`: noise
# `x0` with your `q_sample`, predict with `eps_model(x_t, t)` and return the
# mean squared error against `noise` (averaged over the batch and the pixels).
# Use the batch you are given: the original practical's loss read a global
# `x_batch`, so under `jax.jit` it kept training on the first batch, frozen
# into the compiled function.


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
# also replaces 15 % of the labels by the null label (*label dropout*, needed
# for guidance in section 9). `dm.train_denoiser` runs it through khipu-core's
# `fit()` with Adam and keeps an exponential moving average (EMA) of the
# parameters inside the optimizer state (an optax transformation,
# `dm.with_parameter_ema`): sampling uses the EMA. The U-Net being trained is
# the one with **your** way up.

# %% tags=["figure"]
result = dm.train_denoiser(
    denoiser, schedule, splits.train, epochs=25 if QUICK else 120, batch_size=128, seed=0
)
steps_run = int(result.state.step)
print(
    f"final loss {result.history['loss'][-1]:.4f}, {steps_run} steps, {result.train_seconds:.0f} s"
)
kc.plot_learning_curves(result.history, metrics=["loss"], log_y=True)

# %% [markdown]
# ## 8. Sampling
#
# **Algorithm 2** of Ho et al.: start from x_T ~ N(0, I) and for t = T … 1 set
# x_{t−1} = (x_t − β_t ε_θ(x_t, t) / √(1 − ᾱ_t)) / √α_t + σ_t z with
# z ~ N(0, I), and **no noise at the last step** (z = 0 for t = 1). Both
# variances of section 5 are allowed: σ_t² = β̃_t (zero at the last step
# anyway) or σ_t² = β_t.
#
# **Exercise 9.** Write `ddpm_step(x, t, eps, z, betas)`: one such step for
# the 0-indexed step `t` (an `int`; t = 0 is the last step), the prediction
# `eps` and the noise `z` (arrays shaped like `x`). Either variance is
# accepted (the same one at every t).


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
    return mean + jnp.sqrt(posterior_variance(betas)[t]) * z  # σ² = β̃_t (0 at t = 0)


# %% [markdown]
# `dm.ddpm_sample` runs all T = 1000 such steps (σ² = β̃) in one
# `jax.lax.scan`. **DDIM** (Song et al., 2021) uses the same trained network
# but a deterministic update that can skip steps: x_{t'} = √ᾱ_{t'} x̂_0 +
# √(1 − ᾱ_{t'}) ε̂ with x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t — 50 steps instead of
# 1000. Below: unguided samples (the null label), i.e. the unconditional model.

# %% tags=["figure"]
n = 50 if QUICK else 100
labels = dm.sample_labels(n, 10)
key = jax.random.key(1)
ddim = dm.ddim_sample(
    denoiser, result.params, schedule, key, n, steps=50, trajectory=True, clip=1.0
)
dm.plot_sample_grid(ddim.x[:50], title="DDIM, 50 steps, unconditional (null label)")

# %% tags=["figure"]
ddpm = dm.ddpm_sample(denoiser, result.params, schedule, key, n, clip=1.0)
dm.plot_sample_grid(ddpm.x[:50], title="DDPM, 1000 steps, unconditional (null label)")

# %% [markdown]
# The denoising of the first 16 DDIM samples, from x_T to x_0 (a GIF written
# with pillow, and its key frames):

# %% tags=["figure"]
gif = dm.save_denoising_gif(ddim.trajectory[:, :16], OUT / "denoising.gif")
display(Image(filename=str(gif)))
dm.plot_denoising(ddim.trajectory, index=3)

# %% [markdown]
# ## 9. Guidance: classifier guidance and classifier-free guidance
#
# **Guidance** trades diversity for sample quality and is one of the reasons
# diffusion models replaced GANs for image synthesis. It starts from Bayes'
# rule applied to the score of a class-conditional model:
#
# $$\nabla_x \log p(x \mid y) = \nabla_x \log p(x) + \nabla_x \log p(y \mid x)$$
#
# (∇ₓ log p(y) = 0). The first term is the unconditional score, the second the
# gradient of a **classifier**. **Classifier guidance** (Dhariwal & Nichol
# 2021) samples with a scaled classifier term,
# ∇ₓ log p(x) + s ∇ₓ log p(y | x), which is the score of
# p_s(x | y) ∝ p(x) p(y | x)^s: with s > 1 the mass concentrates where the
# classifier is sure, so samples look more like their class and less varied.
#
# **Group task.** In which applications is this trade-off — better-looking,
# more typical samples, less diversity — worth making? When is it a bad idea?
#
# <details><summary>Model answer</summary>
#
# Worth it when each sample is looked at on its own and must be good: images
# or audio for a user, text-to-image where the prompt must be obeyed, design
# where only the best candidates matter. A bad idea when the *distribution*
# matters: synthetic data to train or test other models (it would
# under-represent rare cases and exaggerate class differences), simulations
# and uncertainty estimates (they would be over-confident), anything about
# fairness or representation (minority styles, accents, faces get pushed
# towards the majority "typical" look), and scientific uses where tails and
# variability are the point (molecules, weather ensembles).
#
# </details>
#
# In practice the classifier is queried at **every noise level**: it must be a
# *noise-conditional* classifier p_φ(y | x_t, t), trained on noised images —
# an ordinary classifier of clean images would be asked about inputs unlike
# anything it saw. In ε-form (ε_θ ≈ −√(1 − ᾱ_t) × score) the guided prediction is
#
# $$\hat\epsilon = \epsilon_\theta(x_t, t, \varnothing)
# - s\,\sqrt{1 - \bar\alpha_t}\;\nabla_{x_t} \log p_\phi(y \mid x_t, t),$$
#
# where ε_θ(x_t, t, ∅) is our model with the null label: the unconditional
# model, so that the label reaches the samples *only* through the classifier.
#
# **Exercise 10.** Write `classifier_guided_eps(eps, grad_log_prob, alpha_bar_t, scale)`:
# the guided prediction above, from the unconditional prediction `eps`, the
# classifier's gradient `grad_log_prob` (both `[B, ...]`), ᾱ_t (a float) and
# the scale s.


# %% tags=["exercise"]
def classifier_guided_eps(eps, grad_log_prob, alpha_bar_t, scale):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
classifier_guided_eps = ex.check_classifier_guided_eps(classifier_guided_eps)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def classifier_guided_eps(eps, grad_log_prob, alpha_bar_t, scale):
    return eps - scale * jnp.sqrt(1.0 - alpha_bar_t) * grad_log_prob


# %% [markdown]
# `dm.train_noisy_classifier` trains p_φ(y | x_t, t) (a small CNN that also
# receives the time embedding) on digits noised at uniform t; its accuracy
# falls with t, down to chance (0.1) where nothing of the image is left — its
# gradient only steers where it has something to say.

# %%
noisy_clf = dm.train_noisy_classifier(splits, schedule, epochs=8 if QUICK else 40)
print(f"noise-conditional classifier, noised validation accuracy {noisy_clf.val_accuracy:.3f}")
for t in (0, 250, 500, 750, 999):
    acc = dm.noisy_accuracy(
        noisy_clf, schedule, splits.val["x"], splits.val["label"], t, jax.random.key(0)
    )
    print(f"  accuracy at t = {t + 1:4d}: {acc:.2f}")

# %% [markdown]
# **Classifier-free guidance** (Ho & Salimans 2022) needs no classifier. Train
# one conditional model with *label dropout* (here 15 % of the labels replaced
# by the null label ∅): the same network is then both p(x | y) and p(x). Bayes'
# rule the other way round gives the classifier's gradient from the two scores,
# ∇ log p(y | x) = ∇ log p(x | y) − ∇ log p(x), and substituting it into the
# guided score with γ = 1 + w gives
#
# $$\hat\epsilon = (1 + w)\,\epsilon_\theta(x_t, t, y) - w\,\epsilon_\theta(x_t, t, \varnothing).$$
#
# The "classifier" is built from a generative model, which cannot ignore most
# of x the way a discriminative classifier can take shortcuts, so its
# gradient is more useful (Sander Dieleman's explanation); and one model is
# trained instead of two.
#
# **Group task.** In the original's notation the guided score is
# (1 − γ) ∇ log p(x) + γ ∇ log p(x | y). What happens with γ = 0 and with
# γ = 1?
#
# <details><summary>Model answer</summary>
#
# γ = 0 leaves ∇ log p(x): the unconditional model, the label is ignored.
# γ = 1 leaves ∇ log p(x | y): the plain conditional model, no guidance
# (w = 0 in the ε-form above). Guidance proper is γ > 1 (w > 0): it
# *extrapolates* past the conditional model, away from the unconditional one,
# sampling from p(x) p(y | x)^γ. Values between 0 and 1 interpolate and give
# weaker-than-conditional class adherence.
#
# </details>
#
# **Quiz.** With ε̂ = (1 + w) ε_θ(x, t, y) − w ε_θ(x, t, ∅), what does w = 0
# sample from?
#
# * (a) the unconditional model p(x)
# * (b) the conditional model p(x | y), unguided
# * (c) p(x | y) with the classifier term doubled
# * (d) nothing: w must be positive

# %% tags=["quiz"]
ex.quiz_guidance_weight(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# **Exercise 11.** Write `classifier_free_eps(cond, uncond, w)`: the guided
# prediction from the conditional and unconditional predictions (same shape)
# and the weight w.


# %% tags=["exercise"]
def classifier_free_eps(cond, uncond, w):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
classifier_free_eps = ex.check_classifier_free_eps(classifier_free_eps)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def classifier_free_eps(cond, uncond, w):
    return (1.0 + w) * cond - w * uncond


# %% [markdown]
# Side by side, for the labels 0, 1, …, 9, 0, …: classifier guidance (the
# unconditional model steered by the noisy classifier's gradient, scale s)
# and classifier-free guidance (w = 2), both DDIM with 50 steps from the same
# x_T. The **class accuracy** — the fraction of samples for label y that an
# evaluation classifier trained on clean real digits calls y (section 10) —
# measures how well each obeys its label; the unguided model gives about
# chance (0.1).

# %%
eval_clf = dm.train_eval_classifier(splits, epochs=10 if QUICK else 30)
print(f"evaluation classifier accuracy on real validation digits: {eval_clf.val_accuracy:.3f}")


def draw(**kwargs):
    out = dm.ddim_sample(
        denoiser, result.params, schedule, jax.random.key(2), n, steps=50, clip=1.0, **kwargs
    )
    return out.x, dm.class_accuracy(eval_clf, np.asarray(out.x), labels)


unguided_x, unguided_acc = draw()
cfg_x, cfg_acc = draw(labels=labels, guidance=2.0)
print(f"unguided (null label):        class accuracy {unguided_acc:.2f}")
print(f"classifier-free, w = 2:       class accuracy {cfg_acc:.2f}")
cg = {}
for s in (3.0,) if QUICK else (1.0, 3.0, 10.0):
    cg[s] = draw(labels=labels, classifier=noisy_clf, classifier_scale=s)
    print(f"classifier guidance, s = {s:g}: class accuracy {cg[s][1]:.2f}")

# %% tags=["figure"]
s_show = 3.0
dm.plot_sample_grid(
    cg[s_show][0][:30],
    labels=labels[:30],
    ncols=10,
    title=f"classifier guidance, s = {s_show:g} (class accuracy {cg[s_show][1]:.2f})",
)

# %% tags=["figure"]
dm.plot_sample_grid(
    cfg_x[:30],
    labels=labels[:30],
    ncols=10,
    title=f"classifier-free guidance, w = 2 (class accuracy {cfg_acc:.2f})",
)

# %% [markdown]
# ## 10. How good are the samples?
#
# The evaluation classifier also gives (a) the **Fréchet distance** between
# real and generated images in its feature space (FID's formula; 0 for
# identical distributions) and (c) a copying check, the **nearest-neighbour
# distance ratio**: how far samples are from their nearest training image,
# relative to held-out real images (0 would mean the model reproduces its
# training set). Guidance raises the class accuracy; watch what it does to
# the Fréchet distance (diversity).

# %%
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
    metrics = dm.evaluate_samples(np.asarray(out.x), splits, labels=labels, classifier=eval_clf)
    print(f"guidance {w}: " + ", ".join(f"{k} {v:.3f}" for k, v in metrics.items()))

# %% [markdown]
# ## 11. Going further
#
# The whole pipeline is one command (`khipu diffusion train --conditional --out runs/digits`,
# then `khipu diffusion sample --checkpoint runs/digits --sampler ddpm --out runs/ddpm`);
# `python packages/khipu-diffusion/benchmarks/bench_guidance.py` compares the
# two guidances on a fully trained model.
#
# **Group task (the original's exercise 1).** What is a deep generative model?
# What are its challenges compared with a discriminative model, and what does
# *deep* mean? Then: what is a denoising diffusion model — what is the
# *denoising* and what is the *diffusion*?
#
# <details><summary>Model answer</summary>
#
# A deep generative model is a model of p(x) (or p(x | y)) represented by a
# neural network, usually one that turns random noise into samples. *Deep*
# only means that the distribution is parametrised by a deep network. The
# challenge compared with a discriminative model p(y | x): the output is the
# high-dimensional x itself, and training by likelihood needs p_θ(x), whose
# normalisation over all possible x is intractable — each family (autoregressive,
# VAE, flow, energy-based, GAN, diffusion) gets round it differently, and
# evaluating the samples is itself hard (no accuracy to read off). A denoising
# diffusion model: *diffusion* is the fixed forward process that adds Gaussian
# noise in small steps until the data is noise; *denoising* is the learned
# reverse process, a network that predicts the noise (equivalently the score)
# so that, step by step, noise is turned back into data. It is trained with a
# reweighted variational bound, the simple ε-prediction loss.
#
# </details>
#
# 1. Train on Fashion-MNIST (`--dataset fashion_mnist`, needs
#    tensorflow-datasets) with a bigger network, for longer.
# 2. Conditional generation p(x | y): compare a one-hot label with the learnt
#    embedding used here.
# 3. Plot class accuracy and Fréchet distance against the guidance weight w
#    and the classifier scale s. Where is the trade-off?
# 4. Train the noisy classifier only on small t (say t < 300) and guide with
#    it: what happens to the samples, and why?
#
# **Reading.** Ho et al. 2020 (DDPM); Sohl-Dickstein et al. 2015 (the first
# diffusion model); Song & Ermon 2019 and Song et al. 2021 (score matching and
# SDEs); Nichol & Dhariwal 2021 (improved DDPM, cosine schedule, learned
# variances); Dhariwal & Nichol 2021 (classifier guidance); Ho & Salimans 2022
# (classifier-free guidance); Song, Meng & Ermon 2021 (DDIM). Blogs: Lilian
# Weng, "What are diffusion models?"; Sander Dieleman, "Diffusion models are
# autoencoders" and "Guidance: a cheat code for diffusion models"; Yang Song,
# "Generative modeling by estimating gradients of the data distribution";
# Jakub Tomczak's series on deep generative models.
