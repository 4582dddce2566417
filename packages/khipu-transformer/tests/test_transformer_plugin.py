"""The student's blocks plug into the package's inversion training (tx.Blocks + a model
factory); with the exercises' references, the same code path gives the package's result."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from khipu.core import KhipuError
from khipu.transformer import (
    Blocks,
    evaluate_inversion,
    exercises as ex,
    grammar_text,
    greedy_decode_inversion,
    inversion_model,
    invert_texts,
    invert_words,
    prepare_task,
    train_inversion,
    train_model,
)

STUDENT = {"model": ex.Seq2Seq, "blocks": Blocks(ex.EncoderBlock, ex.DecoderBlock)}


@pytest.fixture(scope="module")
def task():
    return prepare_task(
        "invert",
        grammar_text(20_000),
        length=8,
        num_train=256,
        num_eval=48,
        d_model=16,
        num_heads=2,
        num_layers=1,
        widening_factor=2,
    )


def _init(task, **plug):
    src, dec_in, src_len = (jnp.asarray(task.train[k][:2]) for k in ("src", "dec_in", "src_len"))
    return inversion_model(task.config, plug.get("model"), plug.get("blocks")).init(
        jax.random.key(0), src, dec_in, src_len
    )


def test_the_references_create_the_packages_parameters_in_the_same_order(task) -> None:
    package, student = _init(task), _init(task, **STUDENT)
    ours = [v for m in package.values() for v in m.values()]
    theirs = [v for m in student.values() for v in m.values()]
    assert [np.shape(v) for v in ours] == [np.shape(v) for v in theirs]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any("encoder_0/~/attention" in k for k in student)  # the plugged-in modules


def test_the_same_code_path_with_the_package_blocks_gives_the_package_result(task) -> None:
    settings = {"epochs": 2, "batch_size": 32, "learning_rate": 3e-3, "warmup_steps": 5}
    package = train_model("invert", task.config, task.train, task.val, progress=False, **settings)
    reference = evaluate_inversion(task.config, package.params, task.test)
    default = train_inversion(task, progress=False, **settings)
    student = train_inversion(task, progress=False, **STUDENT, **settings)
    assert default.metrics["exact_match"] == reference["exact_match"]
    assert default.metrics["token_accuracy"] == reference["token_accuracy"]
    for a, b in zip(
        jax.tree_util.tree_leaves(package.params),
        jax.tree_util.tree_leaves(default.params),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(student.history["loss"], package.history["loss"], rtol=1e-4)
    assert student.metrics["token_accuracy"] == pytest.approx(reference["token_accuracy"], abs=0.02)


def test_rerun_decoding_of_a_plugged_model_equals_the_cached_encoder_path(task) -> None:
    params = _init(task)
    src, src_len = task.test["src"][:16], task.test["src_len"][:16]
    steps = task.test["tgt"].shape[1]
    fast = greedy_decode_inversion(task.config, params, src, src_len, steps)
    rerun = greedy_decode_inversion(task.config, params, src, src_len, steps, blocks=Blocks())
    np.testing.assert_array_equal(fast, rerun)


class BlindEncoderBlock(ex.EncoderBlock):
    """Forgets the source: a decoder reading it cannot invert anything."""

    def __call__(self, x, mask=None):
        out, w = super().__call__(x, mask)
        return out * 0.0, w


def test_the_plugged_blocks_are_the_ones_that_run(task) -> None:
    src, dec_in, src_len = (jnp.asarray(task.test[k][:4]) for k in ("src", "dec_in", "src_len"))
    blind = {"model": ex.Seq2Seq, "blocks": Blocks(BlindEncoderBlock, ex.DecoderBlock)}
    params = _init(task, **STUDENT)
    a = inversion_model(task.config, **STUDENT).apply(params, None, src, dec_in, src_len)
    b = inversion_model(task.config, **blind).apply(params, None, src, dec_in, src_len)
    other = src[::-1]
    c = inversion_model(task.config, **blind).apply(params, None, other, dec_in, src_len[::-1])
    assert not np.allclose(a, b)
    np.testing.assert_allclose(b, c, atol=1e-5)  # the source no longer matters


def test_teacher_forcing_and_autoregressive_decoding_of_a_trained_model(task) -> None:
    result = train_inversion(
        task, epochs=1, batch_size=32, learning_rate=3e-3, warmup_steps=5, progress=False, **STUDENT
    )
    texts = ["the cat.", "a dog"]
    free = invert_texts(task, result, texts)
    forced = invert_texts(task, result, texts, teacher_forcing=True)
    assert len(free) == len(forced) == 2 and all(isinstance(t, str) for t in free + forced)
    assert invert_words("the cat.") == ".cat the"
    with pytest.raises(KhipuError, match="characters"):
        invert_texts(task, result, ["x" * 50])


def test_plugged_blocks_refuse_pre_ln_and_the_lm_task(task) -> None:
    src, dec_in, src_len = (jnp.asarray(task.test[k][:2]) for k in ("src", "dec_in", "src_len"))
    pre_ln = inversion_model(task.config._replace(pre_ln=True), None, Blocks(BlindEncoderBlock))
    with pytest.raises(KhipuError, match="post-LN"):
        pre_ln.init(jax.random.key(0), src, dec_in, src_len)
    with pytest.raises(KhipuError, match="inversion task only"):
        train_model("lm", task.config, {}, {}, epochs=1, blocks=Blocks())
