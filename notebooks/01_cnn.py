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
# This notebook follows the Khipu CNN practical with the `khipu-cnn` package:
#
# 1. **JAX fundamentals**: arrays, explicit random keys, `jit`, `grad`, `vmap`, pure functions.
# 2. **Optax**: linear regression, trained by any optimizer, in plain JAX and in Haiku.
# 3. **Convolutional networks in Haiku**: filters, pooling, parameter counts.
# 4. **Training a CNN** with early stopping, then reading its predictions, errors and filters.
#
# Everything runs offline on a laptop CPU. Set `KHIPU_QUICK=1` for a fast pass with small settings.

# %% tags=["pin"]
# %pip install "khipu-cnn==0.1.*"

# %%
import os
import tempfile
from pathlib import Path

import jax
import khipu.cnn as cnn
import khipu.core as kc
import numpy as np
from khipu.cnn import basics, regression
from khipu.cnn.data import describe

QUICK = os.environ.get("KHIPU_QUICK") == "1"
OUT = Path(os.environ.get("KHIPU_NOTEBOOK_OUT") or tempfile.mkdtemp(prefix="khipu-cnn-"))
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

# %%
basics.plot_functions()

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
# `jax.jit` traces a function with abstract values and compiles it with XLA. Python
# control flow on traced values cannot be traced (exercise 1.2), so a jittable ReLU uses
# `jnp.maximum` or `jnp.where` instead of `if` (exercise 1.3).

# %%
basics.jit_control_flow_demo()

# %% [markdown]
# ### 1.4 `grad`: derivatives of Python functions
#
# For $f(x) = 6x^4 - 9x + 4$: $f'(x) = 24x^3 - 9$, so $f'(2) = 183$ (exercise 1.4), and
# $f'''(x) = 144x$, so $f'''(2) = 288$ (exercise 1.5). `jax.grad` composes, so
# `grad(grad(grad(f)))` is the third derivative.

# %%
basics.derivatives_demo(2.0)

# %% [markdown]
# ### 1.5 Pure functions
#
# `jit` assumes functions are pure. A side effect (here: appending to a list, in the
# practical a `print`) runs only while tracing, i.e. on the first call and again when the
# input's shape or type changes. A captured global is frozen into the compiled code: after
# changing it, the jitted function still uses the old value until it is retraced.

# %%
basics.purity_demo()

# %% [markdown]
# ### 1.6 `vmap`: write the function for one example, run it on a batch
#
# Exercise 1.7: `min_max` on a `[3, 5]` batch returns the extremes of the *whole* array,
# `[0, 14]`. `jax.vmap(min_max)` maps it over the rows.

# %%
basics.vmap_demo()

# %% [markdown]
# ### 1.7 How much faster?
#
# Best-of-several wall-clock times (compilation excluded). Element-wise functions of several
# operations (SELU) gain from `jit` because XLA fuses them; a single `maximum` (ReLU) has
# nothing to fuse. `vmap` is as fast as vectorising by hand and much faster than a loop.

# %%
times = basics.timing_demo(quick=QUICK, repeats=3)
for name, ratio in basics.speedups(times).items():
    print(f"{name:<30} {ratio:8.1f}x")
basics.plot_timings(times)

# %% [markdown]
# ## 2. Optimisation with Optax
#
# Synthetic data $y = 0.4\,x + (-0.2) + \varepsilon$ with $\varepsilon \sim N(0, 0.05^2)$.
# We minimise the mean squared error from $w = 0, b = 1$ and stop when the gradient norm
# falls below a tolerance. The loop is a single jitted `lax.while_loop`.

# %%
x, y = regression.make_linear_data(seed=0)
sgd_fit = cnn.fit_linear_regression(x, y, optimizer="sgd", learning_rate=0.1, tolerance=1e-4)
w_ls, b_ls = regression.least_squares(x, y)
print(f"SGD: w={sgd_fit.w:.4f} b={sgd_fit.b:.4f} after {sgd_fit.result.steps} steps")
print(f"closed form: w={w_ls[0]:.4f} b={b_ls:.4f}   (true: w=0.4, b=-0.2)")

# %% [markdown]
# `jax.grad` gives the same gradient as the one written out by hand,
# $\partial L/\partial w = \tfrac{2}{N} x^\top(xw + b - y)$:

# %%
params = {"w": np.array([0.1], np.float32), "b": np.float32(0.3)}
auto = jax.grad(lambda p: regression.mse(regression.linear_predict(p, x), y))(params)
print(auto, regression.mse_gradient(params, x, y))

# %% [markdown]
# Any optax optimizer can be used by name. Try others (`adamw`, `lion`, `rmsprop`...);
# `cnn.available_optimizers()` lists them. An unknown name is a clear error.

# %%
fits = {"sgd": sgd_fit}
for name, lr in [("adam", 0.05), ("lbfgs", 1.0)]:
    fits[name] = cnn.fit_linear_regression(x, y, optimizer=name, learning_rate=lr)
    print(f"{name}: w={fits[name].w:.4f} b={fits[name].b:.4f}, {fits[name].result.steps} steps")
try:
    cnn.fit_linear_regression(x, y, optimizer="adma")
except kc.KhipuError as err:
    print("error:", str(err)[:90], "...")

# %% [markdown]
# The same model as a Haiku module: `hk.get_parameter` declares the weights,
# `hk.transform` turns the module into a pair of pure functions `init` and `apply`.
# (The original notebook passed `x` as `[1, 100]`, fitting a 100-input model that only
# learnt the mean; here `x` is `[100, 1]`.)

# %%
fits["haiku (sgd)"] = cnn.fit_haiku_regression(x, y, optimizer="sgd", learning_rate=0.1)
print(f"Haiku: w={fits['haiku (sgd)'].w:.4f} b={fits['haiku (sgd)'].b:.4f}")
regression.plot_regression(x, y, fits)

# %% [markdown]
# ## 3. Convolutional networks
#
# An image is a tensor `[height, width, channels]`. A fully-connected layer from a
# 32×32×3 image to 1,024 units needs $3072 \cdot 1024 + 1024 \approx 3.1$ M parameters;
# a 3×3 convolution with 48 filters needs $3 \cdot 3 \cdot 3 \cdot 48 + 48 = 1{,}344$, shared
# over every position. Stacking convolutions grows the receptive field; pooling shrinks
# the map.
#
# ### Max-pooling exercise
#
# A 2×2 window with stride 2 on the 6×6 matrix of the practical gives a 3×3 output.
# (The original answer passed `strides=2` to `hk.MaxPool` on a 2-D input, which pooled with
# stride 1 and gave 5×5.)

# %%
X = np.array(
    [
        [9, 5, 4, 5, 6, 4],
        [6, 6, 3, 5, 8, 2],
        [4, 6, 9, 1, 3, 6],
        [9, 7, 1, 5, 8, 1],
        [4, 9, 9, 5, 7, 3],
        [7, 3, 6, 4, 9, 1],
    ]
)
print(cnn.max_pool(X, window=2, stride=2, padding="VALID"))

# %% [markdown]
# ### The models
#
# `cnn.build_model(name)` returns pure `init` / `apply` functions (Haiku
# `transform_with_state`, so batch-norm statistics live in a separate `model_state`).
# Dropout is active only with `is_training=True`.
#
# The practical's mini-AlexNet had max-pools with stride 1: the map stayed 32×32 and its
# first dense layer alone had 134 M parameters. With stride-2 pools the same architecture
# has 4 M:

# %%
for name, shape in [("lenet", (8, 8, 1)), ("lenet", (28, 28, 1)), ("alexnet", (32, 32, 3))]:
    counts = cnn.model_summary(cnn.build_model(name), shape)
    print(f"{name} on {shape}: {sum(counts.values()):,} parameters")
cnn.model_summary(cnn.build_model("alexnet"), (32, 32, 3))

# %% [markdown]
# ## 4. Training a CNN
#
# The offline dataset is scikit-learn's 1,797 handwritten digits (8×8), split once with a
# fixed seed into 70 % train, 15 % validation and 15 % test. (With `khipu-cnn[tfds]` and a
# prepared dataset, `"mnist"`, `"fashion_mnist"` and `"cifar10"` load the same way.)
#
# Training shuffles the minibatches every epoch, evaluates on the validation split after
# each epoch (dropout off) and stops when the validation loss has not improved for
# `patience` epochs, returning the best epoch's parameters. The test split is only used
# at the very end.

# %%
splits = cnn.load_image_dataset("digits")
print(describe(splits))
kc.plot_image_grid(splits.train["image"][:25], titles=[str(v) for v in splits.train["label"][:25]])

# %%
EPOCHS = 8 if QUICK else 60
model = cnn.build_model("lenet", num_classes=splits.num_classes)
result = cnn.train_classifier(model, splits, epochs=EPOCHS, batch_size=32, patience=8, seed=0)
test = cnn.evaluate_classifier(model, result.state, splits.test)
print(
    f"best epoch {result.best_epoch} of {result.epochs_run}, "
    f"test accuracy {test['accuracy']:.4f}, {result.train_seconds:.1f} s"
)
kc.plot_learning_curves(result.history, metrics=["loss", "accuracy"])

# %% [markdown]
# ### 25 predictions
#
# Under each image: the predicted class and the model's probability for it; above: the
# true class. How confident is the model on the ones it gets wrong?

# %%
state = result.state
probs = cnn.predict_proba(model, state.params, state.model_state, splits.test["image"])
cnn.plot_predictions(
    splits.test["image"][:25], probs[:25], splits.test["label"][:25], splits.class_names
)

# %%
matrix = cnn.confusion_matrix(splits.test["label"], probs.argmax(1), splits.num_classes)
cnn.plot_confusion_matrix(matrix, splits.class_names)

# %% [markdown]
# ### What did the first layer learn? (task 4)

# %%
cnn.plot_filters(cnn.first_layer_filters(state.params))

# %% [markdown]
# ### Extension tasks: batch norm, residual blocks, a fully convolutional net (tasks 1-3)

# %%
variants = {
    "lenet + batch norm": cnn.build_model("lenet", batch_norm=True),
    "lenet + residual": cnn.build_model("lenet", residual=True),
    "fully convolutional": cnn.build_model("fcn"),
}
for name, net in variants.items():
    res = cnn.train_classifier(net, splits, epochs=3 if QUICK else 30, progress=False)
    acc = cnn.evaluate_classifier(net, res.state, splits.test)["accuracy"]
    params = kc.total_parameters(res.state.params)
    print(f"{name:<22} {params:>8,} parameters, test accuracy {acc:.4f}")

# %% [markdown]
# ### The same from the command line
#
# `khipu cnn train --dataset digits --model lenet --epochs 60 --out runs/lenet` writes the
# metrics, figures and the best checkpoint into a run folder; `--resume` continues an
# interrupted run. `run_training` is the function behind it:

# %%
metrics = cnn.run_training(OUT / "lenet", epochs=2 if QUICK else 60, progress=False)
print(metrics["test_accuracy"], sorted(p.name for p in (OUT / "lenet").iterdir()))
