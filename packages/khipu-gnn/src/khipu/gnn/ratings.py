"""Collaborative filtering with graph filters (the 2023 practical).

A user's ratings are a signal on an item-similarity graph; a model predicts the user's
rating of a target item from their **other** ratings, with the loss taken at the target
item only.

Offline default data (:func:`generate_ratings`), a documented low-rank model: user factors
``u`` ``[U, r]`` and item factors ``v`` ``[P, r]`` ~ N(0, 1), item offsets ``b`` ~ N(0, 0.5²);
the rating of item ``p`` by user ``n`` is ``clip(round(3 + b_p + u_n . v_p / sqrt(r) + noise
* e), 1, 5)`` with ``e`` ~ N(0, 1), observed independently with probability ``density``.
MovieLens-100k loads through tensorflow-datasets (:func:`load_movielens_100k`) when prepared.

Samples and graph (no test information leaks into training):

* a random ``test_fraction`` of the observed ratings are test targets; all other observed
  ratings form the training matrix;
* the item-similarity graph is built from the **training** matrix only: the correlation of
  item-centred ratings over users (unrated = 0), the diagonal removed, each item keeping its
  ``top_k`` most similar items, symmetrised and divided by its largest absolute eigenvalue;
* a sample is ``(x, p, y)``: ``x`` ``[P, 1]`` the user's training ratings except the target,
  centred by the training item means (unrated = 0); ``p`` the target item; ``y`` the rating.
  Models predict the deviation from the target's item mean: ``y_hat = mean_p + f(x)_p``.
  A sample is stored as its user and target; ``x`` is a row of the centred training matrix,
  gathered per batch (:func:`sample_inputs`), so samples cost bytes, not items.

Cost: the method is dense in the items. The rating matrix is ``[U, P]`` and the
item-similarity graph ``[P, P]``; :func:`dense_bytes` estimates the peak (about
``DENSE_BYTES_PER_USER_ITEM`` bytes per user x item plus ``DENSE_BYTES_PER_ITEM_PAIR`` per
item x item) and :func:`check_dense_size` refuses a problem above a limit before anything
of that size is allocated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
from khipu.gnn.layers import FilterGNN
from khipu.gnn.train import Batch, TaskResult, init_params, run_fit

__all__ = [
    "DENSE_BYTES_PER_ITEM_PAIR",
    "DENSE_BYTES_PER_USER_ITEM",
    "PREDICT_BATCH",
    "RATING_MODELS",
    "RatingsData",
    "check_dense_size",
    "check_ratings",
    "dense_bytes",
    "gather_inputs",
    "generate_ratings",
    "load_movielens_100k",
    "make_samples",
    "rating_model",
    "rmse",
    "sample_inputs",
    "similarity_graph",
    "target_mse",
    "target_predictions",
    "train_rating_model",
]

RATING_MODELS: tuple[str, ...] = ("filter", "gnn")
MIN_RATING, MAX_RATING = 1.0, 5.0
# peak bytes of make_samples / similarity_graph (float64 temporaries included) and training
DENSE_BYTES_PER_USER_ITEM = 32
DENSE_BYTES_PER_ITEM_PAIR = 48
PREDICT_BATCH = 256


def dense_bytes(num_users: int, num_items: int) -> int:
    """Estimated peak bytes of the dense arrays of a ``[U, P]`` collaborative-filtering run:
    the rating matrix and its centred copies (``U * P``) and the item-item similarity,
    its sparsified and normalised copies and their eigenvalues (``P * P``)."""
    return (
        DENSE_BYTES_PER_USER_ITEM * num_users * num_items
        + DENSE_BYTES_PER_ITEM_PAIR * num_items * num_items
    )


def check_dense_size(
    num_users: int, num_items: int, max_bytes: int, *, source: str = "the ratings"
) -> None:
    """Refuses (before allocating) a problem whose :func:`dense_bytes` exceed ``max_bytes``.

    Raises:
      KhipuError: one line with the users, items, estimated size and the limit.
    """
    need = dense_bytes(num_users, num_items)
    if need > max_bytes:
        raise kc.KhipuError(
            f"{source}: {num_users} users x {num_items} items need about {need / 2**20:.0f} MiB "
            f"of dense arrays (rating matrix and item-item similarity), above the limit of "
            f"{max_bytes / 2**20:.0f} MiB; raise it with --max-dense-mib"
        )


class RatingsData(NamedTuple):
    """Samples, graph and baselines of a collaborative-filtering problem.

    Attributes:
      train, val, test: arrays ``{"user": [B], "target": [B], "y": [B], "base": [B],
        "user_mean": [B]}`` (``base`` is the target's training item mean); a sample's
        input ``x`` ``[P, 1]`` is :func:`sample_inputs` of it.
      shift: ``[P, P]`` the normalised item-similarity graph ``S``.
      similarity: ``[P, P]`` the raw correlation matrix (before sparsification).
      item_means: ``[P]`` training item means.
      centred: ``[U, P]`` training ratings minus the item means (unrated = 0).
    """

    train: dict[str, np.ndarray]
    val: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    shift: np.ndarray
    similarity: np.ndarray
    item_means: np.ndarray
    centred: np.ndarray


def gather_inputs(centred: Any, user: Any, target: Any) -> Any:
    """``[B, P, 1]`` inputs: rows ``user`` of ``centred`` ``[U, P]`` with each sample's
    ``target`` item zeroed (NumPy or JAX arrays; jit-friendly)."""
    xp = jnp if isinstance(centred, jax.Array) else np
    x = centred[user]
    x = xp.where(xp.arange(x.shape[1])[None, :] == xp.asarray(target)[:, None], 0.0, x)
    return x[:, :, None]


def sample_inputs(data: RatingsData, split: dict[str, np.ndarray]) -> np.ndarray:
    """The inputs ``x`` ``[B, P, 1]`` of a split's samples (see the module docstring)."""
    return np.asarray(gather_inputs(data.centred, split["user"], split["target"]), np.float32)


def check_ratings(ratings: Any) -> np.ndarray:
    """A ``[U, P]`` rating matrix with 0 for unrated and ratings in [1, 5].

    Raises:
      KhipuError: wrong shape, non-finite values or ratings outside [1, 5].
    """
    r = np.asarray(ratings, np.float32)
    if r.ndim != 2 or min(r.shape) < 2:
        raise kc.KhipuError(f"ratings must be a [users, items] matrix, got shape {r.shape}")
    if not np.isfinite(r).all():
        raise kc.KhipuError("ratings contain NaN or infinite values")
    bad = (r != 0) & ((r < MIN_RATING) | (r > MAX_RATING))
    if bad.any():
        u, p = np.argwhere(bad)[0]
        raise kc.KhipuError(
            f"rating out of range: user {u}, item {p} has {r[u, p]:g} "
            f"(ratings are {MIN_RATING:g}..{MAX_RATING:g}, 0 = unrated)"
        )
    if (r != 0).sum() < 10:
        raise kc.KhipuError("fewer than 10 ratings: nothing to learn from")
    return r


def generate_ratings(
    num_users: int = 400,
    num_items: int = 50,
    *,
    rank: int = 3,
    density: float = 0.3,
    noise: float = 0.3,
    seed: int = 0,
) -> np.ndarray:
    """``[U, P]`` ratings of the low-rank model in the module docstring (0 = unrated)."""
    if not 0 < density <= 1:
        raise kc.KhipuError(f"density must be in (0, 1], got {density}")
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(num_users, rank))
    v = rng.normal(size=(num_items, rank))
    b = rng.normal(scale=0.5, size=num_items)
    raw = (
        3.0 + b[None, :] + u @ v.T / np.sqrt(rank) + noise * rng.normal(size=(num_users, num_items))
    )
    ratings = np.clip(np.round(raw), MIN_RATING, MAX_RATING)
    observed = rng.random((num_users, num_items)) < density
    return np.where(observed, ratings, 0.0).astype(np.float32)


def load_movielens_100k(data_dir: str | Path | None = None) -> np.ndarray:
    """MovieLens-100k as a ``[943, 1682]`` rating matrix, from tensorflow-datasets.

    Needs ``khipu-gnn[tfds]`` and ``movielens/100k-ratings`` prepared with
    ``tfds build movielens/100k-ratings --file_format=array_record``.
    """
    source = kc.load_tfds_split("movielens/100k-ratings", "train", data_dir=data_dir)
    rows = [source[i] for i in range(len(source))]
    users = sorted({r["user_id"] for r in rows})
    items = sorted({r["movie_id"] for r in rows})
    ui = {u: i for i, u in enumerate(users)}
    mi = {m: i for i, m in enumerate(items)}
    ratings = np.zeros((len(users), len(items)), np.float32)
    for r in rows:
        ratings[ui[r["user_id"]], mi[r["movie_id"]]] = float(r["user_rating"])
    return check_ratings(ratings)


def similarity_graph(
    train_ratings: np.ndarray, *, top_k: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Item-similarity graph from training ratings (see the module docstring).

    Returns:
      ``(shift [P, P], correlation [P, P])``.
    """
    observed = train_ratings != 0
    counts = np.maximum(observed.sum(0), 1)
    means = train_ratings.sum(0) / counts
    centred = np.where(observed, train_ratings - means, 0.0)
    norms = np.sqrt((centred**2).sum(0))
    corr = (centred.T @ centred) / np.maximum(np.outer(norms, norms), 1e-9)
    np.fill_diagonal(corr, 0.0)
    p = corr.shape[0]
    k = min(top_k, p - 1)
    keep = np.zeros_like(corr, bool)
    nearest = np.argsort(-corr, axis=1)[:, :k]
    keep[np.arange(p)[:, None], nearest] = True
    w = np.where(keep | keep.T, corr, 0.0)
    radius = np.abs(np.linalg.eigvalsh(w)).max()
    shift = w / radius if radius > 0 else w
    return shift.astype(np.float32), corr.astype(np.float32)


def make_samples(
    ratings: Any,
    *,
    test_fraction: float = 0.1,
    val_fraction: float = 0.1,
    top_k: int = 10,
    seed: int = 0,
) -> RatingsData:
    """Splits the observed ratings and builds samples and the graph (module docstring)."""
    r = check_ratings(ratings)
    if not (0 < test_fraction < 1 and 0 < val_fraction < 1 and test_fraction + val_fraction < 1):
        raise kc.KhipuError("test and val fractions must be in (0, 1) with a sum below 1")
    rng = np.random.default_rng(seed)
    entries = np.argwhere(r != 0)
    order = rng.permutation(len(entries))
    n_test = max(1, round(test_fraction * len(entries)))
    n_val = max(1, round(val_fraction * len(entries)))
    test_e = entries[order[:n_test]]
    val_e = entries[order[n_test : n_test + n_val]]
    train_e = entries[order[n_test + n_val :]]
    train_r = r.copy()
    train_r[test_e[:, 0], test_e[:, 1]] = 0.0
    train_r[val_e[:, 0], val_e[:, 1]] = 0.0
    observed = train_r != 0
    counts = observed.sum(0)
    global_mean = float(train_r[observed].mean())
    item_means = np.where(counts > 0, train_r.sum(0) / np.maximum(counts, 1), global_mean)
    shift, corr = similarity_graph(train_r, top_k=top_k)
    centred = np.where(observed, train_r - item_means, 0.0).astype(np.float32)

    row_count = observed.sum(1)
    row_sum = train_r.sum(1)

    def samples(e: np.ndarray) -> dict[str, np.ndarray]:
        users, items = e[:, 0], e[:, 1]
        # the user's other training ratings (the target itself never counts)
        in_train = observed[users, items]
        n_other = row_count[users] - in_train
        other_sum = row_sum[users] - np.where(in_train, train_r[users, items], 0.0)
        user_mean = np.where(n_other > 0, other_sum / np.maximum(n_other, 1), global_mean)
        return {
            "user": users.astype(np.int32),
            "target": items.astype(np.int32),
            "y": r[users, items].astype(np.float32),
            "base": item_means[items].astype(np.float32),
            "user_mean": user_mean.astype(np.float32),
        }

    return RatingsData(
        samples(train_e),
        samples(val_e),
        samples(test_e),
        shift,
        corr,
        item_means.astype(np.float32),
        centred,
    )


def rating_model(name: str) -> hk.Transformed:
    """``f(x [B, P, 1], S [P, P]) -> [B, P, 1]`` predicted deviations.

    ``filter``: the practical's graph filter, FilterGNN(taps (5, 1), features (64, 1)) with
    no nonlinearity; ``gnn``: taps (5, 5, 1), features (64, 32, 1), ReLU.
    """
    if name not in RATING_MODELS:
        raise kc.UnknownNameError("model", name, RATING_MODELS)
    taps, feats = ((5, 1), (64, 1)) if name == "filter" else ((5, 5, 1), (64, 32, 1))
    activation = (lambda x: x) if name == "filter" else jax.nn.relu

    def forward(x: jax.Array, shift: jax.Array) -> jax.Array:
        return FilterGNN(taps, feats, activation=activation)(x, shift)

    return hk.without_apply_rng(hk.transform(forward))


def target_predictions(outputs: jax.Array, target: jax.Array) -> jax.Array:
    """``outputs[b, target[b], 0]``: each sample's prediction at its target item (``[B]``)."""
    return jnp.take_along_axis(outputs[..., 0], target[:, None], axis=1)[:, 0]


def target_mse(outputs: jax.Array, target: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error at the target items only (``outputs`` ``[B, P, 1]``; works for B=1)."""
    return jnp.mean((target_predictions(outputs, target) - y) ** 2)


def rmse(pred: Any, y: Any) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(y)) ** 2)))


def train_rating_model(
    data: RatingsData,
    model: str = "filter",
    *,
    epochs: int = 20,
    batch_size: int = 32,
    learning_rate: float = 0.003,
    seed: int = 0,
    patience: int | None = 4,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> TaskResult:
    """Trains a graph filter or filter GNN on the target-item MSE; early stop on val RMSE.

    Metrics: ``test_rmse``, ``item_mean_rmse``, ``user_mean_rmse``, ``val_rmse`` and
    ``improvement_over_item_mean`` (relative RMSE reduction).
    """
    net = rating_model(model)
    shift = jnp.asarray(data.shift)
    centred = jnp.asarray(data.centred)

    def inputs(batch: Batch) -> jax.Array:
        x: jax.Array = gather_inputs(centred, batch["user"], batch["target"])
        return x

    def loss_fn(params: Any, state: Any, key: jax.Array, batch: Batch) -> Any:
        del key
        out = net.apply(params, inputs(batch), shift)
        return target_mse(out, batch["target"], batch["y"] - batch["base"]), (state, {})

    def eval_fn(params: Any, state: Any, batch: Batch) -> dict[str, jax.Array]:
        del state
        out = net.apply(params, inputs(batch), shift)
        return {"mse": target_mse(out, batch["target"], batch["y"] - batch["base"])}

    first = {k: jnp.asarray(v[:1]) for k, v in data.train.items()}
    params = init_params(net, seed, inputs(first), shift)
    result, seconds = run_fit(
        params,
        loss_fn,
        data.train,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        eval_fn=eval_fn,
        val_data=data.val,
        monitor="val_mse",
        patience=patience,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    params = result.state.params

    @jax.jit
    def predict_batch(params: Any, batch: Batch) -> jax.Array:
        return target_predictions(net.apply(params, inputs(batch), shift), batch["target"])

    def predict(split: dict[str, np.ndarray]) -> np.ndarray:
        parts = [
            np.asarray(predict_batch(params, {k: jnp.asarray(v) for k, v in batch.items()}))
            for batch in kc.batches(split, PREDICT_BATCH, shuffle=False)
        ]
        return np.asarray(np.concatenate(parts) + split["base"], np.float32)

    test_pred = predict(data.test)
    test = data.test
    metrics = {
        "test_rmse": rmse(test_pred, test["y"]),
        "val_rmse": rmse(predict(data.val), data.val["y"]),
        "item_mean_rmse": rmse(test["base"], test["y"]),
        "user_mean_rmse": rmse(test["user_mean"], test["y"]),
    }
    metrics["improvement_over_item_mean"] = 1.0 - metrics["test_rmse"] / metrics["item_mean_rmse"]
    outputs = {"test_predictions": test_pred, "test_ratings": test["y"]}
    return TaskResult(params, result.history, metrics, result.epochs_run, seconds, outputs)
