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
# # Practical 1: JAX, Optax, Haiku and convolutional networks
#
# A 90-minute practical with the `khipu-cnn` package, following the Khipu CNN practical:
#
# 1. **JAX** (30 min): arrays, explicit random keys, `jit`, `grad`, asynchronous dispatch,
#    `vmap`, pure functions.
# 2. **Optax and Haiku** (20 min): a gradient by hand, an optimiser loop, a Haiku module.
# 3. **Convolutional networks** (20 min): parameter counts, stride, padding, receptive
#    fields, pooling.
# 4. **Training a CNN** and the extension tasks (20 min): fully convolutional net, batch
#    norm, residual block, filter visualisation.
#
# **How the exercises work.** Each exercise has a cell with `# YOUR CODE HERE`: replace the
# `raise NotImplementedError` (or the `...`) by your answer and run it, then run the check
# cell below it. The check prints one line: ✓, or ✗ with the input that failed and a hint.
# If you skip an exercise, the check says "not attempted yet" and the notebook uses the
# package's answer, so *Run all* always reaches the end. Each exercise's solution is in the
# collapsed cell after its check: try first, then compare.
#
# Everything runs offline on a laptop CPU. `KHIPU_QUICK=1` makes a fast pass with small
# settings.

# %% tags=["pin"]
# %pip install "khipu-cnn==0.2.*"

# %%
import os
import time

import haiku as hk
import jax
import jax.numpy as jnp
import khipu.cnn as cnn
import khipu.core as kc
import numpy as np
import optax
from khipu.cnn import basics, exercises as ex, plots, regression
from khipu.cnn.data import describe

# Broadcast like NumPy (Colab's default), whatever JAX_NUMPY_RANK_PROMOTION says.
jax.config.update("jax_numpy_rank_promotion", "allow")
QUICK = os.environ.get("KHIPU_QUICK") == "1"
print("khipu-cnn", cnn.__version__, "| devices:", jax.devices(), "| quick mode:", QUICK)

# %% [markdown]
# ## 1. JAX fundamentals
#
# ### 1.1 JAX looks like NumPy, but its arrays are immutable
#
# `jax.numpy` mirrors NumPy's API. The difference that matters first: a NumPy array can
# be changed in place, a JAX array cannot. `x.at[i].set(v)` returns an updated *copy*.

# %%
basics.array_semantics_demo()

# %% [markdown]
# **Exercise 1.1.** Write `cosine(x)`, the element-wise cosine of a JAX array (in radians),
# with `jax.numpy`. The cell after the check plots it next to `jnp.sin`.


# %% tags=["exercise"]
def cosine(x):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
cosine = ex.check_cosine(cosine)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def cosine(x):
    return jnp.cos(x)


# %% tags=["figure"]
xs = jnp.linspace(-jnp.pi, jnp.pi, 200)
fig = kc.new_figure(6, 3)
ax = fig.add_subplot()
ax.plot(xs, np.sin(xs), lw=4, alpha=0.4, label="np.sin")
ax.plot(xs, jnp.sin(xs), "--", label="jnp.sin")
ax.plot(xs, cosine(xs), label="your cosine")
ax.grid(alpha=0.3)
ax.legend()
fig

# %% [markdown]
# ### 1.2 Random numbers: explicit keys instead of hidden state
#
# NumPy's generator keeps a hidden state that every draw changes, so the same call gives
# different numbers. JAX has no hidden state: the same key always gives the same number,
# and `jax.random.split` makes new independent keys. This is what makes JAX programs
# reproducible and safe to parallelise.

# %%
basics.prng_demo(seed=0)

# %% [markdown]
# ### 1.3 `jit`: tracing and compiling
#
# `jax.jit` runs a function once with abstract *tracers* (shape and dtype, no values),
# records the operations, and compiles them with XLA. The compiled function is reused for
# every later call with the same shapes.
#
# **Exercise 1.2.** Write the rectified linear unit `relu_python(x)` for a Python number
# with an `if`: `x` when `x > 0`, else `0.0`.


# %% tags=["exercise"]
def relu_python(x):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
relu_python = ex.check_relu_python(relu_python)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def relu_python(x):
    if x > 0:
        return x
    return 0.0


# %% [markdown]
# Under `jit` the `if` fails: a tracer has no value, so Python cannot decide which branch
# to take.

# %%
try:
    jax.jit(relu_python)(jnp.float32(1.0))
except jax.errors.TracerBoolConversionError as err:
    print(type(err).__name__, "—", str(err).splitlines()[0][:100])

# %% [markdown]
# **Exercise 1.3.** Write a `relu(x)` that works under `jax.jit` on arrays of any shape:
# no Python `if` on `x`. (Hint: `jnp.where` or `jnp.maximum`.) The check runs
# `jax.jit(relu)` and also checks `jax.grad(relu)` away from 0.


# %% tags=["exercise"]
def relu(x):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
relu = ex.check_relu(relu)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def relu(x):
    return jnp.maximum(x, 0.0)  # or jnp.where(x > 0, x, 0.0)


# %% tags=["figure"]
grid = jnp.linspace(-3.0, 3.0, 201)
fig = kc.new_figure(6, 3)
ax = fig.add_subplot()
ax.plot(grid, jax.jit(relu)(grid), label="jit(relu)")
ax.plot(grid, jax.vmap(jax.grad(relu))(grid), "--", label="vmap(grad(relu))")
ax.grid(alpha=0.3)
ax.legend()
fig

# %% [markdown]
# ### 1.4 `grad`: derivatives of Python functions
#
# `jax.grad(f)` is a new function computing $f'$; it composes, so
# `jax.grad(jax.grad(f))` is $f''$. Take $f(x) = 6x^4 - 9x + 4$.
#
# **Exercise 1.4.** What is $f'(2)$? Compute it with `jax.grad` (or by hand).


# %%
def f(x):
    return 6 * x**4 - 9 * x + 4


# %% tags=["exercise"]
df_at_2 = ...  # YOUR CODE HERE

# %% tags=["check"]
df_at_2 = ex.check_first_derivative(df_at_2)

# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
df_at_2 = float(jax.grad(f)(2.0))  # 24·2³ − 9 = 183

# %% [markdown]
# **Exercise 1.5.** What is the third derivative $f'''(2)$?

# %% tags=["exercise"]
d3f_at_2 = ...  # YOUR CODE HERE

# %% tags=["check"]
d3f_at_2 = ex.check_third_derivative(d3f_at_2)

# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
d3f_at_2 = float(jax.grad(jax.grad(jax.grad(f)))(2.0))  # 144·2 = 288

# %% [markdown]
# ### 1.5 Asynchronous dispatch and `block_until_ready`
#
# A JAX call returns as soon as its work is *queued* on the device; the Python program
# continues while the device computes. The result is only waited for when you need its
# value (printing it, converting it to NumPy) or call `.block_until_ready()`. Timing a
# JAX call without waiting therefore measures the dispatch, not the computation:

# %%
demo = basics.async_dispatch_demo(size=300 if QUICK else 2000)
print(f"jnp.dot returned after {1e3 * demo['dispatch_seconds']:.2f} ms;")
print(f"the product was ready after {1e3 * demo['blocked_seconds']:.2f} ms")

# %% [markdown]
# **Exercise 1.6a.** Write `time_blocked(fn, *args)`: the seconds one call `fn(*args)`
# takes, *including* the wait for its result (use `time.perf_counter()` and
# `jax.block_until_ready`, which also works on tuples and dicts of arrays). The check
# gives it a fake computation that takes 50 ms to become ready.


# %% tags=["exercise"]
def time_blocked(fn, *args):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
time_blocked = ex.check_time_blocked(time_blocked)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def time_blocked(fn, *args):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


# %% [markdown]
# The first call of a jitted function also compiles it; time a *second* call to see
# the speed of the compiled code:

# %%
x = jax.random.normal(jax.random.key(0), (100_000 if QUICK else 1_000_000,))
selu_jit = jax.jit(basics.selu)
print(f"first call (compiles): {1e3 * time_blocked(selu_jit, x):.2f} ms")
print(f"second call:           {1e3 * time_blocked(selu_jit, x):.2f} ms")
print(f"eager, op by op:       {1e3 * time_blocked(basics.selu, x):.2f} ms")

# %% [markdown]
# How much faster? Best-of-three times (compilation excluded) of the practical's
# experiments: NumPy vs JAX matrix product, eager vs jitted ReLU and SELU
# ($\lambda\,(x \text{ if } x > 0 \text{ else } \alpha e^x - \alpha)$), and a per-row
# min/max by a Python loop, by hand with `axis=1`, and with `vmap` (section 1.7).

# %% tags=["figure"]
times = basics.timing_demo(quick=QUICK, repeats=3)
for name, ratio in basics.speedups(times).items():
    print(f"{name:<30} {ratio:8.1f}x")
basics.plot_timings(times)

# %% [markdown]
# **Exercise 1.6b** (discuss in your group first). Which function gains more from `jit`
# on your machine and why: `"relu"` (one `maximum` per element) or `"selu"` (a
# comparison, an exponential, a multiplication and a subtraction per element)?

# %% tags=["exercise"]
gains_more = ...  # YOUR CODE HERE: "relu" or "selu"

# %% tags=["check"]
gains_more = ex.check_jit_speedup_answer(gains_more)

# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
# Eager SELU makes one pass over memory per operation and keeps each intermediate array;
# jit fuses the operations into one loop. ReLU is a single operation: nothing to fuse.
gains_more = "selu"

# %% [markdown]
# ### 1.6 Pure functions
#
# `jit` assumes functions are pure. A side effect (appending to a list, a `print`) runs
# only while tracing: on the first call, and again when the input's shape or dtype
# changes. A captured global is frozen into the compiled code: after changing it, the
# jitted function still uses the old value until it is retraced.

# %%
basics.purity_demo()

# %% [markdown]
# ### 1.7 `vmap`: write the function for one example, run it on a batch
#
# `min_max(x)` returns `[min(x), max(x)]` of the whole array it is given.


# %%
def min_max(x):
    return jnp.array([jnp.min(x), jnp.max(x)])


batched_x = jnp.arange(15).reshape(3, 5)
batched_x

# %% [markdown]
# **Exercise 1.7a.** Without running it: what is `min_max(batched_x)`? Write it as a list.

# %% tags=["exercise"]
min_max_of_batch = ...  # YOUR CODE HERE, e.g. [[a, b], [c, d]] or [a, b]

# %% tags=["check"]
min_max_of_batch = ex.check_min_max_of_batch(min_max_of_batch)

# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
min_max_of_batch = [0, 14]  # min_max sees one array, not three rows

# %% [markdown]
# **Exercise 1.7b.** Write `min_max_batched(batched)`, `[B, D]` → `[B, 2]` (each row's min
# and max), with `jax.vmap` and the `min_max` above — no loop and no `axis=`.


# %% tags=["exercise"]
def min_max_batched(batched):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
min_max_batched = ex.check_min_max_batched(min_max_batched)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def min_max_batched(batched):
    return jax.vmap(min_max)(batched)  # in_axes=0: one row at a time


# %% [markdown]
# ## 2. Optimisation with Optax, models with Haiku
#
# Synthetic data $y = 0.4\,x - 0.2 + \varepsilon$ with $\varepsilon \sim N(0, 0.05^2)$,
# `x` of shape `[100, 1]`, and a linear model with parameters `{"w": [1], "b": []}`
# trained on the mean squared error
# $L(w, b) = \frac{1}{N}\sum_i (x_i w + b - y_i)^2$.

# %%
x, y = regression.make_linear_data(seed=0)
print(x.shape, y.shape, x[:3, 0], y[:3])

# %% [markdown]
# ### 2.1 A gradient by hand, checked against `jax.grad`
#
# **Exercise 2.1.** Write `mse_gradient(params, x, y)` returning
# `{"w": dL/dw, "b": dL/db}` from the derivative of $L$ (chain rule, no `jax.grad`).
# `x` is `[N, D]`, `params["w"]` is `[D]`, `params["b"]` a scalar.


# %% tags=["exercise"]
def mse_gradient(params, x, y):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
mse_gradient = ex.check_mse_gradient(mse_gradient)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def mse_gradient(params, x, y):
    residual = x @ params["w"] + params["b"] - y  # [N]
    n = len(y)
    return {"w": 2.0 / n * x.T @ residual, "b": 2.0 / n * residual.sum()}


# %% [markdown]
# `jax.grad` differentiates with respect to the first argument by default; `argnums`
# picks others (a tuple gives one gradient each). With `has_aux=True` the function
# returns `(loss, extra)` and only `loss` is differentiated — handy to return the
# predictions too. `jax.value_and_grad` gives the loss and the gradient in one pass.


# %%
def loss_and_predictions(w, b, x, y):
    predictions = x @ w + b
    return jnp.mean((predictions - y) ** 2), predictions


w0, b0 = jnp.array([0.1]), jnp.float32(0.3)
(loss, predictions), (dw, db) = jax.value_and_grad(
    loss_and_predictions, argnums=(0, 1), has_aux=True
)(w0, b0, x, y)
mine = mse_gradient({"w": np.asarray(w0), "b": np.float32(b0)}, x, y)
print(f"loss {float(loss):.4f}; predictions {predictions.shape}")
print(f"jax.grad:  dw={np.asarray(dw)}, db={float(db):.5f}")
print(f"by hand:   dw={np.asarray(mine['w'])}, db={float(mine['b']):.5f}")

# %% [markdown]
# ### 2.2 An Optax training loop
#
# An optax optimiser is a pair of pure functions: `init(params)` makes its state
# (momentum, Adam's moments...), and `update(grads, state, params)` returns the
# `updates` and the new state; `optax.apply_updates(params, updates)` adds them.
#
# **Exercise 2.2.** Write `optax_fit(params, x, y, optimizer, num_steps)` that makes
# `num_steps` updates of the linear model on the MSE and returns the parameters.
# (`regression.mse(regression.linear_predict(p, x), y)` is the loss.)


# %% tags=["exercise"]
def optax_fit(params, x, y, optimizer, num_steps):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
optax_fit = ex.check_optax_fit(optax_fit)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def optax_fit(params, x, y, optimizer, num_steps):
    def loss_fn(p):
        return regression.mse(regression.linear_predict(p, x), y)

    opt_state = optimizer.init(params)
    for _ in range(num_steps):
        grads = jax.grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
    return params


# %% [markdown]
# Your loop with two optimisers, against the closed-form least-squares fit:

# %%
start = {"w": jnp.zeros((1,)), "b": jnp.ones(())}
w_ls, b_ls = regression.least_squares(x, y)
for name, opt in [("sgd(0.1)", optax.sgd(0.1)), ("adam(0.05)", optax.adam(0.05))]:
    p = optax_fit(start, x, y, opt, 100)
    print(f"{name:<11} w={float(p['w'][0]):.4f} b={float(p['b']):.4f}")
print(f"closed form w={w_ls[0]:.4f} b={b_ls:.4f}   (true: w=0.4, b=-0.2)")

# %% [markdown]
# The package runs the same loop as one jitted `lax.while_loop`, stopping when the
# gradient norm falls below a tolerance, with any optax optimiser by name (try
# `adamw`, `lion`, `rmsprop`...: `cnn.available_optimizers()` lists them):

# %% tags=["figure"]
fits = {
    name: cnn.fit_linear_regression(x, y, optimizer=name, learning_rate=lr)
    for name, lr in [("sgd", 0.1), ("adam", 0.05), ("lbfgs", 1.0)]
}
for name, fit in fits.items():
    print(f"{name:<6} {fit.result.steps:4d} steps, w={fit.w:.4f} b={fit.b:.4f}")
regression.plot_regression(x, y, fits)

# %% [markdown]
# ### 2.3 A Haiku module
#
# Haiku lets you write a model as an object (`hk.Module`) whose parameters are declared
# with `hk.get_parameter(name, shape, init=...)` inside `__call__`. `hk.transform` turns a
# function using modules into a pair of *pure* functions: `init(key, x) -> params` and
# `apply(params, key, x)`; `hk.without_apply_rng` drops `apply`'s key when the model draws
# no random numbers.
#
# **Exercise 2.3.** Complete `LinearModule`: `x` `[N, D]` → `x @ w + b` `[N, output_size]`
# with parameters named `"w"` `[D, output_size]` and `"b"` `[output_size]`.


# %% tags=["exercise"]
class LinearModule(hk.Module):
    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        # YOUR CODE HERE
        raise NotImplementedError


# %% tags=["check"]
LinearModule = ex.check_linear_module(LinearModule)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
class LinearModule(hk.Module):
    def __init__(self, output_size, name=None):
        super().__init__(name=name)
        self.output_size = output_size

    def __call__(self, x):
        d = x.shape[-1]
        w = hk.get_parameter(
            "w", [d, self.output_size], init=hk.initializers.TruncatedNormal(1 / np.sqrt(d))
        )
        b = hk.get_parameter("b", [self.output_size], init=jnp.zeros)
        return x @ w + b


# %%
model = hk.without_apply_rng(hk.transform(lambda x: LinearModule(1)(x)[:, 0]))
params = model.init(jax.random.key(42), x)
print(jax.tree.map(jnp.shape, params))


def haiku_loss(p):
    return regression.mse(model.apply(p, x), y)


opt = optax.adam(0.05)
opt_state = opt.init(params)
haiku_grad = jax.jit(jax.grad(haiku_loss))  # compiled once, reused at every step
for _ in range(200):
    updates, opt_state = opt.update(haiku_grad(params), opt_state, params)
    params = optax.apply_updates(params, updates)
print("after 200 Adam steps:", jax.tree.map(lambda a: np.round(np.asarray(a), 3), params))

# %% [markdown]
# ## 3. Convolutional networks
#
# An image is a tensor `[height, width, channels]`; a batch is `[N, H, W, C]`.
#
# ### 3.1 Why convolutions: counting parameters
#
# **Exercise 3.1.** Write `dense_parameters(in_features, units)`, the parameters of a
# fully-connected layer (weights and biases), and `conv_parameters(kernel, in_channels,
# filters)`, those of a `kernel`×`kernel` convolution with biases. Then compare a dense
# layer from a flattened 32×32×3 image to 1,024 units with a 3×3 convolution with 48
# filters.


# %% tags=["exercise"]
def dense_parameters(in_features, units):
    # YOUR CODE HERE
    raise NotImplementedError


def conv_parameters(kernel, in_channels, filters):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
dense_parameters = ex.check_dense_parameters(dense_parameters)
conv_parameters = ex.check_conv_parameters(conv_parameters)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def dense_parameters(in_features, units):
    return in_features * units + units


def conv_parameters(kernel, in_channels, filters):
    return kernel * kernel * in_channels * filters + filters  # shared over positions


# %%
print(f"dense 32·32·3 → 1024: {dense_parameters(32 * 32 * 3, 1024):>12,}")
print(f"conv 3x3, 3 → 48:     {conv_parameters(3, 3, 48):>12,}")

# %% [markdown]
# A convolution slides the same small kernel over every position: few parameters, and a
# pattern learnt in one place is recognised everywhere.
#
# ### 3.2 Stride and padding
#
# The **stride** is the step between two windows; **padding** adds zero pixels around the
# image (`"SAME"` padding keeps the size at stride 1). Each coloured window below produces
# the output pixel of the same colour:

# %% tags=["figure"]
plots.plot_convolutions(((1, 0), (2, 0), (1, 1), (2, 1)), size=5, kernel=3)

# %% [markdown]
# **Exercise 3.2.** Write `conv_output_size(size, kernel, stride, padding)`: the output
# height (or width) of a convolution on `size` pixels with a `kernel`-wide window, a step
# of `stride` and `padding` zero pixels on *each* side.


# %% tags=["exercise"]
def conv_output_size(size, kernel, stride=1, padding=0):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
conv_output_size = ex.check_conv_output_size(conv_output_size)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def conv_output_size(size, kernel, stride=1, padding=0):
    return (size + 2 * padding - kernel) // stride + 1


# %% [markdown]
# The formula against an actual convolution (`jax.lax.conv_general_dilated`):

# %%
for size, kernel, stride, pad in [(32, 3, 1, 1), (32, 3, 2, 0), (28, 5, 1, 0), (7, 3, 2, 1)]:
    out = jax.lax.conv_general_dilated(
        jnp.zeros((1, size, size, 1)),
        jnp.zeros((kernel, kernel, 1, 1)),
        (stride, stride),
        [(pad, pad), (pad, pad)],
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    print(
        f"{size}, k={kernel}, s={stride}, p={pad}: formula "
        f"{conv_output_size(size, kernel, stride, pad)}, JAX {out.shape[1]}"
    )

# %% [markdown]
# ### 3.3 Receptive fields
#
# Stacking convolutions lets a pixel of a deep layer "see" a larger part of the image:
# its **receptive field**. Two 3×3 convolutions see 5×5 pixels, three see 7×7. Strides
# and pooling multiply the growth: after a stride-2 layer, each further 3×3 kernel spans
# twice as many input pixels.

# %% tags=["figure"]
plots.plot_receptive_field()

# %% [markdown]
# ### 3.4 Pooling
#
# Max pooling keeps the largest value in each window: it shrinks the map and makes the
# features a little insensitive to small shifts.
#
# **Exercise 3.3.** Write `max_pool_2d(x, window, stride)` for a 2-D array with "VALID"
# padding (incomplete windows are dropped). With a 2×2 window and stride 2, the practical's
# matrix below gives `[[9, 5, 8], [9, 9, 8], [9, 9, 9]]`.

# %%
ex.MAX_POOL_INPUT


# %% tags=["exercise"]
def max_pool_2d(x, window, stride):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
max_pool_2d = ex.check_max_pool(max_pool_2d)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def max_pool_2d(x, window, stride):
    x = np.asarray(x)
    rows = (x.shape[0] - window) // stride + 1
    cols = (x.shape[1] - window) // stride + 1
    out = np.empty((rows, cols), x.dtype)
    for i in range(rows):
        for j in range(cols):
            out[i, j] = x[i * stride : i * stride + window, j * stride : j * stride + window].max()
    return out


# %%
print(max_pool_2d(ex.MAX_POOL_INPUT, 2, 2))
# The original practical passed `strides=2` to hk.MaxPool on a 2-D input, which pooled
# with stride 1 (a 5x5 output); the package's max_pool applies window and stride to the
# spatial axes only:
print(cnn.max_pool(ex.MAX_POOL_INPUT, window=2, stride=2))

# %% [markdown]
# ### 3.5 The models
#
# `cnn.build_model(name)` returns pure `init` / `apply` functions (Haiku
# `transform_with_state`, so batch-norm statistics live in a separate `model_state`).
# Dropout is active only with `is_training=True`. The practical's mini-AlexNet had
# max-pools with stride 1: the map stayed 32×32 and its first dense layer alone had
# 134 M parameters. With stride-2 pools the same architecture has 4 M:

# %%
for name, shape in [("lenet", (8, 8, 1)), ("lenet", (28, 28, 1)), ("alexnet", (32, 32, 3))]:
    counts = cnn.model_summary(cnn.build_model(name), shape)
    print(f"{name} on {shape}: {sum(counts.values()):,} parameters")
cnn.model_summary(cnn.build_model("lenet"), (8, 8, 1))

# %% [markdown]
# ## 4. Training a CNN
#
# The offline dataset is scikit-learn's 1,797 handwritten digits (8×8), split once with a
# fixed seed into 70 % train, 15 % validation and 15 % test. (With `khipu-cnn[tfds]`,
# `"mnist"`, `"fashion_mnist"` and `"cifar10"` load the same way.)

# %% tags=["figure"]
splits = cnn.load_image_dataset("digits")
print(describe(splits))
kc.plot_image_grid(splits.train["image"][:25], titles=[str(v) for v in splits.train["label"][:25]])

# %% [markdown]
# Training shuffles the minibatches every epoch, evaluates on the validation split after
# each epoch (dropout off) and stops when the validation loss has not improved for
# `patience` epochs, returning the best epoch's parameters. The test split is only used
# at the very end.

# %% tags=["figure"]
EPOCHS = 4 if QUICK else 60
model = cnn.build_model("lenet", num_classes=splits.num_classes)
result = cnn.train_classifier(
    model, splits, epochs=EPOCHS, batch_size=32, patience=8, seed=0, progress=False
)
test = cnn.evaluate_classifier(model, result.state, splits.test)
print(
    f"best epoch {result.best_epoch} of {result.epochs_run}, "
    f"test accuracy {test['accuracy']:.4f}, {result.train_seconds:.1f} s"
)
kc.plot_learning_curves(result.history, metrics=["loss", "accuracy"])

# %% [markdown]
# Under each image: the predicted class and the model's probability for it; above: the
# true class. How confident is the model on the ones it gets wrong? Which digits does it
# confuse?

# %% tags=["figure"]
state = result.state
probs = cnn.predict_proba(model, state.params, state.model_state, splits.test["image"])
cnn.plot_predictions(
    splits.test["image"][:25], probs[:25], splits.test["label"][:25], splits.class_names
)

# %% tags=["figure"]
matrix = cnn.confusion_matrix(splits.test["label"], probs.argmax(1), splits.num_classes)
cnn.plot_confusion_matrix(matrix, splits.class_names)

# %% [markdown]
# ## 5. Extension tasks
#
# ### Task 1: a fully convolutional net
#
# Replace the dense layers by a 1×1 convolution to one channel per class, then average
# each channel over the positions (**global average pooling**). No layer depends on the
# image size any more, so the same parameters classify images of any size.
#
# **Exercise 5.1.** Write `global_average_pool(x)`: `[N, H, W, C]` → `[N, C]`.


# %% tags=["exercise"]
def global_average_pool(x):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
global_average_pool = ex.check_global_average_pool(global_average_pool)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def global_average_pool(x):
    return jnp.mean(x, axis=(1, 2))


# %%
def fcn_forward(images):
    h = hk.Conv2D(16, 3)(images)
    h = jax.nn.relu(h)
    h = hk.Conv2D(splits.num_classes, 1)(h)  # one channel per class
    return global_average_pool(h)


fcn = hk.without_apply_rng(hk.transform(fcn_forward))
fcn_params = fcn.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
for side in (8, 16, 28):
    logits = fcn.apply(fcn_params, jnp.zeros((2, side, side, 1)))
    print(f"{side}x{side} images → logits {logits.shape}")
print("parameters:", kc.total_parameters(fcn_params), "(the same for every image size)")

# %% [markdown]
# ### Task 2: batch normalisation
#
# Batch norm normalises each channel with the mean and variance over the batch and the
# positions, then (in Haiku's `hk.BatchNorm`) rescales it with a learnt scale and offset.
# It keeps activations at a stable scale from layer to layer.
#
# **Exercise 5.2.** Write `batch_norm(x, eps=1e-5)` for `[N, H, W, C]` features in
# training mode, without scale and offset: `(x − mean_c) / sqrt(var_c + eps)`.


# %% tags=["exercise"]
def batch_norm(x, eps=1e-5):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
batch_norm = ex.check_batch_norm(batch_norm)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def batch_norm(x, eps=1e-5):
    mean = jnp.mean(x, axis=(0, 1, 2), keepdims=True)
    var = jnp.var(x, axis=(0, 1, 2), keepdims=True)
    return (x - mean) / jnp.sqrt(var + eps)


# %%
features = jax.random.normal(jax.random.key(1), (16, 4, 4, 3)) * jnp.array([1.0, 10.0, 0.1]) + 5
normed = batch_norm(features)
print("std per channel before:", np.round(jnp.std(features, axis=(0, 1, 2)), 3))
print("std per channel after: ", np.round(jnp.std(normed, axis=(0, 1, 2)), 3))
bn = hk.transform_with_state(lambda x: hk.BatchNorm(False, False, 0.9, eps=1e-5)(x, True))
bn_params, bn_state = bn.init(jax.random.key(0), features)
haiku_normed, _ = bn.apply(bn_params, bn_state, None, features)
print("same as hk.BatchNorm:", bool(jnp.allclose(haiku_normed, normed, atol=1e-4)))

# %% [markdown]
# ### Task 3: a residual block
#
# A residual block adds its input to what two convolutions compute,
# `relu(x + conv2(relu(conv1(x))))`: it learns a *correction* to the identity, which is
# what lets nets of 100+ layers train (He et al., 2016).
#
# **Exercise 5.3.** Write `residual_block(x, conv1, conv2)`, where `conv1` and `conv2` are
# functions that keep the shape (e.g. `hk.Conv2D(C, 3)` modules).


# %% tags=["exercise"]
def residual_block(x, conv1, conv2):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
residual_block = ex.check_residual_block(residual_block)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def residual_block(x, conv1, conv2):
    return jax.nn.relu(x + conv2(jax.nn.relu(conv1(x))))


# %%
def resnet_forward(images):
    h = jax.nn.relu(hk.Conv2D(16, 3)(images))
    h = residual_block(h, hk.Conv2D(16, 3), hk.Conv2D(16, 3))
    h = residual_block(h, hk.Conv2D(16, 3), hk.Conv2D(16, 3))
    return global_average_pool(hk.Conv2D(splits.num_classes, 1)(h))


resnet = hk.without_apply_rng(hk.transform(resnet_forward))
res_params = resnet.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
print(
    "logits",
    resnet.apply(res_params, splits.test["image"][:4]).shape,
    "|",
    kc.total_parameters(res_params),
    "parameters",
)

# %% [markdown]
# The package's models take the same ideas as options: `batch_norm=True` after every
# convolution, `residual=True` for a residual block per stage, and `"fcn"` for the fully
# convolutional net. A short comparison (longer runs without quick mode):

# %%
variants = {
    "lenet": model,
    "lenet + batch norm": cnn.build_model("lenet", batch_norm=True),
    "lenet + residual": cnn.build_model("lenet", residual=True),
    "fully convolutional": cnn.build_model("fcn"),
}
for name, net in variants.items():
    if name == "lenet":
        res = result
    else:
        res = cnn.train_classifier(net, splits, epochs=2 if QUICK else 30, progress=False)
    acc = cnn.evaluate_classifier(net, res.state, splits.test)["accuracy"]
    print(
        f"{name:<22} {kc.total_parameters(res.state.params):>8,} parameters, "
        f"test accuracy {acc:.4f} after {res.epochs_run} epochs"
    )

# %% [markdown]
# ### Task 4: what did the first layer learn?
#
# A Haiku convolution kernel has shape `[kh, kw, in_channels, filters]`.
#
# **Exercise 5.4.** Write `filter_images(kernel)`: the `filters` kernels as images
# `[filters, kh, kw, in_channels]`, each scaled to [0, 1] by its *own* min and max (so a
# weak filter is as visible as a strong one).


# %% tags=["exercise"]
def filter_images(kernel):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
filter_images = ex.check_filter_images(filter_images)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def filter_images(kernel):
    w = np.transpose(np.asarray(kernel), (3, 0, 1, 2))
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    hi = w.max(axis=(1, 2, 3), keepdims=True)
    return (w - lo) / np.maximum(hi - lo, 1e-12)


# %% tags=["figure"]
kernel = state.params["lenet/conv1/conv"]["w"]
print("kernel", kernel.shape)
images = filter_images(kernel)
kc.plot_image_grid(images[:32], ncols=8, suptitle="first-layer filters of the trained LeNet")

# %% [markdown]
# Do some filters look like edge or stroke detectors? Compare with the filters at
# initialisation (`model.init`), or after training longer without quick mode.
#
# ### The same from the command line
#
# `khipu cnn train --dataset digits --model lenet --epochs 60 --out runs/lenet` writes the
# metrics, figures and the best checkpoint into a run folder; `--resume` continues an
# interrupted run; `khipu cnn summary --model alexnet --image-shape 32 32 3` prints the
# parameter counts.
#
# ### Further reading
#
# * JAX: [the sharp bits](https://jax.readthedocs.io/en/latest/notebooks/Common_Gotchas_in_JAX.html),
#   [asynchronous dispatch](https://jax.readthedocs.io/en/latest/async_dispatch.html).
# * Dumoulin & Visin, *A guide to convolution arithmetic for deep learning* (2016).
# * He et al., *Deep residual learning for image recognition* (2016); Ioffe & Szegedy,
#   *Batch normalization* (2015).
