"""The invocation's deadline as the domain sees it: a point on a monotonic clock, with no Lambda in it."""

from __future__ import annotations

from kubecost_flexera.adapters.deadline import MIN_ATTEMPT_SECONDS, NO_DEADLINE, Deadline


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_request_limit_never_extends_past_the_invocation_deadline() -> None:
    # Given 30 s left in the invocation
    clock = Clock()
    deadline = Deadline.after(30, clock)
    # Then a 5-minute request ends with the invocation, a 10-second one after 10 s
    assert deadline.within(300).at == 130.0
    assert deadline.within(10).at == 110.0


def test_a_wait_fits_only_with_room_for_an_attempt_after_it() -> None:
    # Given 10 s left
    clock = Clock()
    deadline = Deadline.after(10, clock)
    # Then a wait fits when it and a minimal attempt end before the deadline
    assert deadline.fits(10 - MIN_ATTEMPT_SECONDS)
    assert not deadline.fits(10 - MIN_ATTEMPT_SECONDS + 0.1)
    # And once the time is spent, nothing fits and nothing is left
    clock.now = 111.0
    assert (deadline.remaining(), deadline.expired(), deadline.fits(0)) == (0.0, True, False)


def test_no_deadline_never_expires() -> None:
    assert not NO_DEADLINE.expired()
    assert NO_DEADLINE.fits(10**9)
