from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from anybreaker import (
    CircuitBreaker,
    CircuitBreakerListener,
    CircuitOpenError,
    CircuitState,
)

#: Real seconds to wait for an event that a correct breaker sets without
#: delay. Only a bug makes a test reach it, which then fails instead of hanging.
EVENT_TIMEOUT = 5.0

#: A way to run ``func`` through a breaker: `call`, the decorator or a block.
Guard = Callable[[CircuitBreaker, Callable[[], Awaitable[Any]]], Awaitable[Any]]


class FakeClock:
    """A monotonic clock, in seconds, that moves only when a test advances it.

    It also counts its reads, so a test can check that a path never reads it.
    """

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingListener(CircuitBreakerListener):
    """Records every event as a tuple, in the order the breaker sends them."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> None:
        self.events.append(("state_change", old, new))

    def failure(self, breaker: CircuitBreaker, exc: BaseException) -> None:
        self.events.append(("failure", exc))

    def success(self, breaker: CircuitBreaker) -> None:
        self.events.append(("success",))

    def rejected(self, breaker: CircuitBreaker, error: CircuitOpenError) -> None:
        self.events.append(("rejected", error))

    def transitions(self) -> list[tuple[CircuitState, CircuitState]]:
        return [event[1:] for event in self.events if event[0] == "state_change"]


class AsyncRecordingListener(RecordingListener):
    """Records events like `RecordingListener`, from ``async def`` methods.

    Each method yields to the event loop before recording, so the breaker
    must await it for the event to appear.
    """

    async def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> None:
        await anyio.lowlevel.checkpoint()
        super().state_change(breaker, old, new)

    async def failure(self, breaker: CircuitBreaker, exc: BaseException) -> None:
        await anyio.lowlevel.checkpoint()
        super().failure(breaker, exc)

    async def success(self, breaker: CircuitBreaker) -> None:
        await anyio.lowlevel.checkpoint()
        super().success(breaker)

    async def rejected(self, breaker: CircuitBreaker, error: CircuitOpenError) -> None:
        await anyio.lowlevel.checkpoint()
        super().rejected(breaker, error)


class HeldCall:
    """A call through a breaker that stays inside the protected function.

    Start it with `hold`; it then waits until the test ends it with
    `succeed`, `fail` or `cancel`. Each of those waits until the breaker has
    recorded the outcome and notified its listeners.
    """

    def __init__(self, breaker: CircuitBreaker, guard: Guard) -> None:
        self.breaker = breaker
        self.guard = guard
        self.admitted = False
        self.result: object = None
        self.raised: BaseException | None = None
        self.decided = anyio.Event()
        self.done = anyio.Event()
        self.scope = anyio.CancelScope()
        self._release = anyio.Event()
        self._error: BaseException | None = None

    async def _protected(self) -> str:
        self.admitted = True
        self.decided.set()
        await self._release.wait()
        if self._error is not None:
            raise self._error

        return "late"

    async def run(self) -> None:
        with self.scope:
            try:
                self.result = await self.guard(self.breaker, self._protected)
            except anyio.get_cancelled_exc_class() as exc:
                self.raised = exc
                raise
            except Exception as exc:
                self.raised = exc

        self.decided.set()
        self.done.set()

    async def succeed(self) -> None:
        self._release.set()
        await self._wait_done()

    async def fail(self, error: BaseException) -> None:
        self._error = error
        self._release.set()
        await self._wait_done()

    async def cancel(self) -> None:
        self.scope.cancel()
        await self._wait_done()

    async def _wait_done(self) -> None:
        with anyio.fail_after(EVENT_TIMEOUT):
            await self.done.wait()


async def through_call(
    breaker: CircuitBreaker, func: Callable[[], Awaitable[Any]]
) -> Any:
    return await breaker.call(func)


async def through_decorator(
    breaker: CircuitBreaker, func: Callable[[], Awaitable[Any]]
) -> Any:
    return await breaker(func)()


async def through_block(
    breaker: CircuitBreaker, func: Callable[[], Awaitable[Any]]
) -> Any:
    async with breaker:
        return await func()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder() -> RecordingListener:
    return RecordingListener()


@pytest.fixture(
    params=[through_call, through_decorator, through_block],
    ids=["call", "decorator", "async_with"],
)
def guard(request: pytest.FixtureRequest) -> Guard:
    """Each of the three ways to guard a call, which are written out separately."""
    return request.param


@pytest.fixture
def async_recorder() -> AsyncRecordingListener:
    return AsyncRecordingListener()


@pytest.fixture
def hold() -> Callable[..., Awaitable[HeldCall]]:
    """Return a function that starts a `HeldCall` in a task group.

    The function returns once the breaker has admitted or rejected the call,
    or at once when *wait* is false.
    """

    async def start(
        task_group: anyio.abc.TaskGroup,
        breaker: CircuitBreaker,
        guard: Guard = through_call,
        *,
        wait: bool = True,
    ) -> HeldCall:
        call = HeldCall(breaker, guard)
        task_group.start_soon(call.run)
        if wait:
            with anyio.fail_after(EVENT_TIMEOUT):
                await call.decided.wait()

        return call

    return start
