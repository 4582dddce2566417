"""The exercise checkers: a right answer passes, wrong ones fail with the input that
broke them, stubs are "not attempted" and the reference is handed back."""

import khipu.core as kc
import numpy as np
import pytest
from khipu.core.exercises import mismatch


def reference_rtg(rewards: np.ndarray, gamma: float) -> np.ndarray:
    out = np.zeros(len(rewards))
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


CHECK = kc.function_check(
    "rewards_to_go",
    reference_rtg,
    lambda: [
        kc.Case("three rewards", (np.ones(3), 0.5)),
        kc.Case("empty episode", (np.zeros(0), 0.9)),
        *[
            kc.Case(f"random #{i}", (np.random.default_rng(i).normal(size=5), 0.9))
            for i in range(3)
        ],
    ],
    hint="discount the future rewards",
)


def test_the_reference_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert CHECK.evaluate(reference_rtg).passed
    assert CHECK(reference_rtg) is reference_rtg
    assert capsys.readouterr().out == "✓ rewards_to_go: correct\n"


def undiscounted(rewards: np.ndarray, gamma: float) -> np.ndarray:
    return np.cumsum(rewards[::-1])[::-1]


def off_by_one(rewards: np.ndarray, gamma: float) -> np.ndarray:
    return np.concatenate([reference_rtg(rewards, gamma)[1:], [0.0]])[: len(rewards)]


def crashes_on_empty(rewards: np.ndarray, gamma: float) -> np.ndarray:
    return reference_rtg(rewards, gamma) + rewards[0] * 0


@pytest.mark.parametrize("wrong", [undiscounted, off_by_one, crashes_on_empty])
def test_wrong_answers_fail_naming_the_input(
    wrong: object, capsys: pytest.CaptureFixture[str]
) -> None:
    result = CHECK.evaluate(wrong)
    assert result.status == "failed"
    assert result.message.startswith("✗ rewards_to_go: on ")
    assert "Hint: discount the future rewards" in result.message
    assert "\n" not in result.message
    assert CHECK(wrong) is reference_rtg  # the notebook goes on with the reference
    assert capsys.readouterr().out.count("\n") == 1


def test_wrong_answer_message_shows_expected_and_got() -> None:
    message = CHECK.evaluate(undiscounted).message
    assert "three rewards" in message
    assert "expected [1.75, 1.5 , 1. ], got [3., 2., 1.]" in message


def test_stubs_are_not_attempted(capsys: pytest.CaptureFixture[str]) -> None:
    def stub(rewards: np.ndarray, gamma: float) -> np.ndarray:
        # YOUR CODE HERE
        raise NotImplementedError

    for answer in (stub, ..., None):
        assert CHECK.evaluate(answer).status == "not_attempted"
    assert CHECK(stub) is reference_rtg
    assert "rewards_to_go: not attempted yet" in capsys.readouterr().out


def test_value_checks_use_a_tolerance_and_shapes() -> None:
    check = kc.value_check("pooled", [[9, 5, 8], [9, 9, 8], [9, 9, 9]])
    assert check.evaluate(np.array([[9, 5, 8], [9, 9, 8], [9, 9, 9]])).passed
    assert check.evaluate([[9.0, 5, 8], [9, 9, 8], [9, 9, 9.0000001]]).passed
    assert "expected shape (3, 3), got shape (2, 2)" in check.evaluate([[9, 5], [9, 9]]).message
    assert check.evaluate([[9, 5, 8], [9, 9, 8], [9, 9, 8]]).status == "failed"
    assert check.evaluate(...).status == "not_attempted"
    assert kc.value_check("episode return", 31)(...) == 31


def test_mismatch_compares_structures() -> None:
    assert mismatch({"a": (1.0, np.ones(2))}, {"a": (1.0 + 1e-9, np.ones(2))}) is None
    assert mismatch({"a": 1}, {"b": 1}) is not None
    assert mismatch((1, 2), (1, 3)) == "expected [1, 2], got [1, 3]"
    assert mismatch("relu", "relu") is None
    assert mismatch(np.array([True, False]), np.array([True, True])) is not None
    assert mismatch(1.0, None) == "expected 1, got None"


def test_a_judge_can_be_any_function() -> None:
    def judge(agent: object) -> str | None:
        return None if hasattr(agent, "select_action") else "the agent has no select_action"

    check = kc.Checker("agent", judge, fallback="reference agent")
    assert check.evaluate(object()).message.startswith("✗ agent: the agent has no select_action")
    assert check(object()) == "reference agent"


def _quiz() -> kc.Quiz:
    return kc.choice_check(
        "heads",
        "Why several attention heads?",
        ["fewer parameters", "each head can attend to a different relation", "it is causal"],
        "b",
        "each head has its own projections.",
    )


def test_a_quiz_accepts_the_right_option_and_explains(capsys: pytest.CaptureFixture[str]) -> None:
    quiz = _quiz()
    assert quiz("b") is True
    assert quiz(" B ") is True
    out = capsys.readouterr().out.splitlines()
    assert out == ["✓ heads: correct. each head has its own projections."] * 2
    assert quiz.answers == ["b", " B "]


def test_a_quiz_rejects_a_wrong_option_naming_the_answer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quiz = _quiz()
    assert quiz("a") is False
    line = capsys.readouterr().out.strip()
    assert line.startswith("✗ heads: not 'a' (fewer parameters); the answer is 'b'.")
    assert "own projections" in line


@pytest.mark.parametrize("bad", ["z", 3, ["b"], "bb"])
def test_a_quiz_never_raises_on_an_answer_that_is_no_option(
    bad: object, capsys: pytest.CaptureFixture[str]
) -> None:
    quiz = _quiz()
    assert quiz(bad) is False
    line = capsys.readouterr().out.strip()
    assert line.startswith("✗ heads:") and "is not one of the options 'a', 'b', 'c'" in line


def test_an_unanswered_quiz_is_not_attempted(capsys: pytest.CaptureFixture[str]) -> None:
    quiz = _quiz()
    assert quiz(None) is False
    assert "not attempted yet" in capsys.readouterr().out
    assert quiz.answers == []
    assert "(b) each head can attend" in quiz.describe()


def test_a_quiz_whose_answer_is_no_option_is_refused() -> None:
    with pytest.raises(ValueError, match="not one of the options"):
        kc.choice_check("q", "?", ["x", "y"], "c", "")
