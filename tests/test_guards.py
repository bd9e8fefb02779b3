from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from support import UpstreamError, fail, open_then_wait, succeed

if TYPE_CHECKING:
    from conftest import FakeClock, Guard, HeldCall

Hold = Callable[..., Awaitable["HeldCall"]]


# -- call() ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_call_passes_arguments() -> None:
    async def combine(a: int, b: int = 0, *, c: int = 0) -> tuple[int, int, int]:
        return (a, b, c)

    breaker = CircuitBreaker()

    assert await breaker.call(combine, 1, 2, c=3) == (1, 2, 3)


@pytest.mark.anyio
async def test_call_forwards_func_keyword() -> None:
    async def takes_func(*, func: str) -> str:
        return func

    breaker = CircuitBreaker()

    assert await breaker.call(takes_func, func="value") == "value"


@pytest.mark.anyio
async def test_call_accepts_awaitable_factory() -> None:
    class Lazy:
        def __await__(self) -> Any:
            return succeed().__await__()

    breaker = CircuitBreaker()

    assert await breaker.call(Lazy) == "ok"


# -- async with ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_block_returns_breaker() -> None:
    breaker = CircuitBreaker()

    async with breaker as entered:
        pass

    assert entered is breaker


@pytest.mark.anyio
async def test_block_rejection_skips_body(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, clock=clock)
    with pytest.raises(UpstreamError):
        await breaker.call(fail)

    ran = False

    with pytest.raises(CircuitOpenError):
        async with breaker:
            ran = True

    assert not ran


@pytest.mark.anyio
async def test_block_nested_same_breaker(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, half_open_max_calls=2, clock=clock
    )
    await open_then_wait(breaker, clock)

    async with breaker, breaker:
        state_inside = breaker.state
        with pytest.raises(CircuitOpenError):
            async with breaker:
                pass

    assert state_inside is CircuitState.HALF_OPEN
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_block_nested_inner_failure(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=2, clock=clock)

    async with breaker:
        with pytest.raises(UpstreamError):
            async with breaker:
                await fail()

        failures_inside = breaker.failure_count

    assert failures_inside == 1
    assert breaker.failure_count == 0


@pytest.mark.anyio
async def test_block_nested_across_transitions(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)

    async with breaker:
        with pytest.raises(UpstreamError):
            await breaker.call(fail)

        clock.advance(3.0)
        async with breaker:
            state_in_trial = breaker.state

        state_after_trial = breaker.state

    assert state_in_trial is CircuitState.HALF_OPEN
    assert state_after_trial is CircuitState.CLOSED
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_block_concurrent_tasks(
    clock: FakeClock, hold: Hold, guard: Guard
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, half_open_max_calls=2, clock=clock
    )
    await open_then_wait(breaker, clock)

    async with anyio.create_task_group() as task_group:
        first = await hold(task_group, breaker, guard)
        second = await hold(task_group, breaker, guard)
        third = await hold(task_group, breaker, guard)
        await first.cancel()
        fourth = await hold(task_group, breaker, guard)
        await second.succeed()
        await fourth.succeed()

    assert first.admitted
    assert second.admitted
    assert isinstance(third.raised, CircuitOpenError)
    assert fourth.admitted
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_block_child_task_own_admission(clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        fail_max=1,
        reset_timeout=3.0,
        half_open_max_calls=2,
        success_threshold=2,
        clock=clock,
    )
    await open_then_wait(breaker, clock)
    child_entered = anyio.Event()
    parent_exited = anyio.Event()

    async def child() -> None:
        async with breaker:
            child_entered.set()
            await parent_exited.wait()

    async with anyio.create_task_group() as task_group:
        async with breaker:
            task_group.start_soon(child)
            await child_entered.wait()

        state_between = breaker.state
        parent_exited.set()

    assert state_between is CircuitState.HALF_OPEN
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_block_exit_out_of_order() -> None:
    first = CircuitBreaker(fail_max=1)
    second = CircuitBreaker(fail_max=1)

    await first.__aenter__()
    await second.__aenter__()
    await first.__aexit__(UpstreamError, UpstreamError("first failed"), None)
    await second.__aexit__(None, None, None)

    assert first.state is CircuitState.OPEN
    assert second.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_block_exit_without_enter_raises() -> None:
    breaker = CircuitBreaker(name="payments")

    with pytest.raises(RuntimeError) as caught:
        await breaker.__aexit__(None, None, None)

    assert str(caught.value) == (
        "circuit breaker 'payments' was exited by a block that did not enter "
        "it; use 'async with breaker:' to enter and exit it"
    )


# -- no lock held while the protected call runs ---------------------------------


@pytest.mark.anyio
async def test_closed_runs_100_calls_at_once(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1)
    release = anyio.Event()
    inside = 0

    async def wait_for_release() -> None:
        nonlocal inside
        inside += 1
        await release.wait()

    async with anyio.create_task_group() as task_group:
        for _ in range(100):
            task_group.start_soon(guard, breaker, wait_for_release)

        await anyio.wait_all_tasks_blocked()
        inside_at_once = inside
        release.set()

    assert inside_at_once == 100
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_half_open_runs_trials_at_once(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, half_open_max_calls=100, clock=clock
    )
    await open_then_wait(breaker, clock)
    release = anyio.Event()
    inside = 0

    async def wait_for_release() -> None:
        nonlocal inside
        inside += 1
        await release.wait()

    async with anyio.create_task_group() as task_group:
        for _ in range(100):
            task_group.start_soon(guard, breaker, wait_for_release)

        await anyio.wait_all_tasks_blocked()
        inside_at_once = inside
        release.set()

    assert inside_at_once == 100
    assert breaker.state is CircuitState.CLOSED


# -- errors raised before the call runs ------------------------------------------


async def takes_one(value: int) -> int:
    return value


@pytest.mark.anyio
async def test_call_wrong_arguments_not_counted() -> None:
    breaker = CircuitBreaker(fail_max=1)

    with pytest.raises(TypeError):
        await breaker.call(takes_one, 1, 2)  # type: ignore[call-arg]

    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0


@pytest.mark.anyio
async def test_call_wrong_arguments_free_trial(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=5.0, clock=clock)
    await open_then_wait(breaker, clock)

    with pytest.raises(TypeError):
        await breaker.call(takes_one)  # type: ignore[call-arg]

    assert breaker.state is CircuitState.HALF_OPEN
    assert await breaker.call(takes_one, 7) == 7
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_decorated_callable_wrong_arguments_free_trial(
    clock: FakeClock,
) -> None:
    class Upstream:
        async def __call__(self, value: int) -> int:
            return value

    breaker = CircuitBreaker(fail_max=1, reset_timeout=5.0, clock=clock)
    guarded = breaker(Upstream())
    await open_then_wait(breaker, clock)

    with pytest.raises(TypeError):
        await guarded()

    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.failure_count == 0
    assert await guarded(3) == 3
    assert breaker.state is CircuitState.CLOSED
