"""The retry policy of the HTTP clients (Kubecost, Flexera): how many attempts, how long between them, and when the
invocation's deadline forbids another.

One mechanism serves both clients (tenacity runs the loop); what counts as transient stays each client's own: its
attempt raises :class:`Transient` for an answer or an error that a later attempt may not repeat, and any other
outcome (an answer, a typed error) ends the loop at once. A retry starts only when its wait and a minimal attempt
still fit before the deadline (``Deadline.fits``), so a slow server ends in the client's typed "unavailable" error
while the function still runs; each retry started counts in the ``Retries`` metric, and each failed attempt is
reported to the client's ``on_failure`` (which logs it in the client's words). ``sleep`` and ``uniform`` are
injected, so tests neither sleep nor depend on chance.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NoReturn, TypeVar

import tenacity

from kubecost_flexera.adapters.deadline import NO_DEADLINE
from kubecost_flexera.observability import count_retry

if TYPE_CHECKING:
    from collections.abc import Callable

    from kubecost_flexera.adapters.deadline import Deadline

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter: the wait after failed attempt ``n`` (1-based) is drawn uniformly
    from ``[0, min(max_delay_seconds, base_delay_seconds * factor ** (n - 1))]``, so that the days of one run that
    fail together (a restarting Kubecost, a Flexera 503) do not all retry at the same moment."""

    attempts: int
    base_delay_seconds: float = 1.0
    factor: float = 2.0
    max_delay_seconds: float = 8.0

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt ``attempt``."""
        return min(self.max_delay_seconds, self.base_delay_seconds * self.factor ** (attempt - 1))


# Kubecost: 4 attempts, waits of at most 1, 3 and 9 s: a restarting pod or a proxy's 504 gets 13 s in the worst case,
# then the state machine retries the day.
KUBECOST_RETRY: Final = RetryPolicy(attempts=4, base_delay_seconds=1.0, factor=3.0, max_delay_seconds=9.0)
# Flexera: 3 attempts, waits of at most 1 and 2 s; a longer outage is the state machine's to wait out.
FLEXERA_RETRY: Final = RetryPolicy(attempts=3, base_delay_seconds=1.0, factor=2.0, max_delay_seconds=8.0)


class Transient(Exception):
    """An attempt's outcome that a later attempt may improve. ``failure`` says what happened (logs, errors);
    ``error`` is the typed error to raise should it be the last one (else the client's ``give_up`` decides)."""

    def __init__(self, failure: str, error: Exception | None = None) -> None:
        super().__init__(failure)
        self.failure = failure
        self.error = error


@dataclass(frozen=True)
class GaveUp:
    """Why the retries ended: ``out_of_time`` when the next wait did not fit before the deadline, else every attempt
    failed. ``last`` is the last attempt's outcome."""

    last: Transient
    attempts: int
    out_of_time: bool
    remaining_seconds: float

    @property
    def failure(self) -> str:
        return self.last.failure


@dataclass(frozen=True)
class Failed:
    """One failed attempt, as ``on_failure`` is told of it: ``retrying`` when another attempt follows."""

    failure: str
    attempt: int
    attempts: int
    retrying: bool


class Retrier:
    """Runs attempts under one :class:`RetryPolicy`, one sleep and one deadline."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        on_failure: Callable[[Failed], None],
        sleep: Callable[[float], None] = time.sleep,
        deadline: Deadline = NO_DEADLINE,
        uniform: Callable[[float, float], float] | None = None,
    ) -> None:
        """``uniform`` draws the jitter (by default ``random.uniform``, looked up now: the local runner pins it)."""
        self.policy = policy
        self.deadline = deadline
        self._on_failure = on_failure
        self._sleep = sleep
        self._uniform = uniform or random.uniform

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based), jittered."""
        return self._uniform(0.0, self.policy.ceiling(attempt))

    def run(self, attempt: Callable[[], T], give_up: Callable[[GaveUp], Exception], attempts: int | None = None) -> T:
        """The first outcome of ``attempt`` that is not :class:`Transient`; ``give_up`` makes the error raised when
        the attempts are spent (at most ``attempts``, by default the policy's) or the next does not fit in time."""
        limit = attempts or self.policy.attempts

        def last_transient(state: tenacity.RetryCallState) -> Transient:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            if not isinstance(error, Transient):  # the retry predicate lets nothing else through
                raise TypeError(f"a retried outcome is not Transient: {error!r}")
            return error

        def stop(state: tenacity.RetryCallState) -> bool:
            return state.attempt_number >= limit or not self.deadline.fits(state.upcoming_sleep)

        def report(state: tenacity.RetryCallState, *, retrying: bool) -> Transient:
            last = last_transient(state)
            self._on_failure(Failed(last.failure, state.attempt_number, limit, retrying))
            return last

        def before_retry(state: tenacity.RetryCallState) -> None:
            report(state, retrying=True)
            count_retry()

        def raise_given_up(state: tenacity.RetryCallState) -> NoReturn:
            last = report(state, retrying=False)
            out_of_time = state.attempt_number < limit
            raise give_up(GaveUp(last, state.attempt_number, out_of_time, self.deadline.remaining()))

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(Transient),
            wait=lambda state: self.delay(state.attempt_number),
            stop=stop,
            sleep=self._sleep,
            before_sleep=before_retry,
            retry_error_callback=raise_given_up,
        )
        return retrying(attempt)
