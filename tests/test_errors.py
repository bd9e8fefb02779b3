from __future__ import annotations

import pickle
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import pytest

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from support import UpstreamError, fail, succeed

if TYPE_CHECKING:
    from conftest import FakeClock, Guard, HeldCall, RecordingListener

Hold = Callable[..., Awaitable["HeldCall"]]


async def open_breaker(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.fail_max):
        with pytest.raises(UpstreamError):
            await breaker.call(fail)


async def rejection(breaker: CircuitBreaker, guard: Guard) -> CircuitOpenError:
    with pytest.raises(CircuitOpenError) as caught:
        await guard(breaker, succeed)

    return caught.value


@pytest.fixture(params=[False, True], ids=["no_listener", "rejected_listener"])
def listeners(
    request: pytest.FixtureRequest, recorder: RecordingListener
) -> list[RecordingListener]:
    """No listener, or one that listens for rejections, which takes a slower path."""
    return [recorder] if request.param else []


@pytest.mark.anyio
async def test_error_fields_when_open(
    guard: Guard, clock: FakeClock, listeners: list[RecordingListener]
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, clock=clock, listeners=listeners, name="db"
    )
    await open_breaker(breaker)
    clock.advance(1.0)

    error = await rejection(breaker, guard)

    assert error.name == "db"
    assert error.state is CircuitState.OPEN
    assert error.retry_after == 2.0


@pytest.mark.anyio
async def test_error_fields_when_half_open(
    guard: Guard, clock: FakeClock, hold: Hold, listeners: list[RecordingListener]
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, clock=clock, listeners=listeners, name="db"
    )
    await open_breaker(breaker)
    clock.advance(3.0)

    async with anyio.create_task_group() as task_group:
        trial = await hold(task_group, breaker)
        error = await rejection(breaker, guard)
        await trial.succeed()

    assert error.name == "db"
    assert error.state is CircuitState.HALF_OPEN
    assert error.retry_after == 0.0


@pytest.mark.anyio
async def test_error_name_defaults_to_none(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, clock=clock)
    await open_breaker(breaker)

    error = await rejection(breaker, CircuitBreaker.call)

    assert error.name is None


@pytest.mark.anyio
async def test_error_fresh_per_rejection(
    guard: Guard, clock: FakeClock, listeners: list[RecordingListener]
) -> None:
    breaker = CircuitBreaker(fail_max=1, clock=clock, listeners=listeners)
    await open_breaker(breaker)

    first = await rejection(breaker, guard)
    second = await rejection(breaker, guard)

    assert first is not second


@pytest.mark.anyio
async def test_error_retry_after_never_negative(
    clock: FakeClock, listeners: list[RecordingListener]
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=1.0, clock=clock, listeners=listeners
    )
    await open_breaker(breaker)
    readings = []

    for _ in range(9):
        clock.advance(0.1)
        readings.append((await rejection(breaker, CircuitBreaker.call)).retry_after)

    assert readings == sorted(readings, reverse=True)
    assert min(readings) > 0.0
    assert readings[-1] == pytest.approx(0.1)


def test_error_message_open() -> None:
    error = CircuitOpenError("payments", CircuitState.OPEN, 2.5)

    assert str(error) == "circuit 'payments' is open; retry after 2.500 s"


def test_error_message_half_open() -> None:
    error = CircuitOpenError("payments", CircuitState.HALF_OPEN, 0.0)

    assert str(error) == (
        "circuit 'payments' is half_open with every trial permit taken; "
        "retry after 0.000 s"
    )


def test_error_message_without_name() -> None:
    error = CircuitOpenError(None, CircuitState.OPEN, 1.0)

    assert str(error) == "circuit is open; retry after 1.000 s"


def test_error_is_exception() -> None:
    assert issubclass(CircuitOpenError, Exception)


def test_error_pickles() -> None:
    error = CircuitOpenError("payments", CircuitState.OPEN, 2.5)

    # The bytes come from this test, not from an untrusted source.
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301

    assert type(copy) is CircuitOpenError
    assert copy.name == "payments"
    assert copy.state is CircuitState.OPEN
    assert copy.retry_after == 2.5
    assert str(copy) == str(error)


def test_state_str_is_value() -> None:
    assert [str(state) for state in CircuitState] == ["closed", "open", "half_open"]
