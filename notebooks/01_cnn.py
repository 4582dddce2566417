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
# 3. **Convolutional networks** (25 min): images as tensors, channels-last and
#    channels-first, why dense layers blow up, what a filter computes (you write the
#    convolution), stride, padding, receptive fields, pooling.
# 4. **Training a CNN on colour images** (25 min): you write the loss, the train step and
#    the epoch loop, train the mini-AlexNet with them, then meet the package's `fit()`;
#    predictions and confidence; what the layers learned (filters and feature maps).
# 5. **Extension tasks** and readings: fully convolutional net, batch norm, residual block,
#    filter visualisation; initialisation, uncertainty, architectures.
#
# Besides the exercises there are **quizzes** (replace `None` by the letter of your
# answer) and **group tasks** (discuss, then open the model answer).
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
# %pip install "khipu-cnn==0.3.*"

# %%
import os
import tempfile
import time
from pathlib import Path

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
# be changed in place, a JAX array cannot. Assigning to an element of a JAX array raises a
# `TypeError` (run the cell: the error is caught and printed); `x.at[i].set(v)` returns an
# updated *copy* and leaves `x` as it was. Immutability is what lets JAX trace, compile and
# differentiate functions safely: no function can change its caller's arrays behind its back.

# %%
a = np.arange(5)
a[0] = 10  # NumPy: changed in place
print("NumPy after a[0] = 10:", a)

x = jnp.arange(5)
try:
    x[0] = 10  # JAX: fails
except TypeError as err:
    print("JAX raised TypeError:", str(err).splitlines()[0])

y = x.at[0].set(10)  # a new array; x is unchanged
print("x =", x, "| x.at[0].set(10) =", y)
print("also .add, .multiply, .min, .max:", x.at[1:3].add(100))

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
# NumPy's global generator keeps a hidden state that every draw changes, so the same call
# gives different numbers — and any function that draws changes the state for everyone
# else (impure). Let's watch the state change:

# %%
# (the legacy global generator, on purpose: its hidden state is the lesson)
np.random.seed(0)  # noqa: NPY002
for _ in range(3):
    before = np.random.get_state()[1][:3]  # noqa: NPY002
    sample = np.random.normal()  # noqa: NPY002
    after = np.random.get_state()[1][:3]  # noqa: NPY002
    print(f"drew {sample:+.4f}; state changed: {not np.array_equal(before, after)}")

# %% [markdown]
# JAX has no hidden state. A random function takes a **key** and is pure: the same key
# always gives the same number. To get new numbers you **split** a key into new,
# independent keys (and never reuse one). This is what makes JAX programs reproducible and
# safe to parallelise and `jit`.

# %%
key = jax.random.key(0)
print("same key, twice:    ", jax.random.normal(key), jax.random.normal(key))
key, subkey = jax.random.split(key)
print("after a split:      ", jax.random.normal(subkey))
keys = jax.random.split(key, 3)  # three new keys at once
print("three split keys:   ", [round(float(jax.random.normal(k)), 4) for k in keys])

# %% [markdown]
# **Quiz.** You call `jax.random.normal(key)` twice with the same key. What do you get?
# (a) two different numbers: each call advances the generator; (b) the same number twice:
# a key is a value, not a generator with state; (c) an error: a key can be used only once.

# %% tags=["quiz"]
ex.quiz_prng_reuse(None)  # replace None by "a", "b" or "c"

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
# **Group task 1.6** (the original practical's). Chat with your neighbour: how does JAX's
# automatic differentiation compare with that of PyTorch or TensorFlow? Think about what
# you differentiate (a function, or a recorded computation?), higher-order derivatives,
# and how each combines with compilation and vectorisation.
#
# <details><summary>Model answer</summary>
#
# * **What is differentiated.** PyTorch records a *tape* while the forward pass runs
#   (`loss.backward()` walks it and accumulates `.grad` on tensors); TensorFlow 2 does the
#   same inside `tf.GradientTape`. JAX differentiates a *function*: `jax.grad(f)` is a new
#   Python function that returns the gradient, with nothing stored on the arrays. This is
#   why JAX needs pure functions and explicit parameters, and why it gives you derivatives
#   with respect to any argument (`argnums`).
# * **Composability.** Because `grad` returns an ordinary function, it composes with itself
#   (`grad(grad(f))` for f''; Hessians with `jax.hessian`, i.e. `jacfwd(jacrev(f))`) and with
#   the other transformations: `jit(grad(f))`, `vmap(grad(f))` for per-example gradients
#   (awkward in PyTorch before `torch.func`, which took up JAX's design).
# * **Forward and reverse mode.** JAX has both (`jvp`/`jacfwd` and `vjp`/`grad`/`jacrev`);
#   tape-based libraries are mainly reverse mode.
# * **Compilation.** JAX traces the function once and compiles forward and backward passes
#   together with XLA; PyTorch runs eagerly by default (`torch.compile` adds tracing),
#   TensorFlow compiles with `tf.function`.
# * **The price.** No in-place updates, no hidden state (random keys, parameters and
#   optimiser state are passed explicitly), and Python control flow on traced values needs
#   `jnp.where` / `lax.cond` / `lax.scan`.
#
# </details>

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
# gives it fake computations that take 20 ms and 120 ms to become ready, so it must
# return what it measured.


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
# **Exercise 1.6b** (discuss in your group first). Look at *your* measurement above
# (`times`; speed-up = eager time / jitted time): which function gained more from `jit`,
# `"relu"` (one `maximum` per element) or `"selu"` (a comparison, an exponential, a
# multiplication and a subtraction per element)? And why? The check compares your answer
# with your machine's numbers (when the two speed-ups are within 15 %, both count).

# %% tags=["exercise"]
gains_more = ...  # YOUR CODE HERE: "relu" or "selu"

# %% tags=["check"]
gains_more = ex.check_jit_speedup_answer(gains_more, times)

# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
# Usually SELU: eager SELU makes one pass over memory per operation and keeps each
# intermediate array; jit fuses the operations into one loop. ReLU is a single operation:
# nothing to fuse. (On an accelerator, or for tiny arrays, the dispatch overhead can
# dominate both: the measurement decides.)
ratios = basics.speedups(times)
gains_more = "selu" if ratios["speedup_selu_jit"] >= ratios["speedup_relu_jit"] else "relu"

# %% [markdown]
# ### 1.6 Pure functions
#
# `jit` assumes functions are pure: the output depends only on the inputs, and nothing
# else happens. A side effect (appending to a list, a `print`) runs only while tracing: on
# the first call, and again when the input's shape or dtype changes. Watch the prints:


# %%
seen = []


def impure_print_side_effect(x):
    print("  executing with", x)  # a side effect
    seen.append(x)  # another one
    return x


impure_jit = jax.jit(impure_print_side_effect)
print("first call:")
impure_jit(4.0)
print("second call, new value, same shape and dtype (no print!):")
impure_jit(5.0)
print("third call, a new shape (retraced, prints again):")
impure_jit(jnp.array([5.0]))
print("the list holds", len(seen), "tracers, not 3 values:", seen[0])

# %% [markdown]
# A captured global is frozen into the compiled code: after changing it, the jitted
# function still uses the old value — a silent wrong answer, not an error — until a new
# input shape makes it retrace.


# %%
g = 0.0


def impure_uses_globals(x):
    return x + g


uses_globals = jax.jit(impure_uses_globals)
print("g = 0: ", uses_globals(4.0))
g = 10.0
print("g = 10:", uses_globals(4.0), "  <- stale: still uses g = 0")
print("g = 10, new shape:", uses_globals(jnp.array([4.0])), "  <- retraced: now 14")

# %% [markdown]
# **Quiz.** A jitted function calls `print(x)` and appends `x` to a global list. You call
# it three times on float32 arrays of the same shape. How many times does it print?
# (a) three times; (b) once: the Python code runs only while tracing; (c) never.

# %% tags=["quiz"]
ex.quiz_jit_side_effect(None)  # replace None by "a", "b" or "c"

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
# and max), with `jax.vmap` and the `min_max` above — no loop and no `axis=`. (The check
# reads your code: an `axis=` answer or a loop over the rows gives the right numbers, but
# is not what this exercise is about.)


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
# ### 3.1 Images as tensors: channels and layouts
#
# A grey image is a matrix of pixel values (0.0 black, 1.0 white). A colour image has
# several **channels** per pixel: red, green and blue, so each pixel is a vector
# `[r, g, b]`; a hyperspectral image (with infrared bands...) can have any number. So an
# image is a 3-D tensor, and a batch of images a 4-D one. Two conventions order the axes:
#
# * **channels last**, `[N, H, W, C]` (NHWC): JAX, Haiku, TensorFlow, and the image files
#   themselves. A 640x480 RGB photo is `480 x 640 x 3`.
# * **channels first**, `[N, C, H, W]` (NCHW): PyTorch's default; the same photo is
#   `3 x 480 x 640`.
#
# The numbers are the same, the *axes* are in another order. Inside a network, each
# convolution layer turns its input channels into new ones: its output at every pixel is
# a vector of **feature maps**, one per filter (48 of them after the mini-AlexNet's first
# layer), so "channels" means colours only at the input.
#
# **Quiz.** A batch of 8 RGB images of 32x32 pixels in the channels-first (NCHW) layout has
# shape: (a) `(8, 32, 32, 3)`; (b) `(8, 3, 32, 32)`; (c) `(3, 8, 32, 32)`; (d) `(32, 32, 3, 8)`.

# %% tags=["quiz"]
ex.quiz_channels_first(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# **Exercise 3.0.** Write `to_channels_first(images)`: `[N, H, W, C]` → `[N, C, H, W]`.
# Careful: `reshape` to the new shape runs without error and scrambles the pixels;
# you need to move axes.


# %% tags=["exercise"]
def to_channels_first(images):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
to_channels_first = ex.check_to_channels_first(to_channels_first)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def to_channels_first(images):
    return jnp.transpose(images, (0, 3, 1, 2))


# %% [markdown]
# `jax.lax.conv_general_dilated`, the convolution under every JAX library, takes either
# layout: `dimension_numbers` names the axes of the input, the kernel and the output. The
# same convolution in both layouts gives the same numbers, in different orders:

# %%
rgb = jax.random.uniform(jax.random.key(1), (2, 6, 6, 3))  # NHWC
kernel = jax.random.normal(jax.random.key(2), (3, 3, 3, 4))  # HWIO: 3x3, 3 in, 4 out
out_last = jax.lax.conv_general_dilated(
    rgb, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
)
out_first = jax.lax.conv_general_dilated(
    to_channels_first(rgb),
    jnp.transpose(kernel, (3, 2, 0, 1)),  # OIHW
    (1, 1),
    "VALID",
    dimension_numbers=("NCHW", "OIHW", "NCHW"),
)
print("channels last:", out_last.shape, "| channels first:", out_first.shape)
print("same values:", bool(jnp.allclose(to_channels_first(out_last), out_first, atol=1e-5)))

# %% [markdown]
# ### 3.2 Why convolutions: dense layers blow up on images
#
# Even small images are big inputs. **Quiz** (the original's question — do the sum before
# you look at the options): one fully connected layer of 500 neurons takes 100x100 RGB
# images as input. How many parameters (weights and biases) does it have?
# (a) 15,500; (b) 5,000,500; (c) 15,000,500; (d) 45,000,000.

# %% tags=["quiz"]
ex.quiz_dense_blowup(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# A dense layer gives every (input pixel, unit) pair its own weight, so its size grows
# with the number of pixels — and it has to learn a pattern separately at every position
# where it may appear. A convolution uses **translation invariance**: what makes an edge an
# edge does not depend on where it is, so the same small filter is reused at every
# position. Its parameter count does not depend on the image size at all:

# %% tags=["figure"]
plots.plot_parameter_growth()

# %% [markdown]
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
# ### 3.3 What a filter computes
#
# A convolution layer has `F` **filters** (kernels), each a small `kh x kw x C_in` block
# of weights (3x3 or 5x5 are typical). The filter is placed on a window of the input, the
# window's values are multiplied by the filter's weights and summed — one number, the
# output pixel for that position; then the window slides one step and the sum is
# repeated. Doing this at every position gives one output image per filter: a **feature
# map**, large where the window looks like the filter. Below, a filter
# `[[-1, 0, 1]] * 3` slides over an image with a dark-to-bright vertical edge: it
# responds (27) only where the window straddles the edge.

# %% tags=["figure"]
edge_image = np.array([[0, 0, 0, 9, 9, 9]] * 6, np.float32)
edge_filter = np.array([[-1, 0, 1]] * 3, np.float32)
plots.plot_sliding_kernel(edge_image, edge_filter)

# %% [markdown]
# With `C_in` input channels, the filter has `C_in` slices and the sum runs over the
# window *and* the channels: `out[i, j, f] = Σ_{a,b,c} x[i+a, j+b, c] · w[a, b, c, f]`.
# (Deep-learning libraries do not flip the kernel, so mathematically this is a
# cross-correlation; everybody calls it a convolution.) With a stride `s`, the window
# moves `s` pixels at a time: `x[i·s + a, j·s + b, c]`.
#
# **Exercise 3.2.** Write `conv2d(image, kernel, stride=1)` by hand (loops over the output
# positions are fine): `image` `[H, W, C_in]`, `kernel` `[kh, kw, C_in, F]`, no padding
# ("VALID"), output `[(H − kh) // s + 1, (W − kw) // s + 1, F]`. The check compares it with
# `jax.lax.conv_general_dilated`.


# %% tags=["exercise"]
def conv2d(image, kernel, stride=1):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
conv2d = ex.check_conv2d(conv2d)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def conv2d(image, kernel, stride=1):
    image, kernel = np.asarray(image), np.asarray(kernel)
    kh, kw, _, filters = kernel.shape
    rows = (image.shape[0] - kh) // stride + 1
    cols = (image.shape[1] - kw) // stride + 1
    out = np.zeros((rows, cols, filters), np.float32)
    for i in range(rows):
        for j in range(cols):
            window = image[
                i * stride : i * stride + kh, j * stride : j * stride + kw
            ]  # [kh, kw, C]
            out[i, j] = np.tensordot(window, kernel, axes=3)  # sum over kh, kw, C: [F]
    return out


# %% [markdown]
# Your `conv2d` on a colour image of the dataset we will train on (section 4), with four
# hand-made filters: vertical and horizontal edges (on the mean of the channels), "red
# minus green", and a blur. Each gives one feature map; a trained network *learns* its
# filters instead.

# %% tags=["figure"]
sample = cnn.load_image_dataset("shapes32", limit=30).train["image"][0]
sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
hand_filters = np.zeros((3, 3, 3, 4), np.float32)
hand_filters[..., 0] = sobel[:, :, None] / 3  # vertical edges, all channels
hand_filters[..., 1] = sobel.T[:, :, None] / 3  # horizontal edges
hand_filters[1, 1, :, 2] = [1.0, -1.0, 0.0]  # red minus green at the centre pixel
hand_filters[..., 3] = 1 / 27  # blur: the window's mean
hand_maps = conv2d(sample, hand_filters)
plots.plot_feature_maps(
    sample,
    {"hand-made filters": np.abs(hand_maps)},
    channels=4,
    title="|vertical edges|, |horizontal edges|, |red − green|, blur",
)

# %% [markdown]
# ### 3.4 Stride and padding
#
# The **stride** is the step between two windows; **padding** adds zero pixels around the
# image (`"SAME"` padding keeps the size at stride 1). Each coloured window below produces
# the output pixel of the same colour:

# %% tags=["figure"]
plots.plot_convolutions(((1, 0), (2, 0), (1, 1), (2, 1)), size=5, kernel=3)

# %% [markdown]
# **Exercise 3.3.** Write `conv_output_size(size, kernel, stride, padding)`: the output
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
# ### 3.5 Receptive fields
#
# Stacking convolutions lets a pixel of a deep layer "see" a larger part of the image:
# its **receptive field**. Two 3×3 convolutions see 5×5 pixels, three see 7×7. Strides
# and pooling multiply the growth: after a stride-2 layer, each further 3×3 kernel spans
# twice as many input pixels.

# %% tags=["figure"]
plots.plot_receptive_field()

# %% [markdown]
# **Quiz.** Three 3x3 convolutions, stride 1, are stacked. How many input pixels (per
# side) does one pixel of the third layer see? (a) 3; (b) 7; (c) 9; (d) 27.

# %% tags=["quiz"]
ex.quiz_receptive_field(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# ### 3.6 Pooling
#
# Max pooling keeps the largest value in each window: it shrinks the map and makes the
# features a little insensitive to small shifts.
#
# **Exercise 3.4.** Write `max_pool_2d(x, window, stride)` for a 2-D array with "VALID"
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
# ### 3.7 The models
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
# ### Optional reading: initialisation schemes
#
# Every layer above starts from random weights — but from *which* distribution matters.
# Too small and the signal (and the gradient) shrinks layer after layer until it
# vanishes; too large and it explodes. **Glorot (Xavier) initialisation**
# ([Glorot & Bengio, 2010](https://proceedings.mlr.press/v9/glorot10a/glorot10a.pdf))
# scales the weights' variance by `2 / (fan_in + fan_out)` so that activations and
# gradients keep their scale through tanh / sigmoid layers; the package's models use it
# (`hk.initializers.VarianceScaling(1.0, "fan_avg", "truncated_normal")`), as the original
# did. **He (Kaiming) initialisation** ([He et al., 2015](https://arxiv.org/abs/1502.01852))
# uses `2 / fan_in`, compensating for ReLU zeroing half of its inputs; it is the usual
# choice for deep ReLU nets. Biases usually start at 0 (a small positive value keeps
# ReLUs "on" at the start). Haiku's defaults and the other schemes are in
# [`hk.initializers`](https://dm-haiku.readthedocs.io/en/latest/api.html#initializers).

# %% [markdown]
# ## 4. Training a CNN on colour images
#
# ### 4.1 The data: `shapes32` (offline), or CIFAR-10
#
# The original practical trained on CIFAR-10 (32x32 colour photos in 10 classes), which
# needs a download. `shapes32` is its offline stand-in with the same shapes: 32x32 RGB
# images in 10 classes — six shapes (circle, square, triangle, cross, ring, crescent) and
# four textures (stripes, checkerboard, dots, grid) — each with a random position, size,
# rotation, period and **random colours**, so the colour says nothing about the class and
# the network must learn shapes and edges. It is generated from a seed (the same seed, the
# same 6,000 images) and split 70 / 15 / 15 with every class equally often in each split.
# With `khipu-cnn[tfds]` and CIFAR-10 prepared (`tfds build cifar10`), set
# `DATASET = "cifar10"`: everything below runs unchanged.

# %% tags=["figure"]
DATASET = "shapes32"  # or "cifar10" (tensorflow-datasets)
LIMIT = 500 if QUICK else None  # quick mode: 350 training images
colour = cnn.load_image_dataset(DATASET, limit=LIMIT)
print(describe(colour))
kc.plot_image_grid(
    colour.train["image"][:25],
    titles=[colour.class_names[v] for v in colour.train["label"][:25]],
)

# %% [markdown]
# ### 4.2 The loss
#
# The network outputs one score (**logit**) per class; softmax turns them into
# probabilities `p_k = exp(z_k) / Σ_j exp(z_j)`. The **cross-entropy** of one example is
# `−log p_label`: 0 when the model is sure of the right class, large when it gives the
# right class a small probability. The loss is its mean over the batch.
#
# **Exercise 4.1.** Write `cross_entropy(logits, labels)`: `logits` `[N, K]`, integer
# `labels` `[N]` → the mean of `−log_softmax(logits)[label]`. Two traps from the original
# practical: `jnp.log(jax.nn.softmax(z))` gives `inf`/`nan` for large logits (use
# `jax.nn.log_softmax`, which computes `z − logsumexp(z)`), and `-jnp.mean(one_hot * ...)`
# also divides by the number of classes.


# %% tags=["exercise"]
def cross_entropy(logits, labels):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
cross_entropy = ex.check_cross_entropy(cross_entropy)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def cross_entropy(logits, labels):
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=-1))


# %% [markdown]
# ### 4.3 The train step
#
# One step of training: compute the loss *and* its gradient with respect to the
# parameters in one pass (`jax.value_and_grad`), turn the gradient into an update with
# the optax optimiser (`optimizer.update`, which also advances the optimiser's state: Adam's
# moments...), and apply it (`optax.apply_updates`). Wrapping the whole step in `jax.jit`
# compiles the forward pass, the backward pass and the update into one XLA program: traced
# once, reused at every step. The loss takes a PRNG key for dropout, so the step does too.
#
# **Exercise 4.2.** Write `make_step(loss_fn, optimizer)` returning a **jitted**
# `step(params, opt_state, batch, key) -> (params, opt_state, loss)`, where
# `loss_fn(params, batch, key)` returns a scalar and `loss` is the loss before the update.
# The check trains a small model with SGD and Adam against the reference, and counts how
# often your step runs the Python loss function (once, if it is jitted).


# %% tags=["exercise"]
def make_step(loss_fn, optimizer):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
make_step = ex.check_make_step(make_step)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def make_step(loss_fn, optimizer):
    @jax.jit
    def step(params, opt_state, batch, key):
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


# %% [markdown]
# ### 4.4 The epoch loop
#
# An **epoch** is one pass over the training set, in a new random order each time (so the
# minibatches differ from epoch to epoch), one step per minibatch. The last incomplete
# batch is dropped: every step then has the same shapes and `jit` compiles only once.
# Randomness comes from keys only: one for the order, one per step (for dropout).
#
# **Exercise 4.3.** Write `train_epoch(step, params, opt_state, data, batch_size, key)`
# returning `(params, opt_state, mean_loss)`: split `key` into an order key and one key
# per step, visit the examples in the order `jax.random.permutation(order_key, n)` in
# batches of `batch_size` (`{name: array[idx] for name, array in data.items()}`), and
# return the mean of the steps' losses.


# %% tags=["exercise"]
def train_epoch(step, params, opt_state, data, batch_size, key):
    # YOUR CODE HERE
    raise NotImplementedError


# %% tags=["check"]
train_epoch = ex.check_train_epoch(train_epoch)


# %% cellView="form" jupyter={"source_hidden": true} tags=["solution"]
# @title Solution
def train_epoch(step, params, opt_state, data, batch_size, key):
    n = len(data["label"]) if "label" in data else len(next(iter(data.values())))
    steps = n // batch_size
    order_key, *step_keys = jax.random.split(key, steps + 1)
    order = np.asarray(jax.random.permutation(order_key, n))
    losses = []
    for i in range(steps):
        idx = order[i * batch_size : (i + 1) * batch_size]
        batch = {name: jnp.asarray(array[idx]) for name, array in data.items()}
        params, opt_state, loss = step(params, opt_state, batch, step_keys[i])
        losses.append(loss)
    return params, opt_state, float(jnp.mean(jnp.stack(losses)))


# %% [markdown]
# ### 4.5 Training the mini-AlexNet with your loop
#
# The practical's mini-AlexNet (five 3x3 convolutions with 48, 128, 192, 192 and 128
# filters, three max-pools, dense 1024 → 1024 → 10 with dropout 0.5), built from the
# package, trained with *your* loss, step and epoch loop and Adam. After each epoch, the
# accuracy on the validation split (dropout off).

# %%
alexnet = cnn.build_model("alexnet", num_classes=colour.num_classes)
params, model_state = alexnet.init(jax.random.key(0), colour.train["image"][:1])
print(f"{kc.total_parameters(params):,} parameters")


def alexnet_loss(params, batch, key):
    logits, _ = alexnet.apply(params, model_state, key, batch["image"], True)  # dropout on
    return cross_entropy(logits, batch["label"])


@jax.jit
def alexnet_accuracy(params, images, labels):
    logits, _ = alexnet.apply(params, model_state, None, images, False)  # dropout off
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


optimizer = optax.adam(1e-3)
opt_state = optimizer.init(params)
step = make_step(alexnet_loss, optimizer)
key = jax.random.key(1)
for epoch in range(1, (2 if QUICK else 3) + 1):
    key, epoch_key = jax.random.split(key)
    started = time.perf_counter()
    params, opt_state, mean_loss = train_epoch(step, params, opt_state, colour.train, 32, epoch_key)
    val_acc = alexnet_accuracy(params, colour.val["image"], colour.val["label"])
    print(
        f"epoch {epoch}: train loss {mean_loss:.3f}, val accuracy {float(val_acc):.3f} "
        f"({time.perf_counter() - started:.1f} s)"
    )

# %% [markdown]
# ### 4.6 The same loop in the package: `fit()` with early stopping and checkpoints
#
# `cnn.train_classifier` is this loop, through khipu-core's `fit()`: the step is
# `kc.make_train_step(loss_fn, optimizer)` (your `make_step`, also carrying batch-norm
# statistics and metrics), and each epoch is your `train_epoch` plus what a real run needs:
#
# * **validation** after each epoch (dropout off) and **early stopping**: stop when the
#   validation loss has not improved for `patience` epochs, and return the parameters of
#   the best epoch (the original stopped on the first epoch without enough improvement, and
#   kept the last parameters);
# * **checkpoints**: after every epoch the whole training state (parameters, optimiser
#   state, step, key, history) is written atomically to `checkpoint_dir/last.npz`;
#   `resume=True` continues an interrupted run exactly where it stopped;
# * a progress bar, a clear error on a `nan` loss, and the batches spread over all devices.

# %% tags=["figure"]
run_dir = Path(os.environ.get("KHIPU_NOTEBOOK_OUT", tempfile.mkdtemp())) / "alexnet"
result = cnn.train_classifier(
    alexnet,
    colour,
    epochs=2 if QUICK else 30,
    batch_size=32,
    patience=4,
    checkpoint_dir=run_dir,
    progress=False,
)
test = cnn.evaluate_classifier(alexnet, result.state, colour.test)
print(
    f"best epoch {result.best_epoch} of {result.epochs_run} (stopped early: "
    f"{result.stopped_early}), test accuracy {test['accuracy']:.3f}, "
    f"{result.train_seconds:.0f} s"
)
print("checkpoint files:", sorted(p.name for p in run_dir.iterdir()))
kc.plot_learning_curves(result.history, metrics=["loss", "accuracy"])

# %% [markdown]
# ### 4.7 Predictions and confidence
#
# Under each test image: the predicted class and the model's probability for it (its
# **confidence**); above: the true class; the dot is green when right. (In quick mode the
# network has trained for seconds: run without `KHIPU_QUICK` for a real model.)

# %% tags=["figure"]
state = result.state
probs = cnn.predict_proba(alexnet, state.params, state.model_state, colour.test["image"])
cnn.plot_predictions(
    colour.test["image"][:25], probs[:25], colour.test["label"][:25], colour.class_names
)

# %% tags=["figure"]
matrix = cnn.confusion_matrix(colour.test["label"], probs.argmax(1), colour.num_classes)
cnn.plot_confusion_matrix(matrix, colour.class_names)

# %% [markdown]
# **Question** (the original's, in full). What do you think of the model's predictions?
# Looking at the model's confidence (the probability assigned to the predicted class),
# look for examples of the following cases:
#
# 1. The model was correct with high confidence
# 2. The model was correct with low confidence
# 3. The model was incorrect with high confidence
# 4. The model was incorrect with low confidence
#
# What do you think the (relative) loss values would be in those cases? The cell below
# finds one test image of each kind and prints its loss.
#
# <details><summary>Model answer</summary>
#
# The loss of one example is `−log p(true class)`. (1) Correct and confident: `p` near 1,
# loss near 0 — these examples barely change the weights any more. (2) Correct with low
# confidence (say `p = 0.4` with the rest spread out): a moderate loss, `−log 0.4 ≈ 0.9`.
# (4) Incorrect with low confidence: the true class is usually the runner-up with a
# sizeable probability (say 0.3): loss ≈ 1.2. (3) Incorrect with high confidence: the true
# class got almost nothing (`p = 0.01` → 4.6, `p = 0.001` → 6.9): by far the largest loss,
# and these examples dominate the gradient. They are worth looking at: a label error, an
# ambiguous image (a crescent that is almost a ring), or a systematic blind spot. Note that
# high confidence is not the same as being right: softmax probabilities of modern networks
# are often **over-confident** (see the reading below), and the mean loss mixes all four
# cases into one number.
#
# </details>

# %%
p_true = probs[np.arange(len(probs)), colour.test["label"]]
confidence = probs.max(axis=1)
correct = probs.argmax(axis=1) == colour.test["label"]
high = confidence >= np.median(confidence)
for name, mask in [
    ("correct, high confidence", correct & high),
    ("correct, low confidence", correct & ~high),
    ("incorrect, high confidence", ~correct & high),
    ("incorrect, low confidence", ~correct & ~high),
]:
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        print(
            f"{name:<27} image {i:3d}: confidence {confidence[i]:.2f}, "
            f"p(true) {p_true[i]:.3f}, loss {-np.log(max(p_true[i], 1e-12)):.2f}"
        )
    else:
        print(f"{name:<27} none in the test split")

# %% [markdown]
# **Quiz.** Of a trained classifier's test images, which kind has the largest
# cross-entropy loss? (a) correct with high confidence; (b) correct with low confidence;
# (c) incorrect with high confidence; (d) incorrect with low confidence.

# %% tags=["quiz"]
ex.quiz_confidence_loss(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# ### Optional reading: uncertainty in deep learning
#
# Deep networks are not good at knowing what they do not know: a softmax probability is
# not a calibrated confidence, and a network happily gives 99 % to an image unlike
# anything it was trained on. Yet for many applications — a diagnosis tool, where a false
# negative can change a person's life — we need to know how sure the model is.
# Introductions: Yarin Gal's
# [What my deep model doesn't know...](https://www.cs.ox.ac.uk/people/yarin.gal/website/blog_3d801aa532c1ce.html)
# (dropout as approximate Bayesian inference: keep dropout on at test time and look at the
# spread of the predictions), [Guo et al., *On calibration of modern neural
# networks*](https://arxiv.org/abs/1706.04599) (over-confidence, and temperature scaling
# as a fix) and [Lakshminarayanan et al., *Deep ensembles*](https://arxiv.org/abs/1612.01474).
#
# ### 4.8 What the layers learned: the feature hierarchy
#
# The first layer's 48 filters are `3x3x3` colour images: we can look at them directly.
# Trained filters tend to become edge and colour-contrast detectors (sharper with longer
# training: run without quick mode).

# %% tags=["figure"]
first = state.params["alexnet/conv1/conv"]["w"]  # [3, 3, 3, 48]
print("first-layer kernel", first.shape)
cnn.plot_filters(cnn.first_layer_filters(state.params), ncols=12)

# %% [markdown]
# Deeper layers' filters have 48, 128 or 192 input channels and cannot be drawn as
# images; their **feature maps** can. For one test image, the first 8 maps of each
# convolution (`cnn.feature_maps` records every conv block's output): `conv1`, at full
# resolution, responds to edges and colour boundaries; after each pooling the maps are
# coarser and respond to larger parts — corners, arcs, whole stripes — as the receptive
# field grows. This is the **feature hierarchy**: simple features combined into more
# abstract ones, layer after layer.

# %% tags=["figure"]
maps = cnn.feature_maps(alexnet, state.params, state.model_state, colour.test["image"][:1])
plots.plot_feature_maps(colour.test["image"][0], {name: m[0] for name, m in maps.items()})

# %% [markdown]
# ## 5. Extension tasks
#
# The original's tasks: (1) experiment with the architecture, in particular a *fully
# convolutional* network; (2) add batch normalisation; (3) add shortcut connections with a
# reusable residual block; (4) visualise the filters. Tasks 1–3 are quick to try on
# scikit-learn's 8x8 handwritten digits (offline, 1,797 images; the mini-AlexNet's colour
# images take longer), so they use those:

# %% tags=["figure"]
digits = cnn.load_image_dataset("digits")
print(describe(digits))
kc.plot_image_grid(
    digits.train["image"][:10], titles=[str(v) for v in digits.train["label"][:10]], ncols=10
)

# %% [markdown]
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
    h = hk.Conv2D(digits.num_classes, 1)(h)  # one channel per class
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
    return global_average_pool(hk.Conv2D(digits.num_classes, 1)(h))


resnet = hk.without_apply_rng(hk.transform(resnet_forward))
res_params = resnet.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
print(
    "logits",
    resnet.apply(res_params, digits.test["image"][:4]).shape,
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
    "lenet": cnn.build_model("lenet"),
    "lenet + batch norm": cnn.build_model("lenet", batch_norm=True),
    "lenet + residual": cnn.build_model("lenet", residual=True),
    "fully convolutional": cnn.build_model("fcn"),
}
for name, net in variants.items():
    res = cnn.train_classifier(net, digits, epochs=2 if QUICK else 30, progress=False)
    acc = cnn.evaluate_classifier(net, res.state, digits.test)["accuracy"]
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
kernel = state.params["alexnet/conv1/conv"]["w"]
print("kernel", kernel.shape)
images = filter_images(kernel)
kc.plot_image_grid(images[:32], ncols=8, suptitle="first-layer filters of your mini-AlexNet")

# %% [markdown]
# Do some filters look like edge or colour-contrast detectors? Compare with the filters at
# initialisation (`alexnet.init`), or after training longer without quick mode.
#
# ### Optional reading: CNN architectures
#
# Choosing an architecture — which layers, how many, what kernel sizes, which pooling —
# can seem arbitrary, but the successful ones teach a lot. AlexNet
# ([Krizhevsky et al., 2012](https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks.pdf),
# the first deep network to win ImageNet) used kernels from 11x11 down to 3x3;
# VGG ([Simonyan & Zisserman, 2014](https://arxiv.org/abs/1409.1556)) uses 3x3 almost
# exclusively, because stacked 3x3 convolutions see as far as one large kernel with fewer
# weights and more non-linearities (the receptive-field quiz above); Inception
# ([Szegedy et al., 2015](https://arxiv.org/abs/1512.00567)) mixes kernel sizes and uses
# 1x1 convolutions to cut the channels; ResNet ([He et al., 2015](https://arxiv.org/abs/1512.03385))
# adds residual connections (Task 3) and trains 100+ layers. Stanford's
# [CS231n notes on ConvNets](https://cs231n.github.io/convolutional-networks/) and its
# [transfer-learning notes](https://cs231n.github.io/transfer-learning/) go further; the
# pre-trained versions of these networks can be fine-tuned on your own problem.
#
# **Quiz.** What does a 1x1 convolution do? (a) nothing: it copies its input; (b) mixes
# the channels at each pixel, with the same weights everywhere; (c) averages each channel
# over the image; (d) halves the height and width.

# %% tags=["quiz"]
ex.quiz_one_by_one(None)  # replace None by "a", "b", "c" or "d"

# %% [markdown]
# **Group task.** The reading's questions: why do modern architectures use less
# max-pooling? What does a 1x1 convolution do? What is a residual connection, and why does
# it help?
#
# <details><summary>Model answer</summary>
#
# * **Less max-pooling.** Pooling throws away information (3 of every 4 values for a 2x2
#   pool) with a fixed rule. Modern nets downsample with **strided convolutions**, which
#   learn how to downsample, and end with **global average pooling** instead of large dense
#   layers (Task 1): fewer parameters, and any input size. Batch norm and residual
#   connections also made the regularising effect of pooling less necessary.
# * **1x1 convolution.** A dense layer from `C_in` to `C_out` channels applied at every
#   pixel: it mixes channels without looking at neighbours. It is used to reduce channels
#   before an expensive 3x3 or 5x5 convolution (Inception's and ResNet's bottlenecks), to
#   add a non-linearity cheaply, and as the classifier of a fully convolutional net.
# * **Residual connection.** The block outputs `x + f(x)` instead of `f(x)`: it learns a
#   correction to the identity. With `f = 0` the block passes its input through, so extra
#   layers cannot make the network worse at initialisation, and the gradient flows back
#   through the `+ x` path unchanged — which is what lets networks of 100+ layers train.
#
# </details>
#
# ### The same from the command line
#
# `khipu cnn train --dataset shapes32 --model alexnet --batch-size 64 --out runs/alexnet`
# trains the mini-AlexNet on `shapes32` with early stopping and writes the metrics,
# figures (learning curves, predictions, confusion matrix, filters) and the best
# checkpoint into a run folder; `--resume` continues an interrupted run;
# `khipu cnn train --dataset digits --model lenet` is the quick grey-image version, and
# `khipu cnn summary --model alexnet --image-shape 32 32 3` prints the parameter counts.
#
# ### Further reading
#
# * JAX: [the sharp bits](https://jax.readthedocs.io/en/latest/notebooks/Common_Gotchas_in_JAX.html),
#   [asynchronous dispatch](https://jax.readthedocs.io/en/latest/async_dispatch.html).
# * Dumoulin & Visin, *A guide to convolution arithmetic for deep learning* (2016).
# * He et al., *Deep residual learning for image recognition* (2016); Ioffe & Szegedy,
#   *Batch normalization* (2015).
