"""Exercise checkers for the practicals' notebooks.

An exercise in a notebook is a statement, a stub the student fills in, a check
cell and a hidden solution. A practical declares one :class:`Checker` per
exercise, next to its reference implementation::

    check_rewards_to_go = function_check(
        "rewards_to_go",
        reference=rewards_to_go,
        cases=lambda: [Case("the practical's episode", ([1.0, 1.0, 1.0], 0.9)), ...],
        hint="sum the discounted rewards from each step to the end",
    )

and the notebook's check cell reads ``rewards_to_go = check_rewards_to_go(rewards_to_go)``:
it prints one line (``✓``, ``✗`` with the failing input, expected vs got and the
hint, or ``not attempted yet``) and returns the student's function when it
passed, else the reference, so that "Run all" always reaches the end.

A stub is *not attempted* when it is ``...`` / ``None`` or raises
:class:`NotImplementedError` (the stub's ``raise NotImplementedError`` under
``# YOUR CODE HERE``).

Hostile answers never stop the notebook: a student function that raises (even
``SystemExit``), returns ``None``, NaN, the wrong shape or a non-numeric dtype gets one
``✗`` line saying so, and one that never returns is stopped after a time limit per
check (:data:`DEFAULT_TIME_LIMIT` seconds of the student's own code, the reference's
time not counted; ``KHIPU_CHECK_TIME_LIMIT`` or a checker's ``time_limit`` change it,
``0`` turns it off). The limit is CPU time (a loaded machine does not fail a right
answer), with :data:`WALL_FACTOR` times as much wall-clock time for code that only
waits. In the main thread (a Jupyter kernel runs cells there) it is a pair of interval
timers (``SIGPROF``, ``SIGALRM``) that interrupt the student's Python code; elsewhere the
student's code runs in a helper thread that is abandoned, and interrupted, on timeout.
"""

from __future__ import annotations

import contextvars
import ctypes
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np

Status = Literal["passed", "failed", "not_attempted"]
PASS_MARK = "✓"
FAIL_MARK = "✗"
NOT_ATTEMPTED = "not attempted yet"
DEFAULT_TIME_LIMIT = 10.0  # seconds of the student's code per check
TIME_LIMIT_ENV = "KHIPU_CHECK_TIME_LIMIT"
R = TypeVar("R")


class TimeLimitExceeded(BaseException):
    """The student's code ran past the check's time limit (a ``BaseException`` so that a
    student's ``except Exception`` does not swallow it)."""


def default_time_limit() -> float | None:
    """Seconds per check: ``$KHIPU_CHECK_TIME_LIMIT`` if set (``0``: no limit), else
    :data:`DEFAULT_TIME_LIMIT`."""
    text = os.environ.get(TIME_LIMIT_ENV, "").strip()
    if not text:
        return DEFAULT_TIME_LIMIT
    try:
        value = float(text)
    except ValueError:
        return DEFAULT_TIME_LIMIT
    return value if value > 0 else None


class _Budget:
    """The time the student's code may still use in the current check."""

    def __init__(self, seconds: float | None) -> None:
        self.left = seconds


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "khipu_check_budget", default=None
)


def call_with_time_limit(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """``fn(*args, **kwargs)`` within the current check's remaining time.

    Time is the process's CPU time, so a busy machine does not fail a right answer; a
    call that waits without computing is stopped after :data:`WALL_FACTOR` times the
    limit of wall-clock time.

    Raises:
      TimeLimitExceeded: the time ran out (the call is interrupted where possible).
    """
    budget = _BUDGET.get()
    if budget is None or budget.left is None:
        return fn(*args, **kwargs)
    if budget.left <= 0:
        raise TimeLimitExceeded
    start = time.process_time()
    try:
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            return _with_alarm(fn, args, kwargs, budget.left)
        return _in_thread(fn, args, kwargs, budget.left)
    finally:
        budget.left -= time.process_time() - start


WALL_FACTOR = 10.0  # wall-clock seconds per second of the limit, for code that only waits


def _with_alarm(fn: Callable[..., R], args: Any, kwargs: Any, seconds: float) -> R:
    def on_timer(signum: int, frame: Any) -> None:
        raise TimeLimitExceeded

    start = time.perf_counter()
    previous = {sig: signal.signal(sig, on_timer) for sig in (signal.SIGPROF, signal.SIGALRM)}
    outer_cpu, _ = signal.setitimer(signal.ITIMER_PROF, seconds)
    outer_wall, _ = signal.setitimer(signal.ITIMER_REAL, seconds * WALL_FACTOR)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        spent = time.perf_counter() - start
        if outer_wall > 0:  # someone else's timer (pytest-timeout...) keeps running
            signal.setitimer(signal.ITIMER_REAL, max(outer_wall - spent, 1e-3))
        if outer_cpu > 0:
            signal.setitimer(signal.ITIMER_PROF, outer_cpu)


def _in_thread(fn: Callable[..., R], args: Any, kwargs: Any, seconds: float) -> R:
    outcome: dict[str, Any] = {}
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome["value"] = context.run(fn, *args, **kwargs)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="khipu-check", daemon=True)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    worker.start()
    while worker.is_alive():
        worker.join(0.02)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if worker.is_alive() and (cpu > seconds or wall > seconds * WALL_FACTOR):
            # interrupt its Python code; code stuck in C keeps running, abandoned
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(worker.ident or 0), ctypes.py_object(TimeLimitExceeded)
            )
            raise TimeLimitExceeded
    if "error" in outcome:
        raise outcome["error"]
    value: R = outcome["value"]
    return value


class Case(NamedTuple):
    """One input of a function exercise.

    Attributes:
      label: what the input is, shown when it fails ("empty episode", ...).
      args: positional arguments.
      kwargs: keyword arguments.
    """

    label: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = {}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The verdict on one answer.

    Attributes:
      name: the exercise.
      status: ``"passed"``, ``"failed"`` or ``"not_attempted"``.
      message: the one line printed in the notebook.
    """

    name: str
    status: Status
    message: str

    @property
    def passed(self) -> bool:
        """Whether the answer was right."""
        return self.status == "passed"


class NotAttempted(Exception):
    """Raised by a judge when the answer is still the stub."""


Judge = Callable[[Any], "str | None"]


@dataclasses.dataclass(frozen=True)
class Checker:
    """A named exercise check.

    Attributes:
      name: the exercise, as the student knows it (usually the function's name).
      judge: ``judge(answer) -> None`` when right, else the failure description;
        raises :class:`NotAttempted` or :class:`NotImplementedError` for a stub.
        A judge that calls the student's code through :func:`call_with_time_limit`
        (as :func:`function_check`'s does) sets ``judge.times_the_student = True``;
        any other judge runs whole under the time limit.
      fallback: what the notebook uses instead of a wrong or missing answer
        (the reference function or value).
      hint: appended to a failure message.
      time_limit: seconds the student's code may run in one check (``None``: the
        :func:`default_time_limit`; ``0``: none).
    """

    name: str
    judge: Judge
    fallback: Any
    hint: str = ""
    time_limit: float | None = None

    def seconds(self) -> float | None:
        """The time limit of one check (``None``: unlimited)."""
        if self.time_limit is None:
            return default_time_limit()
        return self.time_limit if self.time_limit > 0 else None

    def evaluate(self, answer: Any) -> CheckResult:
        """Judges ``answer`` without printing; never raises (but for Ctrl-C)."""
        if is_stub(answer):
            return CheckResult(self.name, "not_attempted", self._line("not_attempted"))
        limit = self.seconds()
        token = _BUDGET.set(_Budget(limit))
        try:
            if getattr(self.judge, "times_the_student", False):
                failure = self.judge(answer)
            else:
                failure = call_with_time_limit(self.judge, answer)
        except (NotAttempted, NotImplementedError):
            return CheckResult(self.name, "not_attempted", self._line("not_attempted"))
        except TimeLimitExceeded:
            failure = f"did not finish within {limit:g} s (an endless loop?)"
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # the student's code may raise anything, even SystemExit
            failure = f"raised {type(exc).__name__}: {_short(_safe_str(exc))}"
        finally:
            _BUDGET.reset(token)
        failure = _as_failure(failure)
        if failure is None:
            return CheckResult(self.name, "passed", self._line("passed"))
        return CheckResult(self.name, "failed", self._line("failed", failure))

    def __call__(self, answer: Any) -> Any:
        """Prints the verdict's line; returns ``answer`` if it passed, else the fallback."""
        result = self.evaluate(answer)
        print(result.message)
        return answer if result.passed else self.fallback

    def _line(self, status: Status, failure: str = "") -> str:
        if status == "passed":
            return f"{PASS_MARK} {self.name}: correct"
        if status == "not_attempted":
            return f"… {self.name}: {NOT_ATTEMPTED} (the reference is used below)"
        hint = f" Hint: {self.hint}" if self.hint else ""
        return f"{FAIL_MARK} {self.name}: {failure}.{hint} (the reference is used below)"


def _as_failure(value: object) -> str | None:
    """A judge's verdict as ``None`` or a string (a sloppy judge's other value described)."""
    return (
        value
        if value is None or isinstance(value, str)
        else f"the check returned {describe(value)}"
    )


def is_stub(answer: Any) -> bool:
    """Whether ``answer`` is an untouched stub (``...`` or ``None``)."""
    return answer is Ellipsis or answer is None


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{type(value).__name__}>"


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(value: Any, limit: int = 120) -> str:
    """A short one-line rendering of a value (arrays rounded, long ones cut); never raises."""
    try:
        return _describe(value, limit)
    except Exception:
        return f"<{type(value).__name__}>"


def _describe(value: Any, limit: int) -> str:
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        try:
            arr = np.asarray(value)
        except Exception:
            return _short(repr(value), limit)
        if arr.dtype.kind in "fc":
            text = np.array2string(arr, precision=4, separator=", ", threshold=12)
        else:
            text = np.array2string(arr, separator=", ", threshold=12)
        return _short(text, limit)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        return _short("(" + ", ".join(describe(v, limit) for v in value) + ")", limit)
    if isinstance(value, list) and len(value) <= 12:
        return _short("[" + ", ".join(describe(v, limit) for v in value) + "]", limit)
    return _short(repr(value), limit)


def _is_numeric(x: Any) -> bool:
    if isinstance(x, (bool, str, bytes)) or x is None:
        return False
    if isinstance(x, (int, float, complex, np.number)):
        return True
    return hasattr(x, "__array__") or isinstance(x, np.ndarray)


def mismatch(expected: Any, got: Any, *, rtol: float = 1e-5, atol: float = 1e-6) -> str | None:
    """``None`` when ``got`` equals ``expected``, else why not.

    Numbers and arrays are compared with a tolerance, shape included (a scalar
    and a 0-d array are the same); tuples, lists and dicts element by element;
    anything else with ``==``.
    """
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            return f"expected a dict, got {type(got).__name__}"
        if set(expected) != set(got):
            return f"expected keys {sorted(map(str, expected))}, got {sorted(map(str, got))}"
        for key in expected:
            if (why := mismatch(expected[key], got[key], rtol=rtol, atol=atol)) is not None:
                return f"[{key!r}]: {why}"
        return None
    if isinstance(expected, (tuple, list)) and not _is_numeric_sequence(expected):
        if not expected and _is_numeric(got):
            size = np.size(got)
            return None if size == 0 else f"expected an empty result, got {describe(got)}"
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected {len(expected)} values, got {describe(got)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            if (why := mismatch(e, g, rtol=rtol, atol=atol)) is not None:
                return f"item {i}: {why}"
        return None
    if _is_numeric(expected) or _is_numeric_sequence(expected):
        if got is None or isinstance(got, (str, bytes)):
            return f"expected {describe(expected)}, got {describe(got)}"
        try:
            e = np.asarray(expected)
            g = np.asarray(got)
        except Exception:
            return f"expected an array, got {type(got).__name__}"
        if e.shape != g.shape:
            return f"expected shape {e.shape}, got shape {g.shape} ({describe(got)})"
        if (why := _dtype_mismatch(e, g)) is not None:
            return why
        if e.dtype == bool or g.dtype == bool:
            same = bool(np.array_equal(e, g))
        else:
            try:
                same = bool(np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True))
            except TypeError:
                same = bool(np.array_equal(e, g))
        return None if same else f"expected {describe(e)}, got {describe(g)}"
    return None if expected == got else f"expected {describe(expected)}, got {describe(got)}"


def _dtype_mismatch(e: np.ndarray, g: np.ndarray) -> str | None:
    """Why ``g``'s values cannot be ``e``'s: non-numbers, complex for real, NaN or inf
    where the expected values are finite (``None``: comparable)."""
    if g.dtype.kind not in "biufc":
        return f"expected numbers (dtype {e.dtype}), got dtype {g.dtype} ({describe(g)})"
    if g.dtype.kind == "c" and e.dtype.kind != "c" and np.any(np.imag(g) != 0):
        return f"expected real numbers (dtype {e.dtype}), got complex dtype {g.dtype}"
    if g.dtype.kind in "fc" and e.dtype.kind in "biufc":
        bad = ~np.isfinite(g) & np.isfinite(e)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            at = f" at index {where}" if where else ""
            return (
                f"got {describe(g[bad].flat[0])}{at} where {describe(e[bad].flat[0])} was expected"
            )
    return None


def _is_numeric_sequence(x: Any) -> bool:
    """A non-empty list / tuple that NumPy reads as one rectangular number array."""
    if not isinstance(x, (list, tuple)) or not x:
        return False
    try:
        return np.asarray(x).dtype.kind in "biufc"
    except (ValueError, TypeError):
        return False


def _call_text(case: Case) -> str:
    parts = [describe(a, 60) for a in case.args]
    parts += [f"{k}={describe(v, 60)}" for k, v in case.kwargs.items()]
    return f"{case.label} ({', '.join(parts)})" if parts else case.label


def function_check(
    name: str,
    reference: Callable[..., Any],
    cases: Sequence[Case] | Callable[[], Iterable[Case]],
    *,
    hint: str = "",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    compare: Callable[[Any, Any], str | None] | None = None,
    time_limit: float | None = None,
) -> Checker:
    """A checker that runs the student's function against ``reference`` on ``cases``.

    Args:
      name: the exercise (the function the student writes).
      reference: the package's implementation.
      cases: the inputs (the practical's example, seeded random inputs, edge
        cases), or a function returning them (called at each check, so it may
        build arrays lazily).
      hint: shown after a failure.
      rtol: relative tolerance for floats.
      atol: absolute tolerance for floats.
      compare: ``compare(expected, got) -> None | reason`` replacing
        :func:`mismatch` (e.g. to accept any valid sample).
      time_limit: seconds the student's function may run over all cases of one check
        (``None``: :func:`default_time_limit`; ``0``: no limit).

    Returns:
      A :class:`Checker` whose fallback is ``reference``.
    """

    def judge(student: Any) -> str | None:
        if not callable(student):
            return f"expected a function, got {describe(student)}"
        for case in cases() if callable(cases) else cases:
            expected = reference(*case.args, **case.kwargs)  # not timed: the reference's cost
            try:
                got = call_with_time_limit(student, *case.args, **case.kwargs)
            except (NotImplementedError, NotAttempted, KeyboardInterrupt):
                raise
            except TimeLimitExceeded:
                return (
                    f"on {_call_text(case)} it did not return within the check's time limit "
                    "(an endless loop?)"
                )
            except BaseException as exc:  # anything, SystemExit included
                text = _short(_safe_str(exc))
                return f"on {_call_text(case)} it raised {type(exc).__name__}: {text}"
            if got is Ellipsis:
                raise NotAttempted
            if got is None and expected is not None:
                return f"on {_call_text(case)} it returned None (is a `return` missing?)"
            why = (
                compare(expected, got)
                if compare is not None
                else mismatch(expected, got, rtol=rtol, atol=atol)
            )
            if why is not None:
                return f"on {_call_text(case)}: {why}"
        return None

    judge.times_the_student = True  # type: ignore[attr-defined]
    return Checker(name, judge, reference, hint, time_limit)


def value_check(
    name: str,
    expected: Any,
    *,
    hint: str = "",
    rtol: float = 1e-5,
    atol: float = 1e-6,
    time_limit: float | None = None,
) -> Checker:
    """A checker for an answer that is a value (a number, an array, a shape...).

    ``time_limit`` bounds the comparison (an object whose ``__array__`` never returns).
    """

    def judge(answer: Any) -> str | None:
        return mismatch(expected, answer, rtol=rtol, atol=atol)

    return Checker(name, judge, expected, hint, time_limit)


@dataclasses.dataclass
class Quiz:
    """A multiple-choice question checked in the notebook.

    The quiz cell reads ``quiz_heads(None)`` until the student replaces ``None`` by
    an option's key; calling it prints one line (``✓``/``✗`` with the explanation,
    or ``not attempted yet``), records the answer in :attr:`answers` and returns
    whether it was right. It never raises, so "Run all" goes on.

    Attributes:
      name: the quiz, as the notebook names it.
      question: the question (shown by :meth:`describe`).
      options: option key (``"a"``, ``"b"``...) -> option text.
      answer: the key of the right option.
      explanation: why it is right, printed after any answer.
      answers: every answer given so far, in order.
    """

    name: str
    question: str
    options: Mapping[str, str]
    answer: str
    explanation: str
    answers: list[Any] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.answer not in self.options:
            raise ValueError(f"{self.name}: answer {self.answer!r} is not one of the options")

    def evaluate(self, choice: Any) -> CheckResult:
        """Judges ``choice`` without printing or recording it."""
        if is_stub(choice):
            return CheckResult(
                self.name, "not_attempted", f"… {self.name}: {NOT_ATTEMPTED} (pick one option)"
            )
        # str's own methods: a str subclass cannot run code of its own here
        key = str(str.lower(str.strip(choice))) if isinstance(choice, str) else None
        if key not in self.options:
            keys = ", ".join(map(repr, self.options))
            return CheckResult(
                self.name,
                "failed",
                f"{FAIL_MARK} {self.name}: {describe(choice)} is not one of the options {keys}",
            )
        if key == self.answer:
            return CheckResult(
                self.name, "passed", f"{PASS_MARK} {self.name}: correct. {self.explanation}"
            )
        return CheckResult(
            self.name,
            "failed",
            f"{FAIL_MARK} {self.name}: not {key!r} ({_short(self.options[str(key)], 80)}); "
            f"the answer is {self.answer!r}. {self.explanation}",
        )

    def __call__(self, choice: Any) -> bool:
        """Prints the verdict, records ``choice``; ``True`` when it was right."""
        result = self.evaluate(choice)
        if not is_stub(choice):
            self.answers.append(choice)
        print(result.message)
        return result.passed

    def describe(self) -> str:
        """The question and its options, one per line."""
        lines = [self.question, *(f"  ({k}) {v}" for k, v in self.options.items())]
        return "\n".join(lines)


def choice_check(
    name: str,
    question: str,
    options: Mapping[str, str] | Sequence[str],
    answer: str,
    explanation: str,
) -> Quiz:
    """A multiple-choice quiz: ``options`` as a mapping, or a list keyed ``a``, ``b``...

    Example:
      >>> quiz = choice_check("heads", "Why several heads?", ["speed", "several relations"],
      ...                     "b", "each head can attend to a different relation")
      >>> quiz("b")
      ✓ heads: correct. each head can attend to a different relation
      True
    """
    if not isinstance(options, Mapping):
        options = {chr(ord("a") + i): text for i, text in enumerate(options)}
    return Quiz(name, question, dict(options), answer, explanation)
