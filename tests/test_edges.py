from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from unittest import mock

import anyio
import anyio.lowlevel
import pytest

from anybreaker import (
    CircuitBreaker,
    CircuitBreakerListener,
    CircuitOpenError,
    CircuitState,
)
from support import UpstreamError, fail, succeed

if TYPE_CHECKING:
    from conftest import FakeClock

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN


class NotFoundError(Exception):
    pass


async def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.fail_max):
        with pytest.raises(UpstreamError):
            await breaker.call(fail)

    assert breaker.state is OPEN


# -- async with blocks that exit elsewhere -----------------------------------------


# Abandoning the generator is the point, so trio's warning about it is expected.
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.anyio
async def test_abandoned_generator_frees_trial(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=1.0, clock=clock)
    await trip(breaker)
    clock.advance(1.0)

    async def items() -> AsyncIterator[int]:
        async with breaker:
            for item in range(10):
                yield item

    async for _ in items():
        break

    # Both loops close an abandoned async generator from their own finalizer,
    # trio in a system task whose context never saw the block.
    gc.collect()
    for _ in range(10):
        await anyio.lowlevel.checkpoint()

    assert breaker.state is HALF_OPEN
    assert await breaker.call(succeed) == "ok"
    assert breaker.state is CLOSED


@pytest.mark.anyio
async def test_exit_stack_block_counts(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, clock=clock)

    async def guarded_by_stack() -> None:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(breaker)
            raise UpstreamError("upstream failed")

    with pytest.raises(UpstreamError):
        await guarded_by_stack()

    assert breaker.state is OPEN
    assert breaker._blocks is None


@pytest.mark.anyio
async def test_nested_blocks_forget_entries() -> None:
    breaker = CircuitBreaker(fail_max=3)

    async with breaker, breaker:
        assert breaker._blocks is not None
        assert sum(len(value) for value in breaker._blocks.values()) == 2

    assert breaker._blocks is None


# -- one breaker across event loops ------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"), [("asyncio", "trio"), ("trio", "asyncio")]
)
def test_breaker_moves_between_backends(first: str, second: str) -> None:
    clock_reading = [0.0]
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=1.0, clock=lambda: clock_reading[0]
    )

    async def open_and_close() -> None:
        with pytest.raises(UpstreamError):
            await breaker.call(fail)

        clock_reading[0] += 1.0
        await breaker.call(succeed)

    async def open_again() -> None:
        with pytest.raises(UpstreamError):
            await breaker.call(fail)

    anyio.run(open_and_close, backend=first)
    assert breaker.state is CLOSED

    anyio.run(open_again, backend=second)
    assert breaker.state is OPEN


# -- listeners -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_cancelled_listener_keeps_transition() -> None:
    events: list[str] = []

    class SlowFailure(CircuitBreakerListener):
        async def failure(self, breaker: CircuitBreaker, exc: BaseException) -> None:
            events.append("failure")
            await anyio.sleep_forever()

        def state_change(
            self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
        ) -> None:
            events.append(f"{old} -> {new}")

    breaker = CircuitBreaker(fail_max=1, listeners=[SlowFailure()])

    with anyio.CancelScope() as scope:
        scope.cancel()
        await breaker.call(fail)

    assert breaker.state is OPEN
    assert events == ["closed -> open", "failure"]


@pytest.mark.anyio
async def test_spec_mock_listener_notified() -> None:
    listener = mock.Mock(spec=CircuitBreakerListener)
    breaker = CircuitBreaker(fail_max=1, listeners=[listener])

    with pytest.raises(UpstreamError):
        await breaker.call(fail)

    listener.state_change.assert_called_once_with(breaker, CLOSED, OPEN)
    assert listener.failure.call_count == 1
    assert listener.success.call_count == 0


@pytest.mark.anyio
async def test_instance_attribute_listener_notified() -> None:
    seen: list[CircuitState] = []

    class Listener(CircuitBreakerListener):
        def __init__(self) -> None:
            self.state_change = self.on_change  # type: ignore[method-assign]

        def on_change(
            self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
        ) -> None:
            seen.append(new)

    breaker = CircuitBreaker(fail_max=1, listeners=[Listener()])

    with pytest.raises(UpstreamError):
        await breaker.call(fail)

    assert seen == [OPEN]


@pytest.mark.anyio
async def test_patched_listener_method_used() -> None:
    class Listener(CircuitBreakerListener):
        def state_change(
            self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
        ) -> None:
            raise AssertionError("the patch should replace this method")

    listener = Listener()
    breaker = CircuitBreaker(fail_max=1, listeners=[listener])

    with (
        mock.patch.object(listener, "state_change") as patched,
        pytest.raises(UpstreamError),
    ):
        await breaker.call(fail)

    patched.assert_called_once_with(breaker, CLOSED, OPEN)


# -- a clock that returns NaN -------------------------------------------------------


@pytest.mark.anyio
async def test_nan_clock_rejected_on_open() -> None:
    breaker = CircuitBreaker(fail_max=1, clock=lambda: math.nan)

    with pytest.raises(ValueError, match="returned nan; it must return finite"):
        await breaker.call(fail)

    assert breaker.state is CLOSED


@pytest.mark.anyio
async def test_nan_clock_retry_after_zero(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=5.0, clock=clock)
    await trip(breaker)
    clock.now = math.nan

    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(succeed)

    assert caught.value.retry_after == 0.0


# -- exception groups ------------------------------------------------------------------


@pytest.mark.anyio
async def test_group_of_excluded_ignored() -> None:
    breaker = CircuitBreaker(fail_max=1, exclude=[NotFoundError])

    async def lookup() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(raise_not_found)

    async def raise_not_found() -> None:
        raise NotFoundError("no such item")

    with pytest.raises(ExceptionGroup):
        await breaker.call(lookup)

    assert breaker.state is CLOSED
    assert breaker.failure_count == 0


@pytest.mark.anyio
async def test_group_with_failure_counted() -> None:
    breaker = CircuitBreaker(fail_max=1, exclude=[NotFoundError])

    async def mixed() -> None:
        raise ExceptionGroup(
            "two errors", [NotFoundError("no such item"), UpstreamError("down")]
        )

    with pytest.raises(ExceptionGroup):
        await breaker.call(mixed)

    assert breaker.state is OPEN


# -- call() with a function that is not async -----------------------------------------


@pytest.mark.anyio
async def test_call_sync_function_not_counted(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=1.0, clock=clock)
    await trip(breaker)
    clock.advance(1.0)

    with pytest.raises(TypeError, match="returned 5; pass an async function"):
        await breaker.call(lambda: 5)  # type: ignore[arg-type, return-value]

    assert breaker.state is HALF_OPEN
    assert await breaker.call(succeed) == "ok"
    assert breaker.state is CLOSED


def test_open_error_fields_read_only() -> None:
    error = CircuitOpenError("payments", OPEN, 2.5)

    with pytest.raises(AttributeError):
        error.retry_after = 1.0  # type: ignore[misc]

    assert error.retry_after == 2.5


# -- blocks settle their own admission ---------------------------------------------


@pytest.mark.anyio
async def test_stale_block_leaves_trial_alone(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=1.0, clock=clock)

    async def trial() -> AsyncIterator[None]:
        async with breaker:
            yield
            raise UpstreamError("trial failed")

    async with breaker:
        await trip(breaker)
        clock.advance(1.0)
        steps = trial()
        await steps.__anext__()

    # The outer block was admitted while CLOSED, so its exit is stale.
    assert breaker.state is HALF_OPEN

    with pytest.raises(UpstreamError):
        await steps.__anext__()

    assert breaker.state is OPEN
    assert breaker._blocks is None


@pytest.mark.anyio
async def test_generator_block_across_tasks(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=1.0, clock=clock)

    async def items() -> AsyncIterator[int]:
        async with breaker:
            yield 1
            yield 2

    first = items()
    await first.__anext__()
    async with anyio.create_task_group() as group:
        group.start_soon(first.aclose)

    await trip(breaker)
    clock.advance(1.0)
    started: list[AsyncIterator[int]] = []

    async def start_trial() -> None:
        trial = items()
        await trial.__anext__()
        started.append(trial)

    async with anyio.create_task_group() as group:
        group.start_soon(start_trial)

    await started[0].aclose()  # type: ignore[attr-defined]

    assert breaker.state is HALF_OPEN
    assert breaker._blocks is None
    assert await breaker.call(succeed) == "ok"
    assert breaker.state is CLOSED


def test_open_error_keywords_and_arity() -> None:
    error = CircuitOpenError(name="payments", state=OPEN, retry_after=2.5)

    assert (error.name, error.state, error.retry_after) == ("payments", OPEN, 2.5)
    with pytest.raises(TypeError):
        CircuitOpenError("payments")  # type: ignore[call-arg]
