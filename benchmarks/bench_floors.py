"""Ladders that bound rows 2 and 3: the cost of each step of a guarded failure.

Each ladder starts at the row's baseline, a raise-and-catch without a
breaker, and adds one unavoidable step of anybreaker's path at a time. The
ratio of a step is therefore the floor for any breaker that takes it on this
interpreter. The last step of each ladder is anybreaker itself.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from bench_calls import RAISE_AND_CATCH
from contenders import Boom, catching_loop, failing
from harness import Runner, Spread, calibrate, interleave, ratios

_OPEN = CircuitState.OPEN
# The breaker builds its rejections this way, without CircuitOpenError's
# Python __init__, so the ladder does too.
_new_error = BaseException.__new__


class _Counter:
    """Stands in for a breaker whose failure counting costs one method call."""

    def count(self, exc: BaseException, generation: int) -> bool:
        return False


_counter = _Counter()


async def _passes_through() -> None:
    return await failing()


async def _reraises() -> None:
    # The handler is the step being measured.
    try:
        return await failing()
    except BaseException:  # noqa: TRY203
        raise


async def _reraises_after_call() -> None:
    try:
        return await failing()
    except BaseException as exc:
        if _counter.count(exc, 0):
            return None

        raise


async def _raises_error() -> None:
    raise _new_error(CircuitOpenError, None, _OPEN, 1.0)


async def _raises_error_after_clock() -> None:
    raise _new_error(CircuitOpenError, None, _OPEN, 100.0 - time.monotonic())


def _reject() -> int:
    raise _new_error(CircuitOpenError, None, _OPEN, 100.0 - time.monotonic())


async def _raises_in_helper() -> None:
    _reject()


async def _trivial() -> None:
    return None


async def _ladder(
    runners: dict[str, Runner], *, repeats: int, block_ns: int
) -> dict[str, Any]:
    counts = {key: await calibrate(runner, block_ns) for key, runner in runners.items()}
    samples = await interleave(runners, counts, repeats=repeats)
    return {
        "baseline": RAISE_AND_CATCH,
        "steps": list(runners),
        "ns": {key: Spread.of(values).as_dict() for key, values in samples.items()},
        "ratio": {
            key: ratios(values, samples[RAISE_AND_CATCH]).as_dict()
            for key, values in samples.items()
        },
    }


async def run(*, repeats: int, block_ns: int) -> dict[str, Any]:
    """Measure the ladders of rows 2 and 3."""
    closed = CircuitBreaker(fail_max=1 << 40)
    opened = CircuitBreaker(fail_max=1, reset_timeout=3600.0)
    with contextlib.suppress(Boom):
        await opened.call(failing)

    failure = {
        RAISE_AND_CATCH: catching_loop(failing, Boom),
        "exception passes through a wrapper": catching_loop(_passes_through, Boom),
        "wrapper catches and re-raises": catching_loop(_reraises, Boom),
        "... after one method call": catching_loop(_reraises_after_call, Boom),
        "anybreaker `@breaker`": catching_loop(closed(failing), Boom),
    }
    rejection = {
        RAISE_AND_CATCH: catching_loop(failing, Boom),
        "raise CircuitOpenError(...)": catching_loop(_raises_error, CircuitOpenError),
        "... with a clock read": catching_loop(
            _raises_error_after_clock, CircuitOpenError
        ),
        "... raised in a helper function": catching_loop(
            _raises_in_helper, CircuitOpenError
        ),
        "anybreaker `@breaker`": catching_loop(opened(_trivial), CircuitOpenError),
    }
    return {
        "failure": await _ladder(failure, repeats=repeats, block_ns=block_ns),
        "open": await _ladder(rejection, repeats=repeats, block_ns=block_ns),
    }
