"""Small upstream stand-ins that many test modules share."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from anybreaker import CircuitBreaker

if TYPE_CHECKING:
    from conftest import FakeClock


class UpstreamError(Exception):
    pass


async def succeed() -> str:
    return "ok"


async def fail() -> None:
    raise UpstreamError("upstream failed")


async def open_then_wait(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """Open *breaker* with failures, then advance *clock* to its trial."""
    for _ in range(breaker.fail_max):
        with pytest.raises(UpstreamError):
            await breaker.call(fail)

    clock.advance(breaker.reset_timeout)
