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
