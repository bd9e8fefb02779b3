from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from anybreaker import CircuitBreaker, CircuitState
from support import UpstreamError, fail, succeed

if TYPE_CHECKING:
    from conftest import FakeClock, Guard, RecordingListener

pytestmark = pytest.mark.anyio


async def fail_times(breaker: CircuitBreaker, guard: Guard, count: int) -> None:
    for _ in range(count):
        with pytest.raises(UpstreamError):
            await guard(breaker, fail)


async def test_closed_success_returns_result(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=2)

    assert await guard(breaker, succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0


async def test_closed_failure_counts(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=3)

    await fail_times(breaker, guard, 2)

    assert breaker.failure_count == 2
    assert breaker.state is CircuitState.CLOSED


async def test_closed_success_resets_count(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=3)
    await fail_times(breaker, guard, 2)

    await guard(breaker, succeed)

    assert breaker.failure_count == 0
    await fail_times(breaker, guard, 2)
    assert breaker.state is CircuitState.CLOSED


async def test_closed_opens_at_fail_max(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=3)

    await fail_times(breaker, guard, 3)

    assert breaker.state is CircuitState.OPEN


async def test_closed_tripping_call_raises_own_error(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1)
    error = UpstreamError("the tripping failure")

    async def fail_with_error() -> None:
        raise error

    with pytest.raises(UpstreamError) as caught:
        await guard(breaker, fail_with_error)

    assert caught.value is error
    assert breaker.state is CircuitState.OPEN


async def test_closed_trip_notifies_listeners(
    guard: Guard, recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(fail_max=2, listeners=[recorder])
    await fail_times(breaker, guard, 1)

    assert recorder.transitions() == []

    await fail_times(breaker, guard, 1)

    assert recorder.transitions() == [(CircuitState.CLOSED, CircuitState.OPEN)]


async def test_closed_excluded_keeps_count(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=2, exclude=(LookupError,))
    await fail_times(breaker, guard, 1)

    async def lookup() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        await guard(breaker, lookup)

    assert breaker.failure_count == 1
    await fail_times(breaker, guard, 1)
    assert breaker.state is CircuitState.OPEN


async def test_closed_path_never_reads_clock(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=3, clock=clock)

    for _ in range(5):
        await guard(breaker, succeed)

    await fail_times(breaker, guard, 2)
    await guard(breaker, succeed)

    assert clock.reads == 0


async def test_closed_after_reclose_needs_fail_max(
    guard: Guard, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(fail_max=2, reset_timeout=3.0, clock=clock)
    await fail_times(breaker, guard, 2)
    clock.advance(3.0)
    await guard(breaker, succeed)

    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0
    await fail_times(breaker, guard, 1)
    assert breaker.state is CircuitState.CLOSED
    await fail_times(breaker, guard, 1)
    assert breaker.state is CircuitState.OPEN
