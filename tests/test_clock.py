from __future__ import annotations

import asyncio
import inspect
import time
from typing import TYPE_CHECKING

import pytest

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from support import UpstreamError, fail, succeed

if TYPE_CHECKING:
    from conftest import FakeClock


def test_clock_defaults_to_monotonic() -> None:
    parameter = inspect.signature(CircuitBreaker).parameters["clock"]

    assert parameter.default is time.monotonic


@pytest.mark.anyio
async def test_clock_read_when_opening(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    clock.advance(1000.0)

    with pytest.raises(UpstreamError):
        await breaker.call(fail)

    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(succeed)

    assert caught.value.retry_after == 3.0


@pytest.mark.anyio
async def test_clock_drives_half_open(clock: FakeClock) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    with pytest.raises(UpstreamError):
        await breaker.call(fail)

    clock.advance(3.0)
    await breaker.call(succeed)

    assert breaker.state is CircuitState.CLOSED


@pytest.mark.asyncio
async def test_clock_loop_time_measures_retry() -> None:
    loop = asyncio.get_running_loop()
    breaker = CircuitBreaker(fail_max=1, reset_timeout=1000.0, clock=loop.time)
    opened_before = loop.time()

    with pytest.raises(UpstreamError):
        await breaker.call(fail)

    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(succeed)

    elapsed = loop.time() - opened_before
    assert caught.value.retry_after <= 1000.0
    assert caught.value.retry_after >= 1000.0 - elapsed


@pytest.mark.asyncio
async def test_clock_loop_time_is_monotonic() -> None:
    loop = asyncio.get_running_loop()
    before = time.monotonic()

    reading = loop.time()

    assert before <= reading <= time.monotonic()
