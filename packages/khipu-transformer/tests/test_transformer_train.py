"""Training through fit(): reproducible under one seed; sequence metrics; the schedule."""

from __future__ import annotations

import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.transformer import (
    EOS,
    PAD,
    grammar_text,
    make_optimizer,
    prepare_task,
    sequence_metrics,
    train_model,
)


def test_sequence_metrics_ignore_what_follows_eos() -> None:
    target = np.array([[5, 6, EOS, PAD], [5, 6, 7, EOS]])
    predicted = np.array([[5, 6, EOS, 9], [5, 9, 7, EOS]])
    m = sequence_metrics(predicted, target)
    assert m["exact_match"] == 0.5
    assert m["token_accuracy"] == pytest.approx(6 / 7)


def test_warmup_schedule_and_bad_learning_rate() -> None:
    import optax

    opt = make_optimizer(1e-2, warmup_steps=10, total_steps=100)
    params = {"w": np.ones(3, np.float32)}
    state = opt.init(params)
    grads = {"w": np.ones(3, np.float32)}
    first, state = opt.update(grads, state, params)
    assert float(np.abs(first["w"]).max()) < 1e-6  # the warm-up starts at 0
    second, _ = opt.update(grads, state, params)
    assert float(np.abs(second["w"]).max()) > 1e-4
    assert isinstance(opt, optax.GradientTransformation)
    with pytest.raises(KhipuError, match="learning rate"):
        make_optimizer(-1.0)


def test_inversion_training_is_reproducible_and_learns() -> None:
    data = prepare_task(
        "invert",
        grammar_text(20_000),
        length=8,
        num_train=512,
        d_model=16,
        num_heads=2,
        num_layers=1,
    )
    kwargs = {"epochs": 2, "batch_size": 64, "learning_rate": 3e-3, "warmup_steps": 4}
    a = train_model("invert", data.config, data.train, data.val, progress=False, **kwargs)
    b = train_model("invert", data.config, data.train, data.val, progress=False, **kwargs)
    assert a.history == b.history
    assert a.history["val_loss"][-1] < a.history["val_loss"][0]


def test_lm_step_in_micro_batches_equals_the_whole_batch_step() -> None:
    """The LM trains in cache-sized micro-batches on a CPU; the update is the same."""
    import jax
    import jax.numpy as jnp
    import khipu.core as kc
    import optax
    from khipu.transformer import TransformerConfig, lm_model
    from khipu.transformer.train import LM_MICRO_ROWS, lm_loss_fn, lm_micro_batches

    assert lm_micro_batches(64) == 64 // (LM_MICRO_ROWS * jax.device_count())
    config = TransformerConfig(
        vocab_size=20, d_model=16, num_heads=2, num_layers=1, max_len=16, pre_ln=True
    )
    tokens = np.random.default_rng(0).integers(3, 20, (8, 13)).astype(np.int32)
    batch = {"tokens": jnp.asarray(tokens)}
    params = lm_model(config).init(jax.random.key(0), batch["tokens"][:, :-1])
    # plain SGD: Adam's first step turns the rounding noise of a gradient that is zero in
    # exact arithmetic (the key projection's bias) into a step of size lr
    opt = optax.sgd(1.0)
    state = kc.init_train_state(params, opt, key=0)
    whole, m1 = kc.make_train_step(lm_loss_fn(config), opt)(state, batch)
    split, m2 = kc.make_train_step(lm_loss_fn(config), opt, micro_batches=4)(state, batch)
    np.testing.assert_allclose(float(m2["loss"]), float(m1["loss"]), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(split.params), jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
