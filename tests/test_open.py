from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from support import UpstreamError, fail

if TYPE_CHECKING:
    from conftest import FakeClock, Guard, RecordingListener

pytestmark = pytest.mark.anyio


def return_state_of(breaker: CircuitBreaker) -> object:
    async def return_state() -> CircuitState:
        return breaker.state

    return return_state


async def open_breaker(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.fail_max):
        with pytest.raises(UpstreamError):
            await breaker.call(fail)

    assert breaker.state is CircuitState.OPEN


async def test_open_rejects_without_running(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_breaker(breaker)
    runs = 0

    async def count_run() -> None:
        nonlocal runs
        runs += 1

    with pytest.raises(CircuitOpenError) as caught:
        await guard(breaker, count_run)

    assert runs == 0
    assert caught.value.state is CircuitState.OPEN
    assert breaker.state is CircuitState.OPEN


async def test_open_rejection_keeps_deadline(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_breaker(breaker)
    clock.advance(1.0)

    with pytest.raises(CircuitOpenError):
        await guard(breaker, fail)

    clock.advance(2.0)

    assert await guard(breaker, return_state_of(breaker)) is CircuitState.HALF_OPEN


async def test_open_retry_after_counts_down(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_breaker(breaker)

    for elapsed, expected in [(0.0, 3.0), (1.0, 2.0), (1.5, 0.5), (0.25, 0.25)]:
        clock.advance(elapsed)
        with pytest.raises(CircuitOpenError) as caught:
            await breaker.call(fail)

        assert caught.value.retry_after == pytest.approx(expected)


async def test_open_rejects_just_before_timeout(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_breaker(breaker)
    clock.advance(2.999)

    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(fail)

    assert caught.value.retry_after == pytest.approx(0.001)
    assert caught.value.retry_after > 0.0


async def test_open_state_waits_for_a_call(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_breaker(breaker)

    clock.advance(10.0)

    assert breaker.state is CircuitState.OPEN


async def test_open_timeout_admits_trial(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_breaker(breaker)
    clock.advance(3.0)

    state_during_call = await guard(breaker, return_state_of(breaker))

    assert state_during_call is CircuitState.HALF_OPEN
    assert breaker.state is CircuitState.CLOSED


async def test_open_timeout_transitions_in_order(
    clock: FakeClock, recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, clock=clock, listeners=[recorder]
    )
    await open_breaker(breaker)
    clock.advance(3.0)

    await breaker.call(return_state_of(breaker))

    assert recorder.transitions() == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]
