from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import pytest

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from support import UpstreamError, fail, open_then_wait, succeed

if TYPE_CHECKING:
    from conftest import FakeClock, Guard, HeldCall, RecordingListener

pytestmark = pytest.mark.anyio

Hold = Callable[..., Awaitable["HeldCall"]]


class NotFoundError(LookupError):
    pass


class AbortError(BaseException):
    """A BaseException subclass that is not an Exception, so never a failure."""


def raising(error: BaseException) -> Callable[[], Awaitable[None]]:
    async def raise_error() -> None:
        raise error

    return raise_error


async def test_exclude_type_reraises(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1, exclude=(LookupError,))
    error = LookupError("missing")

    with pytest.raises(LookupError) as caught:
        await guard(breaker, raising(error))

    assert caught.value is error
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0


async def test_exclude_type_matches_subclass(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1, exclude=(LookupError,))

    with pytest.raises(NotFoundError):
        await guard(breaker, raising(NotFoundError("missing")))

    assert breaker.state is CircuitState.CLOSED


async def test_exclude_type_skips_other_errors(guard: Guard) -> None:
    breaker = CircuitBreaker(fail_max=1, exclude=(NotFoundError,))

    with pytest.raises(LookupError):
        await guard(breaker, raising(LookupError("a parent class")))

    assert breaker.state is CircuitState.OPEN


async def test_exclude_predicate_matches(guard: Guard) -> None:
    def is_client_error(exc: BaseException) -> bool:
        return isinstance(exc, UpstreamError) and "400" in str(exc)

    breaker = CircuitBreaker(fail_max=1, exclude=(is_client_error,))

    with pytest.raises(UpstreamError):
        await guard(breaker, raising(UpstreamError("status 400")))

    assert breaker.state is CircuitState.CLOSED
    with pytest.raises(UpstreamError):
        await guard(breaker, raising(UpstreamError("status 503")))

    assert breaker.state is CircuitState.OPEN


async def test_exclude_types_and_predicates_mix(guard: Guard) -> None:
    breaker = CircuitBreaker(
        fail_max=1, exclude=[KeyError, lambda exc: isinstance(exc, ValueError)]
    )

    with pytest.raises(KeyError):
        await guard(breaker, raising(KeyError("k")))

    with pytest.raises(ValueError, match="v"):
        await guard(breaker, raising(ValueError("v")))

    assert breaker.state is CircuitState.CLOSED


async def test_exclude_raising_predicate_counts(
    guard: Guard, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(exc: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    breaker = CircuitBreaker(fail_max=1, exclude=(broken,))

    with pytest.raises(UpstreamError):
        await guard(breaker, fail)

    assert breaker.state is CircuitState.OPEN
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "exclude predicate" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None


async def test_exclude_notifies_no_listener(
    guard: Guard, recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(fail_max=1, exclude=(LookupError,), listeners=[recorder])

    with pytest.raises(LookupError):
        await guard(breaker, raising(LookupError("missing")))

    assert recorder.events == []


async def test_exclude_in_half_open_frees_permit(
    guard: Guard, clock: FakeClock
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, exclude=(LookupError,), clock=clock
    )
    await open_then_wait(breaker, clock)

    with pytest.raises(LookupError):
        await guard(breaker, raising(LookupError("missing")))

    assert breaker.state is CircuitState.HALF_OPEN
    assert await guard(breaker, succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED


async def test_exclude_held_trial_frees_permit(clock: FakeClock, hold: Hold) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, exclude=(LookupError,), clock=clock
    )
    await open_then_wait(breaker, clock)

    async with anyio.create_task_group() as task_group:
        trial = await hold(task_group, breaker)
        with pytest.raises(CircuitOpenError):
            await breaker.call(succeed)

        await trial.fail(LookupError("missing"))
        next_trial = await hold(task_group, breaker)
        await next_trial.succeed()

    assert next_trial.admitted
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize(
    "error",
    [KeyboardInterrupt(), SystemExit(1), GeneratorExit(), AbortError()],
    ids=["KeyboardInterrupt", "SystemExit", "GeneratorExit", "custom"],
)
async def test_base_exception_never_counted(
    guard: Guard, recorder: RecordingListener, error: BaseException
) -> None:
    breaker = CircuitBreaker(fail_max=1, listeners=[recorder])

    with pytest.raises(type(error)) as caught:
        await guard(breaker, raising(error))

    assert caught.value is error
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0
    assert recorder.events == []


@pytest.mark.parametrize(
    "error",
    [KeyboardInterrupt(), SystemExit(1), GeneratorExit(), AbortError()],
    ids=["KeyboardInterrupt", "SystemExit", "GeneratorExit", "custom"],
)
async def test_base_exception_frees_permit(
    guard: Guard, clock: FakeClock, error: BaseException
) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    await open_then_wait(breaker, clock)

    with pytest.raises(type(error)):
        await guard(breaker, raising(error))

    assert breaker.state is CircuitState.HALF_OPEN
    assert await guard(breaker, succeed) == "ok"
    assert breaker.state is CircuitState.CLOSED
