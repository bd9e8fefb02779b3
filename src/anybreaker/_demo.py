from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from ._breaker import CircuitBreaker
from ._errors import CircuitOpenError
from ._listener import CircuitBreakerListener
from ._state import CircuitState

__all__ = ["DemoResult", "Symbols", "run_demo"]


@dataclass(frozen=True, slots=True)
class Symbols:
    """The words and marks that the demo prints."""

    ok: str
    fail: str
    rejected: str
    transition: str
    arrow: str


EMOJI = Symbols(ok="✅ ok", fail="❌ fail", rejected="⛔", transition="⚡", arrow="→")
ASCII = Symbols(ok="ok", fail="FAIL", rejected="rejected,", transition="*", arrow="->")


@dataclass(frozen=True, slots=True)
class DemoResult:
    """The demo's call counts by outcome, and the state it ended in."""

    succeeded: int
    failed: int
    rejected: int
    final_state: CircuitState


class UpstreamError(Exception):
    """The demo's flaky upstream failed this call."""


class _PrintTransitions(CircuitBreakerListener):
    """Prints each state change, as a user's own listener would."""

    def __init__(self, out: Callable[[str], None], symbols: Symbols) -> None:
        self._out = out
        self._symbols = symbols

    def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> None:
        symbols = self._symbols
        self._out(f"{symbols.transition} {old} {symbols.arrow} {new}")


async def run_demo(
    *,
    calls: int = 29,
    interval: float = 1.0,
    failure_rate: float = 0.6,
    fail_max: int = 2,
    reset_timeout: float = 3.0,
    seed: int | None = None,
    symbols: Symbols = EMOJI,
    out: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
) -> DemoResult:
    """Call a flaky coroutine *calls* times through a breaker and print each step.

    The upstream fails with probability *failure_rate*, drawn from a PRNG
    seeded with *seed*. Calls are *interval* seconds apart, measured with
    *sleep*, and the breaker reads *clock*; tests pass a fake pair.
    """
    rng = random.Random(seed)
    breaker = CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        clock=clock,
        name="upstream",
        listeners=[_PrintTransitions(out, symbols)],
    )

    @breaker
    async def flaky_upstream(number: int) -> None:
        # The upstream prints its own line, so a call's line comes before
        # the state change that its outcome causes.
        if rng.random() < failure_rate:
            out(f"Call {number}: {symbols.fail}")
            raise UpstreamError(f"call {number} failed")

        out(f"Call {number}: {symbols.ok}")

    succeeded = failed = rejected = 0
    for number in range(1, calls + 1):
        try:
            await flaky_upstream(number)
        except UpstreamError:
            failed += 1
        except CircuitOpenError as error:
            rejected += 1
            out(
                f"Call {number}: {symbols.rejected} {error.state} "
                f"(retry in {error.retry_after:.1f} s)"
            )
        else:
            succeeded += 1

        if number < calls:
            await sleep(interval)

    out(
        f"{calls} calls: {succeeded} succeeded, {failed} failed, "
        f"{rejected} rejected; the circuit ends {breaker.state}"
    )
    return DemoResult(succeeded, failed, rejected, breaker.state)
