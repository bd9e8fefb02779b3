from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping
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


class _HeldTransitions(CircuitBreakerListener):
    """Lines for the breaker's state changes, held until the demo prints a call.

    The breaker logs and ignores what a listener raises, so the demo prints
    these lines itself, where a failed write to stdout ends the run.
    """

    def __init__(
        self, symbols: Symbols, labels: Mapping[str, str] | None = None
    ) -> None:
        self._symbols = symbols
        # Host labels by breaker name, for a demo with more than one breaker.
        self._labels = labels
        self._before_call: list[str] = []
        self._after_call: list[str] = []

    def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> None:
        symbols = self._symbols
        change = f"{old} {symbols.arrow} {new}"
        if self._labels is not None:
            label = self._labels.get(breaker.name or "", breaker.name)
            change = f"{label}: {change}"

        line = f"{symbols.transition} {change}"
        # A move to HALF_OPEN happens when a call is admitted, so its line
        # goes before the call's line. A call's outcome causes the others.
        if new is CircuitState.HALF_OPEN:
            self._before_call.append(line)
        else:
            self._after_call.append(line)

    def print_call(self, out: Callable[[str], None], call_line: str) -> None:
        """Print *call_line* between the state changes held before and after it."""
        lines = [*self._before_call, call_line, *self._after_call]
        self._before_call.clear()
        self._after_call.clear()
        for line in lines:
            out(line)


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
    transitions = _HeldTransitions(symbols)
    breaker = CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        clock=clock,
        name="upstream",
        listeners=[transitions],
    )

    @breaker
    async def flaky_upstream(number: int) -> None:
        if rng.random() < failure_rate:
            raise UpstreamError(f"call {number} failed")

    succeeded = failed = rejected = 0
    for number in range(1, calls + 1):
        # Lines are printed outside the guarded call, so an error writing
        # one is never counted as the upstream's failure.
        try:
            await flaky_upstream(number)
        except UpstreamError:
            failed += 1
            call_line = f"Call {number}: {symbols.fail}"
        except CircuitOpenError as error:
            rejected += 1
            call_line = (
                f"Call {number}: {symbols.rejected} {error.state} "
                f"(retry in {error.retry_after:.1f} s)"
            )
        else:
            succeeded += 1
            call_line = f"Call {number}: {symbols.ok}"

        transitions.print_call(out, call_line)
        if number < calls:
            await sleep(interval)

    out(
        f"{calls} calls: {succeeded} succeeded, {failed} failed, "
        f"{rejected} rejected; the circuit ends {breaker.state}"
    )
    return DemoResult(succeeded, failed, rejected, breaker.state)
