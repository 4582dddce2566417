import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import khipu.core as kc
import numpy as np
import optax
import pytest


def linear_loss(params, model_state, key, batch):  # type: ignore[no-untyped-def]
    del key
    pred = batch["x"] @ params["w"] + params["b"]
    loss = jnp.mean((pred - batch["y"]) ** 2)
    return loss, (model_state, {"mae": jnp.mean(jnp.abs(pred - batch["y"]))})


def linear_eval(params, model_state, batch):  # type: ignore[no-untyped-def]
    loss, (_, metrics) = linear_loss(params, model_state, None, batch)
    return {"loss": loss, **metrics}


def _fit(state, data, **kwargs):  # type: ignore[no-untyped-def]
    step = kc.make_train_step(linear_loss, optax.sgd(0.05))
    kwargs.setdefault("progress", False)
    return kc.fit(state, step, data, batch_size=32, **kwargs)


def test_fit_learns_and_reports_history(regression_data, fresh_state) -> None:  # type: ignore[no-untyped-def]
    result = _fit(
        fresh_state,
        regression_data,
        epochs=5,
        eval_step=kc.make_eval_step(linear_eval),
        val_data=regression_data,
    )
    h = result.history
    assert h["epoch"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert h["loss"][-1] < 0.1 * h["loss"][0]
    assert h["val_loss"][-1] < h["val_loss"][0]
    assert set(h) == {"epoch", "loss", "mae", "val_loss", "val_mae"}
    assert int(result.state.step) == 5 * (256 // 32)
    assert result.epochs_run == 5 and not result.stopped_early
    assert result.best_epoch == int(np.argmin(h["val_loss"])) + 1


def test_train_step_compiles_once(regression_data, fresh_state) -> None:  # type: ignore[no-untyped-def]
    traces = []

    def counting_loss(params, model_state, key, batch):  # type: ignore[no-untyped-def]
        traces.append(1)
        return linear_loss(params, model_state, key, batch)

    step = kc.make_train_step(counting_loss, optax.sgd(0.05))
    data = {k: v[:250] for k, v in regression_data.items()}  # 250 % 32 != 0: remainder dropped
    kc.fit(fresh_state, step, data, batch_size=32, epochs=3, progress=False)
    assert len(traces) == 1


def test_same_seed_same_parameters(regression_data, fresh_state) -> None:  # type: ignore[no-untyped-def]
    a = _fit(fresh_state, regression_data, epochs=2, seed=3).state.params
    b = _fit(fresh_state, regression_data, epochs=2, seed=3).state.params
    c = _fit(fresh_state, regression_data, epochs=2, seed=4).state.params
    np.testing.assert_array_equal(a["w"], b["w"])
    assert not np.array_equal(a["w"], c["w"])


def test_early_stopping_restores_best_parameters(regression_data, fresh_state) -> None:  # type: ignore[no-untyped-def]
    # The "validation loss" is minimal when the bias passes 0.1 on its way to 0.3.
    def eval_fn(params, model_state, batch):  # type: ignore[no-untyped-def]
        return {"loss": (params["b"] - 0.1) ** 2, "b": params["b"]}

    step = kc.make_train_step(linear_loss, optax.sgd(0.002))
    result = kc.fit(
        fresh_state,
        step,
        regression_data,
        batch_size=32,
        epochs=100,
        eval_step=kc.make_eval_step(eval_fn),
        val_data=regression_data,
        patience=2,
        progress=False,
    )
    h = result.history
    assert result.stopped_early
    assert result.epochs_run == result.best_epoch + 3 < 100
    best = result.best_epoch - 1
    assert h["val_loss"][best] == min(h["val_loss"])
    assert float(result.state.params["b"]) == pytest.approx(h["val_b"][best], abs=1e-7)
    assert float(result.state.params["b"]) != pytest.approx(h["val_b"][-1], abs=1e-5)
    assert int(result.state.step) == result.epochs_run * 8  # optimizer state stays the last one


def test_non_finite_loss_stops_naming_the_first_bad_step(regression_data, fresh_state) -> None:  # type: ignore[no-untyped-def]
    opt = optax.sgd(3.0)
    step = kc.make_train_step(linear_loss, opt)
    # Replay the same batches by hand to find the first non-finite step.
    state, first_bad = fresh_state, None
    for epoch in range(1, 50):
        order = np.random.default_rng([0, epoch])
        for batch in kc.batches(regression_data, 32, seed=order, drop_remainder=True):
            state, metrics = step(state, batch)
            if first_bad is None and not all(np.isfinite(float(v)) for v in metrics.values()):
                first_bad = int(state.step)
        if first_bad is not None:
            break
    assert first_bad is not None
    with pytest.raises(kc.NonFiniteLossError, match=rf"at step {first_bad} \(epoch"):
        kc.fit(fresh_state, step, regression_data, batch_size=32, epochs=50, progress=False)


def test_bad_arguments_are_clear(regression_data, fresh_state) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kc.KhipuError, match="epochs"):
        _fit(fresh_state, regression_data, epochs=-1)
    with pytest.raises(kc.KhipuError, match="larger than the training set"):
        kc.fit(
            fresh_state,
            kc.make_train_step(linear_loss, optax.sgd(0.1)),
            regression_data,
            batch_size=512,
            epochs=1,
            progress=False,
        )
    with pytest.raises(kc.KhipuError, match="together"):
        _fit(fresh_state, regression_data, epochs=1, val_data=regression_data)
    with pytest.raises(kc.KhipuError, match="monitor 'val_acc'"):
        _fit(
            fresh_state,
            regression_data,
            epochs=1,
            eval_step=kc.make_eval_step(linear_eval),
            val_data=regression_data,
            monitor="val_acc",
        )


def test_resume_in_process_matches_uninterrupted(tmp_path, regression_data, fresh_state) -> None:  # type: ignore[no-untyped-def]
    full = _fit(fresh_state, regression_data, epochs=4)
    _fit(fresh_state, regression_data, epochs=2, checkpoint_dir=tmp_path)
    meta = kc.read_metadata(tmp_path / "last.npz")
    assert meta["epoch"] == 2
    assert meta["step"] == 2 * 8
    assert meta["versions"]["khipu-core"] == kc.__version__
    resumed = _fit(fresh_state, regression_data, epochs=4, checkpoint_dir=tmp_path, resume=True)
    np.testing.assert_array_equal(full.state.params["w"], resumed.state.params["w"])
    assert resumed.history["loss"] == full.history["loss"]
    assert resumed.epochs_run == 4


SCRIPT = textwrap.dedent(
    """
    import sys, time, json
    import jax, jax.numpy as jnp, numpy as np, optax
    import khipu.core as kc

    mode, out = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype(np.float32)
    y = (x @ rng.normal(size=8).astype(np.float32) + 0.1).astype(np.float32)
    data = {"x": x, "y": y}

    def loss_fn(params, model_state, key, batch):
        h = jnp.tanh(batch["x"] @ params["w1"])
        pred = h @ params["w2"]
        return jnp.mean((pred - batch["y"]) ** 2), (model_state, {})

    keys = jax.random.split(jax.random.key(0))
    params = {"w1": 0.3 * jax.random.normal(keys[0], (8, 16)),
              "w2": 0.3 * jax.random.normal(keys[1], (16,))}
    opt = optax.adam(1e-2)
    state = kc.init_train_state(params, opt, key=1)
    step = kc.make_train_step(loss_fn, opt)
    slow = (lambda e, row: time.sleep(0.4)) if mode == "slow" else None
    batch_size = int(sys.argv[3]) if len(sys.argv) > 3 else 32
    try:
        result = kc.fit(state, step, data, batch_size=batch_size, epochs=12, progress=False,
                        checkpoint_dir=out if mode != "plain" else None,
                        resume=mode == "resume", on_epoch_end=slow)
    except kc.KhipuError as exc:
        print("KhipuError:", exc)
        sys.exit(3)
    np.savez(out + "/final.npz", **jax.device_get(result.state.params))
    print(json.dumps({"devices": jax.device_count(), "epochs": result.epochs_run}))
    """
)


def _run(
    tmp: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    script = tmp / "train_script.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_resume_after_sigkill_ends_with_identical_parameters(tmp_path: Path) -> None:
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "run"
    ref_dir.mkdir()
    run_dir.mkdir()
    ref = _run(tmp_path, "plain", str(ref_dir))
    assert ref.returncode == 0, ref.stderr

    script = tmp_path / "train_script.py"
    proc = subprocess.Popen([sys.executable, str(script), "slow", str(run_dir)])
    ckpt = run_dir / "last.npz"
    deadline = time.time() + 240
    while time.time() < deadline:
        if ckpt.exists() and kc.read_metadata(ckpt)["epoch"] >= 3:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = kc.read_metadata(ckpt)["epoch"]
    assert 3 <= killed_at < 12, "the run should have been killed mid-way"
    assert not (run_dir / "final.npz").exists()

    resumed = _run(tmp_path, "resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["epochs"] == 12
    a, b = np.load(ref_dir / "final.npz"), np.load(run_dir / "final.npz")
    for name in ("w1", "w2"):
        np.testing.assert_array_equal(a[name], b[name])


@pytest.mark.slow
def test_four_devices_equal_one_device(tmp_path: Path) -> None:
    one, four = tmp_path / "one", tmp_path / "four"
    one.mkdir()
    four.mkdir()
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    r1 = _run(tmp_path, "plain", str(one), env={"XLA_FLAGS": ""})
    r4 = _run(tmp_path, "plain", str(four), env=flags)
    assert r1.returncode == 0, r1.stderr
    assert r4.returncode == 0, r4.stderr
    assert json.loads(r1.stdout.splitlines()[-1])["devices"] == 1
    assert json.loads(r4.stdout.splitlines()[-1])["devices"] == 4
    a, b = np.load(one / "final.npz"), np.load(four / "final.npz")
    for name in ("w1", "w2"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5)

    bad = _run(tmp_path, "plain", str(four), "30", env=flags)
    assert bad.returncode == 3
    assert "batch_size 30 does not divide evenly over 4 devices" in bad.stdout


def test_evaluate_weights_batches_by_size(fresh_state) -> None:  # type: ignore[no-untyped-def]
    data = {"v": np.arange(10, dtype=np.float32)}
    step = kc.make_eval_step(lambda params, ms, batch: {"mean": jnp.mean(batch["v"])})
    result = kc.evaluate(step, fresh_state, data, batch_size=4)  # batches of 4, 4, 2
    assert result["mean"] == pytest.approx(4.5)


def test_train_step_uses_fresh_randomness_each_step(fresh_state) -> None:  # type: ignore[no-untyped-def]
    def noisy_loss(params, model_state, key, batch):  # type: ignore[no-untyped-def]
        noise = jax.random.normal(key, ())
        return jnp.sum(params["w"]) * 0.0 + noise, (model_state, {})

    step = kc.make_train_step(noisy_loss, optax.sgd(0.1))
    batch = {"x": jnp.zeros((2, 3))}
    s1, m1 = step(fresh_state, batch)
    _, m2 = step(s1, batch)
    _, m1_again = step(fresh_state, batch)
    assert float(m1["loss"]) != float(m2["loss"])
    assert float(m1["loss"]) == float(m1_again["loss"])


def test_fit_visits_the_data_in_a_new_order_each_epoch_and_the_same_on_a_rerun(
    fresh_state,  # type: ignore[no-untyped-def]
) -> None:
    data = {"i": np.arange(24, dtype=np.int32)}

    def visits(seed: int) -> list[list[int]]:
        seen: list[np.ndarray] = []

        def step(state, batch):  # type: ignore[no-untyped-def]
            seen.append(np.asarray(batch["i"]))
            return state._replace(step=state.step + 1), {"loss": jnp.zeros(())}

        kc.fit(fresh_state, step, data, batch_size=6, epochs=3, seed=seed, progress=False)
        epochs = np.concatenate(seen).reshape(3, 24)
        return [list(map(int, e)) for e in epochs]

    first = visits(seed=0)
    for epoch in first:  # every example once per epoch
        assert sorted(epoch) == list(range(24))
    assert first[0] != first[1] != first[2] and first[0] != first[2]
    assert first[0] != list(range(24))  # shuffled, not in storage order
    assert visits(seed=0) == first
    assert visits(seed=1) != first


def test_resume_from_a_checkpoint_without_history_is_a_clear_error(
    tmp_path,
    regression_data,
    fresh_state,  # type: ignore[no-untyped-def]
) -> None:
    ckpt = tmp_path / "last.npz"
    kc.save_checkpoint(ckpt, {"state": fresh_state, "best": fresh_state}, {"epoch": 2})
    with pytest.raises(kc.CheckpointError, match="lacks the training history"):
        _fit(fresh_state, regression_data, epochs=3, checkpoint_dir=tmp_path, resume=True)


def test_make_train_step_donate_matches_plain_step_and_frees_the_old_state(fresh_state) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    batch = {
        "x": jnp.asarray(rng.normal(size=(16, 3)), jnp.float32),
        "y": jnp.asarray(rng.normal(size=16), jnp.float32),
    }
    plain = kc.make_train_step(linear_loss, optax.adam(0.1))
    donating = kc.make_train_step(linear_loss, optax.adam(0.1), donate=True)
    fresh = kc.init_train_state(fresh_state.params, optax.adam(0.1), key=0)
    expected, _ = plain(fresh, batch)
    expected, _ = plain(expected, batch)
    state = kc.init_train_state(jax.tree.map(jnp.copy, fresh_state.params), optax.adam(0.1), key=0)
    given = state
    state, _ = donating(state, batch)
    state, _ = donating(state, batch)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(expected.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
    assert int(state.step) == 2
    # the state handed in was donated: its buffers now belong to the new state
    assert given.params["w"].is_deleted()
    assert not fresh.params["w"].is_deleted()  # the plain step never donates


def _counting_loss(params, model_state, key, batch):  # type: ignore[no-untyped-def]
    """A mean-over-rows loss that also counts its calls in ``model_state``."""
    loss, (_, metrics) = linear_loss(params, None, key, batch)
    return loss, (model_state + 1, {**metrics, "first_x": batch["x"][0, 0]})


def test_micro_batches_give_the_whole_batch_update(fresh_state) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    batch = {
        "x": jnp.asarray(rng.normal(size=(12, 3)), jnp.float32),
        "y": jnp.asarray(rng.normal(size=12), jnp.float32),
    }
    opt = optax.sgd(0.1)
    start = kc.init_train_state(fresh_state.params, opt, key=0, model_state=jnp.int32(0))
    whole, m1 = kc.make_train_step(_counting_loss, opt)(start, batch)
    for k in (2, 3, 4):
        split, mk = kc.make_train_step(_counting_loss, opt, micro_batches=k)(start, batch)
        for a, b in zip(jax.tree.leaves(split.params), jax.tree.leaves(whole.params), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(float(mk["loss"]), float(m1["loss"]), rtol=1e-5)
        assert int(split.model_state) == k  # the model state passed through each micro-batch
        # micro-batch j holds rows j, j + k, ...: the mean of their first rows' x
        np.testing.assert_allclose(float(mk["first_x"]), float(batch["x"][:k, 0].mean()), rtol=1e-5)


def test_micro_batches_must_divide_the_batch(fresh_state) -> None:  # type: ignore[no-untyped-def]
    batch = {"x": jnp.ones((10, 3)), "y": jnp.ones(10)}
    step = kc.make_train_step(linear_loss, optax.sgd(0.1), micro_batches=4)
    with pytest.raises(kc.KhipuError, match="batch size 10 is not a multiple of micro_batches 4"):
        step(kc.init_train_state(fresh_state.params, optax.sgd(0.1), key=0), batch)
    with pytest.raises(kc.KhipuError, match="at least 1"):
        kc.make_train_step(linear_loss, optax.sgd(0.1), micro_batches=0)


def test_cache_micro_batches_picks_a_divisor_on_the_cpu() -> None:
    assert jax.default_backend() == "cpu"
    assert kc.cache_micro_batches(32, 4) == 8
    assert kc.cache_micro_batches(30, 4) == 6  # 7 does not divide 30
    assert kc.cache_micro_batches(3, 4) == 1
    assert kc.cache_micro_batches(64, 0) == 1
