"""Training: a ``TrainState`` pytree, a jitted step builder and ``fit()``.

The loss function contract, shared by every practical::

    loss_fn(params, model_state, key, batch) -> (loss, (model_state, metrics))

``model_state`` carries non-trainable state such as batch-norm statistics
(``()`` for stateless models) and ``metrics`` is a dict of scalar arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh
from khipu.core.checkpoint import load_checkpoint, save_checkpoint
from khipu.core.data import Arrays, batches, num_batches, num_examples
from khipu.core.distributed import agree, barrier
from khipu.core.errors import CheckpointError, KhipuError, NonFiniteLossError
from khipu.core.parallel import (
    check_batch_size,
    data_mesh,
    global_batch,
    local_rows,
    replicate,
    shard_batch,
    to_local,
)
from khipu.core.random import PRNGKey, as_key
from khipu.core.rundir import (
    is_writer,
    log_epoch,
    package_versions,
    restart_history,
    shared_path,
)
from tqdm.auto import tqdm

Params = Any
Batch = Mapping[str, jax.Array]
Metrics = dict[str, jax.Array]
LossFn = Callable[[Params, Any, PRNGKey, Batch], tuple[jax.Array, tuple[Any, Metrics]]]
EvalFn = Callable[[Params, Any, Batch], Metrics]


class TrainState(NamedTuple):
    """Everything that changes during training, as one pytree.

    Attributes:
      params: trainable parameters.
      opt_state: the optax optimizer state.
      step: number of updates applied (int32 scalar).
      rng: the key the next step splits its randomness from (dropout...).
      model_state: non-trainable state (batch-norm statistics); ``()`` if none.
    """

    params: Params
    opt_state: optax.OptState
    step: jax.Array
    rng: PRNGKey
    model_state: Any = ()


def init_train_state(
    params: Params,
    optimizer: optax.GradientTransformation,
    *,
    key: PRNGKey | int,
    model_state: Any = (),
) -> TrainState:
    """A fresh :class:`TrainState` at step 0."""
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        step=jnp.zeros((), jnp.int32),
        rng=as_key(key),
        model_state=model_state,
    )


StepFn = Callable[[TrainState, Batch], tuple[TrainState, Metrics]]


def make_train_step(
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    *,
    jit: bool = True,
    donate: bool = False,
    micro_batches: int = 1,
) -> StepFn:
    """Turns a loss function and an optax optimizer into one (jitted) update step.

    Args:
      loss_fn: ``loss_fn(params, model_state, key, batch) -> (loss, (model_state, metrics))``.
      optimizer: any optax gradient transformation.
      jit: compile the step with ``jax.jit`` (once per batch shape).
      donate: let XLA write the new state into the old state's buffers
        (``donate_argnums``): the state passed in is deleted by the call, so use it only
        where nothing keeps the old state (not with :func:`fit`, which keeps the best
        epoch's state). Measured on the 2-core CPU (``benchmarks/bench_donate.py``):
        1.3x faster for a 3 x 1024 MLP at batch 32 (the update dominates), no change
        for compute-bound steps (small CNN, the LM and U-Net of the practicals).
      micro_batches: split every batch into this many micro-batches (rows ``j``,
        ``j + k``, ``j + 2k``... form micro-batch ``j``, so that each still spans every
        device of a sharded batch) and average their losses, metrics and gradients
        inside the step (a ``lax.scan``), then update once. On a CPU a micro-batch's
        activations stay in the cache where the whole batch's do not: the char-LM
        step (32 x 128 tokens) is 1.7x faster in 8 micro-batches (see
        :func:`cache_micro_batches`). The update is the whole batch's when the loss is
        a mean over rows (a mean of micro-batch means otherwise, e.g. over a varying
        number of unmasked tokens); ``model_state`` passes through the micro-batches
        in turn. The batch size must be a multiple of ``micro_batches``. Measure
        before adopting it: convolutions inside the scan lost XLA:CPU's fast path
        (LeNet and the diffusion U-Net at batch 128: 4-20x slower in 2-8 micro-batches).

    Returns:
      ``step(state, batch) -> (new_state, metrics)``; ``metrics`` holds
      ``"loss"`` and whatever ``loss_fn`` reported.

    Raises:
      KhipuError: ``micro_batches`` is not positive (here) or does not divide the
        batch size (at the first step of that shape).
    """
    if micro_batches < 1:
        raise KhipuError(f"micro_batches must be at least 1, got {micro_batches}")
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    if micro_batches > 1:
        grad_fn = _accumulated(grad_fn, micro_batches)

    def step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        rng, key = jax.random.split(state.rng)
        (loss, (model_state, metrics)), grads = grad_fn(state.params, state.model_state, key, batch)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = TrainState(params, opt_state, state.step + 1, rng, model_state)
        return new_state, {"loss": loss, **metrics}

    if not jit:
        return step
    return jax.jit(step, donate_argnums=(0,) if donate else ())


def _accumulated(grad_fn: Callable[..., Any], k: int) -> Callable[..., Any]:
    """``grad_fn`` over ``k`` interleaved micro-batches of the batch, averaged."""

    def accumulated(params: Params, model_state: Any, key: PRNGKey, batch: Batch) -> Any:
        size = int(next(iter(batch.values())).shape[0])
        if size % k:
            raise KhipuError(
                f"batch size {size} is not a multiple of micro_batches {k}; choose a batch "
                f"size divisible by {k}"
            )

        def split(x: jax.Array) -> jax.Array:  # [B, ...] -> [k, B / k, ...], row j::k
            return jnp.swapaxes(x.reshape(size // k, k, *x.shape[1:]), 0, 1)

        parts = jax.tree.map(split, dict(batch))
        keys = jax.random.split(key, k)

        def body(carry: tuple[Any, Any], part: tuple[Any, PRNGKey]) -> tuple[Any, Any]:
            total, state = carry
            (loss, (state, metrics)), grads = grad_fn(params, state, part[1], part[0])
            return (jax.tree.map(jnp.add, total, grads), state), (loss, metrics)

        zeros = jax.tree.map(jnp.zeros_like, params)
        (total, model_state), (losses, metrics) = jax.lax.scan(
            body, (zeros, model_state), (parts, keys)
        )
        grads = jax.tree.map(lambda g: g / k, total)
        means = jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics)
        return (jnp.mean(losses), (model_state, means)), grads

    return accumulated


def cache_micro_batches(batch_size: int, rows: int) -> int:
    """How many micro-batches of about ``rows`` rows to split ``batch_size`` into on a CPU.

    On the CPU backend: the largest divisor of ``batch_size`` that is at most
    ``batch_size // rows`` (so micro-batches of at least ``rows`` rows), else 1. On an
    accelerator: 1 (the whole batch keeps it busy). ``rows`` is the workload's
    measured sweet spot (the char LM's: 2 sequences of 128 tokens per device, whose
    attention and feed-forward arrays stay in a 2 MiB L2 cache).
    """
    if jax.default_backend() != "cpu" or rows < 1:
        return 1
    most = max(batch_size // rows, 1)
    return next(k for k in range(most, 0, -1) if batch_size % k == 0)


def make_eval_step(eval_fn: EvalFn, *, jit: bool = True) -> Callable[[TrainState, Batch], Metrics]:
    """Wraps ``eval_fn(params, model_state, batch) -> metrics`` (batch means) as a step."""

    def step(state: TrainState, batch: Batch) -> Metrics:
        return eval_fn(state.params, state.model_state, batch)

    return jax.jit(step) if jit else step


def evaluate(
    eval_step: Callable[[TrainState, Batch], Metrics],
    state: TrainState,
    data: Arrays,
    *,
    batch_size: int,
    mesh: Mesh | None = None,
) -> dict[str, float]:
    """Means of ``eval_step``'s metrics over ``data``, weighted by batch size.

    In a multi-process run every process passes the same ``data`` and gets the
    same means: each batch is one global array and the metrics are computed on
    it as a whole.
    """
    mesh = mesh or data_mesh()
    state = replicate(state, mesh)
    totals: dict[str, Any] = {}
    n = 0
    for batch in batches(data, batch_size, shuffle=False):
        size = num_examples(batch)
        metrics = eval_step(state, shard_batch(batch, mesh))
        for name, value in metrics.items():
            totals[name] = totals.get(name, 0.0) + value * size
        n += size
    return {name: float(value) / n for name, value in totals.items()}


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    Attributes:
      state: the final state; its params are the best epoch's when early
        stopping monitored a metric and ``restore_best`` was set.
      history: per-epoch lists: ``"epoch"``, the mean training metrics and the
        ``"val_*"`` metrics (NaN in epochs without evaluation).
      best_epoch: 1-based epoch of the best monitored value (last epoch if none).
      epochs_run: epochs completed, including those before a resume.
      stopped_early: whether patience ran out.
    """

    state: TrainState
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    stopped_early: bool


def _stack(metrics: list[Metrics]) -> dict[str, np.ndarray]:
    """Per-step metrics as host arrays of shape ``[steps, ...]`` (one transfer per metric)."""
    return {k: np.asarray(jnp.stack([m[k] for m in metrics])) for k in metrics[0]}


def _epoch_batches(
    data: Arrays, batch_size: int, rng: np.random.Generator, rows: slice
) -> Iterator[dict[str, np.ndarray]]:
    """This process's rows of each global batch of one epoch.

    The global batches are those of ``batches(data, batch_size, seed=rng,
    drop_remainder=True)``: the same permutation in every process (same seed,
    same epoch); each process gathers only ``rows`` of each.
    """
    arrays = {name: np.asarray(a) for name, a in data.items()}
    order = rng.permutation(num_examples(data))
    for i in range(num_batches(len(order), batch_size, drop_remainder=True)):
        idx = order[i * batch_size : (i + 1) * batch_size][rows]
        yield {name: a[idx] for name, a in arrays.items()}


def _first_non_finite(stacked: dict[str, np.ndarray]) -> tuple[int, str, float] | None:
    steps = len(next(iter(stacked.values())))
    for i in range(steps):
        for name, values in stacked.items():
            if not np.isfinite(values[i]).all():
                return i, name, float(values[i].ravel()[0])
    return None


def history_columns(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    """Per-epoch rows as columns; a metric missing from a row (no evaluation) is NaN."""
    keys = sorted({k for row in rows for k in row}, key=lambda k: (k != "epoch", k))
    return {k: [row.get(k, math.nan) for row in rows] for k in keys}


def _improved(value: float, best: float, mode: str) -> bool:
    return value < best if mode == "min" else value > best


def fit(
    state: TrainState,
    train_step: StepFn,
    train_data: Arrays,
    *,
    batch_size: int,
    epochs: int,
    seed: int = 0,
    eval_step: Callable[[TrainState, Batch], Metrics] | None = None,
    val_data: Arrays | None = None,
    eval_every: int = 1,
    monitor: str = "val_loss",
    mode: Literal["min", "max"] = "min",
    patience: int | None = None,
    restore_best: bool = True,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    mesh: Mesh | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> FitResult:
    """Trains for ``epochs`` passes over ``train_data`` with a progress bar.

    Each epoch visits the training set in a fresh seeded permutation, in
    batches of ``batch_size`` (the incomplete last batch is dropped so every
    step has the same shape and ``jit`` compiles once). Batches are sharded over
    all devices of ``mesh`` (default: every device), parameters replicated.

    Args:
      state: the initial :class:`TrainState`.
      train_step: from :func:`make_train_step`.
      train_data: training arrays sharing their leading dimension.
      batch_size: global batch size; must divide over the devices.
      epochs: maximum number of epochs.
      seed: seed of the per-epoch shuffles (epoch ``e`` uses ``[seed, e]``).
      eval_step: from :func:`make_eval_step`; run on ``val_data`` every
        ``eval_every`` epochs, its metrics recorded as ``"val_<name>"``.
      val_data: validation arrays.
      eval_every: evaluate every this many epochs (and after the last one).
      monitor: history key to track for early stopping / best params.
      mode: whether smaller (``"min"``) or larger (``"max"``) ``monitor`` is better.
      patience: stop after this many evaluations without improvement (``None``: never).
      restore_best: return the parameters of the best evaluation.
      checkpoint_dir: save ``last.npz`` there after every epoch (atomically).
      resume: continue from ``checkpoint_dir/last.npz`` if it exists; the
        result then equals that of an uninterrupted run.
      progress: show a tqdm progress bar (terminal or Jupyter).
      mesh: device mesh (default :func:`~khipu.core.parallel.data_mesh`).
      on_epoch_end: called with ``(epoch, row)`` after each epoch.

    Returns:
      A :class:`FitResult`.

    Raises:
      NonFiniteLossError: a training metric or the monitored metric became NaN
        or infinite; the message names the step and the metric.
      KhipuError: bad arguments (non-positive epochs, batch larger than the data...).
    """
    if epochs < 0:
        raise KhipuError(f"epochs must be non-negative, got {epochs}")
    if eval_every <= 0:
        raise KhipuError(f"eval_every must be positive, got {eval_every}")
    if patience is not None and patience < 0:
        raise KhipuError(f"patience must be non-negative, got {patience}")
    if (eval_step is None) != (val_data is None):
        raise KhipuError("eval_step and val_data must be given together")
    if mode not in ("min", "max"):
        raise KhipuError(f"mode must be 'min' or 'max', got {mode!r}")
    mesh = mesh or data_mesh()
    check_batch_size(batch_size, mesh)
    n_train = num_examples(train_data)
    steps_per_epoch = num_batches(n_train, batch_size, drop_remainder=True)
    if steps_per_epoch == 0:
        raise KhipuError(f"batch_size {batch_size} is larger than the training set ({n_train})")

    rows: list[dict[str, float]] = []
    best_value = math.inf if mode == "min" else -math.inf
    best_epoch, bad_epochs, epoch, stopped_early = 0, 0, 0, False
    best_state = state
    ckpt = Path(checkpoint_dir) / "last.npz" if checkpoint_dir is not None else None
    versions = package_versions() if ckpt is not None else {}
    # Processes other than 0 write elsewhere but read process 0's checkpoint.
    saved = shared_path(ckpt) if ckpt is not None else None
    if resume and saved is not None and saved.exists():
        restored, meta = load_checkpoint(saved, {"state": state, "best": state})
        state, best_state = restored["state"], restored["best"]
        try:
            rows, epoch, best_epoch = (
                list(meta["rows"]),
                int(meta["epoch"]),
                int(meta["best_epoch"]),
            )
            best_value, bad_epochs = float(meta["best_value"]), int(meta["bad_epochs"])
            stopped_early = bool(meta["stopped_early"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"checkpoint {ckpt} lacks the training history needed to resume ({exc})"
            ) from None
    if resume:
        restart_history(rows)  # the run folder's history.jsonl = the restored epochs
    multiprocess = jax.process_count() > 1
    if multiprocess:
        agree("the epoch to resume from", epoch)
    state = replicate(state, mesh)
    rows_here = local_rows(mesh, batch_size)  # this process's rows of every batch
    # Several local devices in a multi-process run: more than ~32 queued steps can
    # deadlock (one device thread blocked on its queue while the others wait in the
    # all-reduce), so each step is waited on.
    wait_each_step = multiprocess and len(mesh.local_devices) > 1

    bar = tqdm(
        total=epochs * steps_per_epoch,
        initial=min(epoch, epochs) * steps_per_epoch,
        disable=not progress or not is_writer(),
        unit="step",
        dynamic_ncols=True,
    )
    try:
        while epoch < epochs and not stopped_early:
            epoch += 1
            first_step = int(state.step)
            order = np.random.default_rng([seed, epoch])
            step_metrics: list[Metrics] = []
            for local in _epoch_batches(train_data, batch_size, order, rows_here):
                state, metrics = train_step(state, global_batch(local, mesh, batch_size))
                if wait_each_step:
                    jax.block_until_ready(metrics)
                step_metrics.append(metrics)
                bar.update(1)
            stacked = _stack(step_metrics)
            if (bad := _first_non_finite(stacked)) is not None:
                i, name, value = bad
                raise NonFiniteLossError(
                    f"training metric {name!r} became {value} at step {first_step + i + 1} "
                    f"(epoch {epoch}); try a smaller learning rate"
                )
            row = {"epoch": float(epoch)}
            row |= {k: float(v.mean()) for k, v in stacked.items()}
            if eval_step is not None and val_data is not None:
                if epoch % eval_every == 0 or epoch == epochs:
                    val = evaluate(eval_step, state, val_data, batch_size=batch_size, mesh=mesh)
                    row |= {f"val_{k}": v for k, v in val.items()}
                    if monitor not in row:
                        raise KhipuError(f"monitor {monitor!r} is not among {sorted(row)}")
            elif not monitor.startswith("val_") and monitor not in row:
                raise KhipuError(f"monitor {monitor!r} is not among {sorted(row)}")
            rows.append(row)
            if monitor in row:
                value = row[monitor]
                if not math.isfinite(value):
                    raise NonFiniteLossError(
                        f"monitored metric {monitor!r} became {value} after epoch {epoch} "
                        f"(step {int(state.step)})"
                    )
                if _improved(value, best_value, mode):
                    best_value, best_epoch, bad_epochs, best_state = value, epoch, 0, state
                else:
                    bad_epochs += 1
                    stopped_early = patience is not None and bad_epochs > patience
            bar.set_postfix({k: f"{v:.4g}" for k, v in row.items() if k != "epoch"}, refresh=False)
            if ckpt is not None and is_writer():  # process 0 writes, the others wait
                save_checkpoint(
                    ckpt,
                    {"state": to_local(state), "best": to_local(best_state)},
                    {
                        "epoch": epoch,
                        "rows": rows,
                        "best_epoch": best_epoch,
                        "best_value": best_value,
                        "bad_epochs": bad_epochs,
                        "stopped_early": stopped_early,
                        "step": int(state.step),
                        "versions": versions,
                    },
                )
            if ckpt is not None and multiprocess:
                barrier(f"checkpoint of epoch {epoch} written")
            log_epoch(row)  # streams to the open run's history.jsonl (and --tensorboard)
            if on_epoch_end is not None:
                on_epoch_end(epoch, row)
    finally:
        bar.close()

    history = history_columns(rows)
    if restore_best and best_epoch:
        best_state = replicate(best_state, mesh)
        final = state._replace(params=best_state.params, model_state=best_state.model_state)
    else:
        final, best_epoch = state, best_epoch or epoch
    # Multi-process: the code after training runs in each process on local copies.
    return FitResult(to_local(final), history, best_epoch, epoch, stopped_early)
