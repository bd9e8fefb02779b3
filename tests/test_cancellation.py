from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import pytest

from anybreaker import (
    CircuitBreaker,
    CircuitBreakerListener,
    CircuitOpenError,
    CircuitState,
)
from support import UpstreamError, fail, open_then_wait, succeed

if TYPE_CHECKING:
    from conftest import FakeClock, Guard, HeldCall, RecordingListener

Hold = Callable[..., Awaitable["HeldCall"]]


class BlockingListener(CircuitBreakerListener):
    """Blocks in the one event it is built for until the test cancels it."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.entered = anyio.Event()

    async def wait_until_blocked(self) -> None:
        # A real-time limit, so that a breaker that never awaits the listener
        # fails the test instead of hanging it.
        with anyio.fail_after(5):
            await self.entered.wait()

    async def _block(self, event: str) -> None:
        if event == self.event:
            self.entered.set()
            await anyio.sleep_forever()

    async def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> None:
        await self._block(f"state_change:{new}")

    async def failure(self, breaker: CircuitBreaker, exc: BaseException) -> None:
        await self._block("failure")

    async def success(self, breaker: CircuitBreaker) -> None:
        await self._block("success")


# -- anyio cancel scopes, on asyncio and trio -------------------------------------


@pytest.mark.anyio
async def test_cancel_reraises_same_exception(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1)
    raised_inside: list[BaseException] = []
    raised_outside: list[BaseException] = []

    async def hang() -> None:
        try:
            await anyio.sleep_forever()
        except BaseException as exc:
            raised_inside.append(exc)
            raise

    async def call_and_record() -> None:
        try:
            await guard(breaker, hang)
        except BaseException as exc:
            raised_outside.append(exc)
            raise

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(call_and_record)
        await anyio.wait_all_tasks_blocked()
        task_group.cancel_scope.cancel()

    assert len(raised_inside) == 1
    assert isinstance(raised_inside[0], anyio.get_cancelled_exc_class())
    assert len(raised_outside) == 1
    assert raised_outside[0] is raised_inside[0]


@pytest.mark.anyio
async def test_cancel_not_counted(
    guard: Guard, hold: Hold, recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(fail_max=1, listeners=[recorder])

    async with anyio.create_task_group() as task_group:
        call = await hold(task_group, breaker, guard)
        await call.cancel()

    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0
    assert recorder.events == []


@pytest.mark.anyio
async def test_cancel_keeps_failure_count(guard: Guard, hold: Hold) -> None:
    breaker = CircuitBreaker(fail_max=2)
    with pytest.raises(UpstreamError):
        await guard(breaker, fail)

    async with anyio.create_task_group() as task_group:
        call = await hold(task_group, breaker, guard)
        await call.cancel()

    assert breaker.failure_count == 1


@pytest.mark.anyio
async def test_cancelled_trial_lets_next_trial(
    guard: Guard, clock: FakeClock, hold: Hold
) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)

    async with anyio.create_task_group() as task_group:
        trial = await hold(task_group, breaker, guard)
        await trial.cancel()
        next_trial = await hold(task_group, breaker, guard)
        state_during_next = breaker.state
        await next_trial.succeed()

    assert trial.admitted
    assert next_trial.admitted
    assert state_during_next is CircuitState.HALF_OPEN
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_cancelled_trials_never_wedge(clock: FakeClock, hold: Hold) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, half_open_max_calls=2, clock=clock
    )
    await open_then_wait(breaker, clock)

    async with anyio.create_task_group() as task_group:
        for _ in range(20):
            first = await hold(task_group, breaker)
            second = await hold(task_group, breaker)
            await first.cancel()
            await second.cancel()
            assert first.admitted
            assert second.admitted

        task_group.cancel_scope.cancel()

    assert breaker.state is CircuitState.HALF_OPEN
    assert await breaker.call(succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_cancel_during_transition_listener(clock: FakeClock) -> None:
    listener = BlockingListener("state_change:half_open")
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, clock=clock, listeners=[listener]
    )
    await open_then_wait(breaker, clock)
    runs = 0

    async def count_run() -> None:
        nonlocal runs
        runs += 1

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(breaker.call, count_run)
        await listener.wait_until_blocked()
        task_group.cancel_scope.cancel()

    assert runs == 0
    assert breaker.state is CircuitState.HALF_OPEN
    assert await breaker.call(succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_cancel_during_failure_listener(clock: FakeClock) -> None:
    listener = BlockingListener("failure")
    breaker = CircuitBreaker(fail_max=2, clock=clock, listeners=[listener])

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(breaker.call, fail)
        await listener.wait_until_blocked()
        task_group.cancel_scope.cancel()

    breaker.remove_listener(listener)
    assert breaker.failure_count == 1
    with pytest.raises(UpstreamError):
        await breaker.call(fail)

    assert breaker.state is CircuitState.OPEN


@pytest.mark.anyio
async def test_cancel_during_trial_failure_listener(clock: FakeClock) -> None:
    listener = BlockingListener("failure")
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)
    breaker.add_listener(listener)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(breaker.call, fail)
        await listener.wait_until_blocked()
        task_group.cancel_scope.cancel()

    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(succeed)

    assert caught.value.retry_after == 3.0


@pytest.mark.anyio
async def test_cancel_during_trial_success_listener(clock: FakeClock) -> None:
    listener = BlockingListener("success")
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, success_threshold=2, clock=clock
    )
    await open_then_wait(breaker, clock)
    breaker.add_listener(listener)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(breaker.call, succeed)
        await listener.wait_until_blocked()
        task_group.cancel_scope.cancel()

    breaker.remove_listener(listener)
    assert breaker.state is CircuitState.HALF_OPEN
    assert await breaker.call(succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_cancel_during_closing_listener(clock: FakeClock) -> None:
    listener = BlockingListener("state_change:closed")
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)
    breaker.add_listener(listener)

    async with anyio.create_task_group() as task_group:
        task_group.start_soon(breaker.call, succeed)
        await listener.wait_until_blocked()
        task_group.cancel_scope.cancel()

    assert breaker.state is CircuitState.CLOSED
    assert await breaker.call(succeed) == "ok"


async def call_while_cancelled(
    breaker: CircuitBreaker, guard: Guard, error: Exception | None
) -> None:
    """Call through *breaker* and cancel the caller's scope during the call.

    The protected function cancels the scope and then raises *error*, or
    returns if it is None, without a checkpoint in between. So the breaker
    records the outcome while the cancellation is pending.
    """
    with anyio.CancelScope() as scope:

        async def cancel_then_finish() -> str:
            scope.cancel()
            if error is not None:
                raise error

            return "ok"

        await guard(breaker, cancel_then_finish)


@pytest.mark.anyio
async def test_pending_cancel_keeps_trip(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1)

    with pytest.raises(UpstreamError):
        await call_while_cancelled(breaker, guard, UpstreamError("failed"))

    assert breaker.state is CircuitState.OPEN


@pytest.mark.anyio
async def test_pending_cancel_keeps_reopen(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)

    with pytest.raises(UpstreamError):
        await call_while_cancelled(breaker, guard, UpstreamError("trial failed"))

    assert breaker.state is CircuitState.OPEN


@pytest.mark.anyio
async def test_pending_cancel_keeps_close(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)

    await call_while_cancelled(breaker, guard, None)

    assert breaker.state is CircuitState.CLOSED


# -- asyncio only: task.cancel(), asyncio.timeout and TaskGroup --------------------


@pytest.mark.asyncio
async def test_task_cancel_reraised(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1)
    entered = asyncio.Event()

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(guard(breaker, hang))
    await entered.wait()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task

    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0


@pytest.mark.asyncio
async def test_task_cancel_frees_trial_permit(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)
    entered = asyncio.Event()

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(guard(breaker, hang))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert breaker.state is CircuitState.HALF_OPEN
    assert await guard(breaker, succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_asyncio_timeout_not_counted(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1)

    async def hang() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            await guard(breaker, hang)

    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0


@pytest.mark.asyncio
async def test_asyncio_timeout_frees_trial_permit(
    guard: Guard, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)

    async def hang() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0):
            await guard(breaker, hang)

    assert breaker.state is CircuitState.HALF_OPEN
    assert await guard(breaker, succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_timeout_inside_call_counts(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1)

    async def slow_upstream() -> None:
        async with asyncio.timeout(0):
            await asyncio.Event().wait()

    with pytest.raises(TimeoutError):
        await guard(breaker, slow_upstream)

    assert breaker.state is CircuitState.OPEN


@pytest.mark.asyncio
async def test_task_group_sibling_cancels_trial(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)
    entered = asyncio.Event()

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    async def fail_sibling() -> None:
        await entered.wait()
        raise ValueError("sibling failed")

    async def run_group() -> None:
        async with asyncio.TaskGroup() as task_group:
            task_group.create_task(guard(breaker, hang))
            task_group.create_task(fail_sibling())

    with pytest.raises(ExceptionGroup) as caught:
        await run_group()

    assert caught.group_contains(ValueError)
    assert breaker.state is CircuitState.HALF_OPEN
    assert await guard(breaker, succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED
