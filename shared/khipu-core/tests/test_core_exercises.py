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


# --- hostile answers (issue 20, item 4): one ✗ line, the reference back, Run all goes on ---


def _one_failed_line(checker: object, answer: object, capsys: pytest.CaptureFixture[str]) -> str:
    fallback = checker.fallback  # type: ignore[attr-defined]
    assert checker(answer) is fallback  # type: ignore[operator]
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("✗ "), out
    return out


def loops_forever(rewards: np.ndarray, gamma: float) -> np.ndarray:
    while True:
        pass


def sleeps_forever(rewards: np.ndarray, gamma: float) -> np.ndarray:
    import time

    time.sleep(3600)
    return rewards


def exits(rewards: np.ndarray, gamma: float) -> np.ndarray:
    raise SystemExit(3)


def raises_inside(rewards: np.ndarray, gamma: float) -> np.ndarray:
    return np.zeros(len(rewards)) / np.array([])  # a broadcasting error


def returns_none(rewards: np.ndarray, gamma: float) -> None:
    reference_rtg(rewards, gamma)  # forgot the return


def returns_nan(rewards: np.ndarray, gamma: float) -> np.ndarray:
    out = reference_rtg(rewards, gamma)
    out[-1:] = np.nan
    return out


def returns_strings(rewards: np.ndarray, gamma: float) -> np.ndarray:
    return reference_rtg(rewards, gamma).astype(str)


def returns_complex(rewards: np.ndarray, gamma: float) -> np.ndarray:
    return reference_rtg(rewards, gamma) + 1j


def returns_wrong_shape(rewards: np.ndarray, gamma: float) -> np.ndarray:
    return reference_rtg(rewards, gamma)[:, None]


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (raises_inside, "raised ValueError"),
        (exits, "raised SystemExit"),
        (returns_none, "returned None"),
        (returns_nan, "got nan at index (2,)"),
        (returns_strings, "expected numbers"),
        (returns_complex, "complex"),
        (returns_wrong_shape, "expected shape (3,), got shape (3, 1)"),
        (loops_forever, "did not return within the check's time limit"),
        (sleeps_forever, "did not return within the check's time limit"),
    ],
)
def test_function_check_names_what_a_hostile_answer_did(
    answer: object, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    checker = kc.function_check(
        "rewards_to_go",
        reference_rtg,
        [kc.Case("three rewards", (np.ones(3), 0.5))],
        time_limit=0.5,
    )
    out = _one_failed_line(checker, answer, capsys)
    assert words in out and "on three rewards" in out


def test_the_time_limit_works_off_the_main_thread_too(capsys: pytest.CaptureFixture[str]) -> None:
    """A checker called from another thread (no SIGALRM there) still stops an endless
    loop, in the helper thread the student's code runs in."""
    import threading

    checker = kc.function_check(
        "rewards_to_go", reference_rtg, [kc.Case("one", (np.ones(1), 0.5))], time_limit=0.3
    )
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(checker.evaluate(loops_forever)))
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert results[0].status == "failed"  # type: ignore[attr-defined]
    assert "time limit" in results[0].message  # type: ignore[attr-defined]
    assert checker.evaluate(reference_rtg).passed  # a right answer still passes afterwards


def test_the_time_limit_counts_only_the_students_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slow reference (a JAX compile, say) does not eat the student's time; the limit
    comes from the checker, else from KHIPU_CHECK_TIME_LIMIT, else the default."""
    import time

    def slow_reference(x: float) -> float:
        end = time.process_time() + 0.4  # computes (CPU time), as a compile would
        while time.process_time() < end:
            pass
        return x

    checker = kc.function_check(
        "identity", slow_reference, [kc.Case("a", (1.0,)), kc.Case("b", (2.0,))], time_limit=0.3
    )
    assert checker.evaluate(lambda x: x).passed
    assert checker.seconds() == 0.3
    monkeypatch.setenv("KHIPU_CHECK_TIME_LIMIT", "2.5")
    assert kc.value_check("v", 1.0).seconds() == 2.5
    monkeypatch.setenv("KHIPU_CHECK_TIME_LIMIT", "0")
    assert kc.value_check("v", 1.0).seconds() is None
    monkeypatch.delenv("KHIPU_CHECK_TIME_LIMIT")
    from khipu.core.exercises import DEFAULT_TIME_LIMIT

    assert kc.value_check("v", 1.0).seconds() == DEFAULT_TIME_LIMIT


class HostileArray:
    """An answer whose conversion to an array raises."""

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        raise RuntimeError("no array for you")


class EndlessArray:
    """An answer whose conversion to an array never finishes."""

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        while True:
            pass


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (np.array([1.0, np.nan]), "got nan at index (1,)"),
        (np.array([1.0, np.inf]), "got inf"),
        (np.array(["1", "2"]), "expected numbers"),
        (np.array([1.0, 2.0, 3.0]), "expected shape (2,), got shape (3,)"),
        (HostileArray(), "expected an array, got HostileArray"),
        (EndlessArray(), "did not finish within 0.3 s"),
    ],
)
def test_value_check_names_what_a_hostile_value_is(
    answer: object, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    checker = kc.value_check("returns", np.array([1.0, 2.0]), time_limit=0.3)
    assert words in _one_failed_line(checker, answer, capsys)


def test_a_custom_checker_stops_a_student_function_that_never_returns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def judge(agent: object) -> str | None:
        action = agent(0)  # type: ignore[operator]
        return None if action == 1 else f"expected action 1, got {action}"

    checker = kc.Checker("agent", judge, fallback=lambda obs: 1, time_limit=0.3)
    assert "did not finish within 0.3 s" in _one_failed_line(
        checker, lambda obs: loops_forever(obs, 0), capsys
    )
    assert "raised ZeroDivisionError" in _one_failed_line(checker, lambda obs: 1 / 0, capsys)
    assert "expected action 1, got nan" in _one_failed_line(
        checker, lambda obs: float("nan"), capsys
    )
    assert checker.evaluate(lambda obs: 1).passed


class SlyString(str):
    """A string whose own methods raise."""

    def strip(self, chars: object = None) -> str:
        raise RuntimeError("sly")

    def lower(self) -> str:
        raise RuntimeError("sly")


@pytest.mark.parametrize("answer", [float("nan"), reference_rtg, ["a"], 1, SlyString("z")])
def test_a_quiz_names_a_hostile_answer_and_goes_on(
    answer: object, capsys: pytest.CaptureFixture[str]
) -> None:
    quiz = kc.choice_check("q", "Which?", ["one", "two"], "b", "because")
    assert quiz(answer) is False
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("✗ q:") and "not one of the options" in out
    assert quiz(SlyString("B")) is True  # str's own methods read the student's text
