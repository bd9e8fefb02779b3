"""The settle-later methods that integrations use when a call outlives its await."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from support import UpstreamError

if TYPE_CHECKING:
    from conftest import FakeClock, RecordingListener

pytestmark = pytest.mark.anyio


async def open_then_wait(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(breaker.fail_max):
        generation = await breaker._acquire()
        await breaker._settle_failure(generation, UpstreamError("upstream failed"))

    clock.advance(breaker.reset_timeout)


async def test_settle_failure_opens(recorder: RecordingListener) -> None:
    breaker = CircuitBreaker(fail_max=2, listeners=[recorder])
    error = UpstreamError("upstream failed")

    for _ in range(2):
        generation = await breaker._acquire()
        await breaker._settle_failure(generation, error)

    assert breaker.state is CircuitState.OPEN
    assert recorder.events == [
        ("failure", error),
        ("state_change", CircuitState.CLOSED, CircuitState.OPEN),
        ("failure", error),
    ]


async def test_settle_failure_open_for(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    generation = await breaker._acquire()

    await breaker._settle_failure(generation, UpstreamError("busy"), open_for=10.0)

    with pytest.raises(CircuitOpenError) as caught:
        await breaker._acquire()

    assert caught.value.retry_after == 10.0


async def test_settle_failure_excluded(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, exclude=(LookupError,), clock=clock)
    generation = await breaker._acquire()

    await breaker._settle_failure(generation, KeyError("missing"))

    assert breaker.state is CircuitState.CLOSED


async def test_settle_success_closes(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)
    generation = await breaker._acquire()

    await breaker._settle_success(generation)

    assert breaker.state is CircuitState.CLOSED


async def test_settle_ignored_frees_permit(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)
    generation = await breaker._acquire()
    with pytest.raises(CircuitOpenError):
        await breaker._acquire()

    breaker._settle_ignored(generation)
    next_generation = await breaker._acquire()

    assert next_generation == generation
    assert breaker.state is CircuitState.HALF_OPEN
