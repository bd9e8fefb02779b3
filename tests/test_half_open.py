from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import pytest

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from support import UpstreamError, fail, open_then_wait, succeed

if TYPE_CHECKING:
    from conftest import AsyncRecordingListener, FakeClock, Guard, HeldCall

pytestmark = pytest.mark.anyio

Hold = Callable[..., Awaitable["HeldCall"]]


async def test_half_open_rejects_during_trial(
    guard: Guard, clock: FakeClock, hold: Hold
) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)
    runs = 0

    async def count_run() -> None:
        nonlocal runs
        runs += 1

    async with anyio.create_task_group() as task_group:
        trial = await hold(task_group, breaker)
        with pytest.raises(CircuitOpenError) as caught:
            await guard(breaker, count_run)

        await trial.succeed()

    assert trial.admitted
    assert runs == 0
    assert caught.value.state is CircuitState.HALF_OPEN
    assert caught.value.retry_after == 0.0


async def test_half_open_admits_one_of_1000(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)
    start = anyio.Event()
    release = anyio.Event()
    trials = 0
    rejections: list[CircuitOpenError] = []

    async def trial() -> str:
        nonlocal trials
        trials += 1
        await release.wait()
        return "ok"

    async def caller() -> None:
        await start.wait()
        try:
            await breaker.call(trial)
        except CircuitOpenError as error:
            rejections.append(error)

    async with anyio.create_task_group() as task_group:
        for _ in range(1000):
            task_group.start_soon(caller)

        await anyio.wait_all_tasks_blocked()
        start.set()
        await anyio.wait_all_tasks_blocked()
        trials_while_held = trials
        rejected_while_held = len(rejections)
        state_while_held = breaker.state
        release.set()

    assert trials_while_held == 1
    assert rejected_while_held == 999
    assert state_while_held is CircuitState.HALF_OPEN
    assert {error.state for error in rejections} == {CircuitState.HALF_OPEN}
    assert {error.retry_after for error in rejections} == {0.0}
    assert len({id(error) for error in rejections}) == 999
    assert breaker.state is CircuitState.CLOSED


async def test_half_open_admits_one_with_slow_listener(
    clock: FakeClock, async_recorder: AsyncRecordingListener, hold: Hold
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, clock=clock, listeners=[async_recorder]
    )
    await open_then_wait(breaker, clock)

    async with anyio.create_task_group() as task_group:
        callers = [await hold(task_group, breaker, wait=False) for _ in range(50)]
        await anyio.wait_all_tasks_blocked()
        admitted = [call for call in callers if call.admitted]
        for call in admitted:
            await call.succeed()

    assert len(admitted) == 1
    assert sum(isinstance(call.raised, CircuitOpenError) for call in callers) == 49
    assert breaker.state is CircuitState.CLOSED


async def test_half_open_max_calls_admits_three(clock: FakeClock, hold: Hold) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, half_open_max_calls=3, clock=clock
    )
    await open_then_wait(breaker, clock)

    async with anyio.create_task_group() as task_group:
        trials = [await hold(task_group, breaker) for _ in range(3)]
        with pytest.raises(CircuitOpenError) as caught:
            await breaker.call(succeed)

        for trial in trials:
            await trial.succeed()

    assert [trial.admitted for trial in trials] == [True, True, True]
    assert caught.value.state is CircuitState.HALF_OPEN
    assert breaker.state is CircuitState.CLOSED


async def test_half_open_success_frees_permit(clock: FakeClock, hold: Hold) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, success_threshold=2, clock=clock
    )
    await open_then_wait(breaker, clock)

    async with anyio.create_task_group() as task_group:
        first = await hold(task_group, breaker)
        await first.succeed()
        second = await hold(task_group, breaker)
        await second.succeed()

    assert second.admitted
    assert breaker.state is CircuitState.CLOSED


async def test_half_open_success_threshold(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, success_threshold=3, clock=clock
    )
    await open_then_wait(breaker, clock)

    states = []
    for _ in range(3):
        await guard(breaker, succeed)
        states.append(breaker.state)

    assert states == [
        CircuitState.HALF_OPEN,
        CircuitState.HALF_OPEN,
        CircuitState.CLOSED,
    ]


async def test_half_open_failure_reopens(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=2, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)
    clock.advance(5.0)

    with pytest.raises(UpstreamError):
        await guard(breaker, fail)

    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as caught:
        await guard(breaker, succeed)

    assert caught.value.retry_after == 3.0


async def test_half_open_failure_after_successes(
    guard: Guard, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, success_threshold=3, clock=clock
    )
    await open_then_wait(breaker, clock)
    await guard(breaker, succeed)
    await guard(breaker, succeed)

    with pytest.raises(UpstreamError):
        await guard(breaker, fail)

    assert breaker.state is CircuitState.OPEN
    clock.advance(3.0)
    await guard(breaker, succeed)
    assert breaker.state is CircuitState.HALF_OPEN


async def test_half_open_reopen_voids_other_trials(
    clock: FakeClock, hold: Hold
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, half_open_max_calls=2, clock=clock
    )
    await open_then_wait(breaker, clock)

    async with anyio.create_task_group() as task_group:
        failing = await hold(task_group, breaker)
        succeeding = await hold(task_group, breaker)
        await failing.fail(UpstreamError("trial failed"))
        await succeeding.succeed()

    assert succeeding.result == "late"
    assert breaker.state is CircuitState.OPEN


async def test_half_open_close_resets_count(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=2, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)

    await guard(breaker, succeed)

    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0
