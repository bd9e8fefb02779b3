from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import pytest

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from support import UpstreamError, fail, succeed

if TYPE_CHECKING:
    from conftest import FakeClock, Guard, HeldCall, RecordingListener

pytestmark = pytest.mark.anyio

Hold = Callable[..., Awaitable["HeldCall"]]

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN


async def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.fail_max - breaker.failure_count):
        with pytest.raises(UpstreamError):
            await breaker.call(fail)

    assert breaker.state is OPEN


async def assert_rejected(breaker: CircuitBreaker) -> None:
    with pytest.raises(CircuitOpenError):
        await breaker.call(succeed)


async def test_stale_failure_after_open(
    guard: Guard, clock: FakeClock, hold: Hold, recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, clock=clock, listeners=[recorder]
    )
    late_error = UpstreamError("late failure")

    async with anyio.create_task_group() as task_group:
        late = await hold(task_group, breaker, guard)
        await trip(breaker)
        clock.advance(1.0)
        await late.fail(late_error)

    assert late.raised is late_error
    assert breaker.state is OPEN
    assert recorder.transitions() == [(CLOSED, OPEN)]
    assert recorder.events[-1] == ("failure", late_error)
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(succeed)

    assert caught.value.retry_after == 2.0


async def test_stale_failure_during_trial(
    guard: Guard, clock: FakeClock, hold: Hold, recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, clock=clock, listeners=[recorder]
    )

    async with anyio.create_task_group() as task_group:
        late = await hold(task_group, breaker, guard)
        await trip(breaker)
        clock.advance(3.0)
        trial = await hold(task_group, breaker)
        await late.fail(UpstreamError("late failure"))
        state_after_late = breaker.state
        await assert_rejected(breaker)
        await trial.succeed()

    assert state_after_late is HALF_OPEN
    assert breaker.state is CLOSED
    assert recorder.transitions() == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]


async def test_stale_success_during_trial(
    guard: Guard, clock: FakeClock, hold: Hold, recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, clock=clock, listeners=[recorder]
    )

    async with anyio.create_task_group() as task_group:
        late = await hold(task_group, breaker, guard)
        await trip(breaker)
        clock.advance(3.0)
        trial = await hold(task_group, breaker)
        await late.succeed()
        state_after_late = breaker.state
        last_event = recorder.events[-1]
        await assert_rejected(breaker)
        await trial.succeed()

    assert late.result == "late"
    assert state_after_late is HALF_OPEN
    assert last_event == ("success",)
    assert breaker.state is CLOSED


@pytest.mark.parametrize("outcome", ["cancel", "excluded"])
async def test_stale_release_keeps_trial_permit(
    guard: Guard, clock: FakeClock, hold: Hold, outcome: str
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, exclude=(LookupError,), clock=clock
    )

    async with anyio.create_task_group() as task_group:
        late = await hold(task_group, breaker, guard)
        await trip(breaker)
        clock.advance(3.0)
        trial = await hold(task_group, breaker)
        if outcome == "cancel":
            await late.cancel()
        else:
            await late.fail(LookupError("missing"))

        await assert_rejected(breaker)
        await trial.succeed()

    assert breaker.state is CLOSED


async def test_stale_trial_keeps_new_permits(clock: FakeClock, hold: Hold) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, half_open_max_calls=2, clock=clock
    )
    await trip(breaker)
    clock.advance(3.0)

    async with anyio.create_task_group() as task_group:
        failing = await hold(task_group, breaker)
        old_trial = await hold(task_group, breaker)
        await failing.fail(UpstreamError("trial failed"))
        clock.advance(3.0)
        new_trials = [await hold(task_group, breaker) for _ in range(2)]
        await old_trial.cancel()
        await assert_rejected(breaker)
        for trial in new_trials:
            await trial.succeed()

    assert [trial.admitted for trial in new_trials] == [True, True]
    assert breaker.state is CLOSED


async def test_stale_failure_after_reclose(
    guard: Guard, clock: FakeClock, hold: Hold
) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)

    async with anyio.create_task_group() as task_group:
        late = await hold(task_group, breaker, guard)
        await trip(breaker)
        clock.advance(3.0)
        await breaker.call(succeed)
        await late.fail(UpstreamError("late failure"))

    assert breaker.state is CLOSED
    assert breaker.failure_count == 0


async def test_stale_success_after_reclose(
    guard: Guard, clock: FakeClock, hold: Hold
) -> None:
    breaker = CircuitBreaker(fail_max=2, reset_timeout=3.0, clock=clock)

    async with anyio.create_task_group() as task_group:
        late = await hold(task_group, breaker, guard)
        await trip(breaker)
        clock.advance(3.0)
        await breaker.call(succeed)
        with pytest.raises(UpstreamError):
            await breaker.call(fail)

        await late.succeed()

    assert breaker.failure_count == 1
    await trip(breaker)
