"""The notebook keeps the lesson's pieces: the JAX demos as visible code, the convolution
theory, the training loop, the group tasks, the readings and every quiz.

Reads ``notebooks/01_cnn.py`` of the repository (skipped where the package is tested
outside it, e.g. from an sdist).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from khipu.cnn import exercises

NOTEBOOK = Path(__file__).resolve().parents[3] / "notebooks" / "01_cnn.py"


@pytest.fixture(scope="module")
def source() -> str:
    if not NOTEBOOK.is_file():
        pytest.skip("the repository's notebooks are not here")
    return NOTEBOOK.read_text()


def test_jax_demos_are_visible_code_that_fails_where_the_lesson_says(source: str) -> None:
    for hidden in ("array_semantics_demo(", "prng_demo(", "purity_demo("):
        assert hidden not in source, f"{hidden} hides the demo from the student"
    # immutability: the assignment fails, caught and printed, then .at[].set
    assert re.search(r"try:\n\s+x\[0\] = 10.*\nexcept TypeError as err:\n\s+print", source)
    assert "x.at[0].set(10)" in source
    # PRNG: NumPy's hidden state changes; a JAX key is a value, split for new ones
    assert "np.random.get_state()" in source and "jax.random.split(key)" in source
    # purity: side effects only while tracing, a stale global
    assert "def impure_print_side_effect(x):" in source
    assert "def impure_uses_globals(x):" in source and "stale" in source


@pytest.mark.parametrize(
    "piece",
    [
        "### 3.1 Images as tensors: channels and layouts",
        "channels first",
        "### 3.2 Why convolutions: dense layers blow up on images",
        "### 3.3 What a filter computes",
        "plots.plot_sliding_kernel(",
        "def conv2d(image, kernel, stride=1):",
        "### 4.3 The train step",
        "### 4.4 The epoch loop",
        "step = make_step(alexnet_loss, optimizer)",
        "params, opt_state, mean_loss = train_epoch(",
        "checkpoint_dir=run_dir",
        'DATASET = "shapes32"',
        "### 4.8 What the layers learned: the feature hierarchy",
        "cnn.feature_maps(alexnet",
        "**Group task 1.6**",
        "3. The model was incorrect with high confidence",
        "### Optional reading: initialisation schemes",
        "### Optional reading: uncertainty in deep learning",
        "### Optional reading: CNN architectures",
    ],
)
def test_lesson_piece_is_in_the_notebook(source: str, piece: str) -> None:
    assert piece in source


def test_every_quiz_is_asked(source: str) -> None:
    quizzes = [name for name in exercises.__all__ if name.startswith("quiz_")]
    assert len(quizzes) >= 7
    for name in quizzes:
        assert f"ex.{name}(None)" in source, name


def test_group_tasks_have_hidden_model_answers(source: str) -> None:
    assert source.count("<details><summary>Model answer</summary>") >= 3
    assert source.count("</details>") >= 3
