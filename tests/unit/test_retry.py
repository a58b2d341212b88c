"""The one retry policy of the HTTP clients: jittered waits within their bounds, a bounded count, the deadline's
cut-off, the injected sleep and the ``Retries`` metric."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from kubecost_flexera.adapters import retry
from kubecost_flexera.adapters.deadline import Deadline
from kubecost_flexera.adapters.retry import FLEXERA_RETRY, KUBECOST_RETRY, Retrier, RetryPolicy, Transient

if TYPE_CHECKING:
    from collections.abc import Callable

    from kubecost_flexera.adapters.retry import Failed, GaveUp


class GivenUp(Exception):
    """What the tests' ``give_up`` raises, carrying what the retrier reported."""

    def __init__(self, ended: GaveUp) -> None:
        super().__init__(ended.failure)
        self.ended = ended


@dataclass
class FakeTime:
    """A clock that only the injected sleep moves."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def ignored(_failed: Failed) -> None:
    pass


def longest(_low: float, high: float) -> float:
    return high


def failing(times: int | None, result: str = "answer") -> tuple[list[int], Callable[[], str]]:
    """An attempt that is transient ``times`` times (None: always), then gives ``result``; and its call log."""
    calls: list[int] = []

    def attempt() -> str:
        calls.append(len(calls) + 1)
        if times is None or len(calls) <= times:
            raise Transient(f"HTTP 503 on attempt {len(calls)}")
        return result

    return calls, attempt


def test_waits_grow_to_their_ceiling_and_are_drawn_from_zero_to_it() -> None:
    # Given a policy, and the jitter replaced by its longest draw
    policy = RetryPolicy(attempts=6, base_delay_seconds=1.0, factor=2.0, max_delay_seconds=8.0)
    retrier = Retrier(policy, on_failure=ignored, uniform=longest)
    # Then the ceilings double up to the maximum
    assert [retrier.delay(attempt) for attempt in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    # And the real jitter draws each wait from [0, ceiling] (full jitter), not a fixed wait nor only its upper half
    jittered = Retrier(policy, on_failure=ignored, uniform=random.Random(7).uniform)
    draws = [jittered.delay(attempt) for attempt in (1, 2, 3, 4) for _ in range(200)]
    assert all(0.0 <= draw <= policy.ceiling(1 + index // 200) for index, draw in enumerate(draws))
    assert any(draw < policy.ceiling(1 + index // 200) / 2 for index, draw in enumerate(draws))
    assert len(set(draws)) == len(draws)


def test_each_client_has_its_count_and_ceilings_in_one_place() -> None:
    assert (KUBECOST_RETRY.attempts, [KUBECOST_RETRY.ceiling(n) for n in (1, 2, 3)]) == (4, [1.0, 3.0, 9.0])
    assert (FLEXERA_RETRY.attempts, [FLEXERA_RETRY.ceiling(n) for n in (1, 2)]) == (3, [1.0, 2.0])


def test_a_transient_outcome_is_retried_until_an_answer_with_the_injected_sleep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an attempt that fails twice, a sleep that only records, and no real sleep allowed
    monkeypatch.setattr(time, "sleep", lambda _seconds: pytest.fail("slept for real"))
    fake = FakeTime()
    calls, attempt = failing(times=2)
    retrier = Retrier(KUBECOST_RETRY, on_failure=ignored, sleep=fake.sleep, uniform=longest)
    # When it runs / Then the answer comes on the third attempt after the policy's two waits
    assert retrier.run(attempt, GivenUp) == "answer"
    assert (calls, fake.sleeps) == ([1, 2, 3], [1.0, 3.0])


def test_attempts_are_bounded_and_each_retry_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an attempt that always fails, and the Retries metric observed
    counted: list[None] = []
    monkeypatch.setattr(retry, "count_retry", lambda: counted.append(None))
    fake = FakeTime()
    calls, attempt = failing(times=None)
    failed: list[Failed] = []
    retrier = Retrier(KUBECOST_RETRY, on_failure=failed.append, sleep=fake.sleep)
    # When it runs
    with pytest.raises(GivenUp) as raised:
        retrier.run(attempt, GivenUp)
    # Then it made the policy's 4 attempts, waited 3 times, counted 3 retries and reports the last failure
    ended = raised.value.ended
    assert (len(calls), len(fake.sleeps), len(counted)) == (4, 3, 3)
    assert (ended.attempts, ended.out_of_time, ended.failure) == (4, False, "HTTP 503 on attempt 4")
    # And the client heard of every failed attempt, and whether another followed
    assert [(f.attempt, f.attempts, f.retrying) for f in failed] == [
        (1, 4, True),
        (2, 4, True),
        (3, 4, True),
        (4, 4, False),
    ]
    assert failed[0].failure == "HTTP 503 on attempt 1"
    # And a caller may allow fewer attempts than the policy
    calls, attempt = failing(times=None)
    with pytest.raises(GivenUp):
        retrier.run(attempt, GivenUp, attempts=1)
    assert len(calls) == 1


def test_no_retry_starts_whose_wait_and_a_minimal_attempt_do_not_fit_before_the_deadline() -> None:
    # Given 4.5 s left: the first wait (1 s) and a 1 s attempt fit, the second (3 s) then does not
    fake = FakeTime()
    deadline = Deadline.after(4.5, fake.clock)
    calls, attempt = failing(times=None)
    failed: list[Failed] = []
    retrier = Retrier(KUBECOST_RETRY, on_failure=failed.append, sleep=fake.sleep, deadline=deadline, uniform=longest)
    # When it runs (each attempt takes 0.5 s)

    def slow_attempt() -> str:
        fake.now += 0.5
        return attempt()

    with pytest.raises(GivenUp) as raised:
        retrier.run(slow_attempt, GivenUp)
    # Then it stopped after the second attempt without sleeping through a wait that could not end in time
    ended = raised.value.ended
    assert (len(calls), fake.sleeps) == (2, [1.0])
    assert (ended.attempts, ended.out_of_time, ended.remaining_seconds) == (2, True, 2.5)
    assert [f.retrying for f in failed] == [True, False]


def test_other_outcomes_end_the_loop_at_once() -> None:
    # Given an attempt that raises an error that is not transient
    fake = FakeTime()
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        raise ValueError("refused")

    # When it runs / Then the error passes unchanged, after one attempt and no wait
    with pytest.raises(ValueError, match="refused"):
        Retrier(KUBECOST_RETRY, on_failure=ignored, sleep=fake.sleep).run(attempt, GivenUp)
    assert (calls, fake.sleeps) == ([1], [])


def test_the_last_transient_error_of_its_own_is_what_the_caller_may_raise() -> None:
    # Given an attempt whose transient outcome carries the typed error to raise should it be the last
    original = LookupError("commit still in progress")

    def attempt() -> str:
        raise Transient("still in progress", original)

    # When every attempt gives it / Then give_up sees that error
    with pytest.raises(GivenUp) as raised:
        Retrier(FLEXERA_RETRY, on_failure=ignored, sleep=FakeTime().sleep).run(attempt, GivenUp)
    assert raised.value.ended.last.error is original
