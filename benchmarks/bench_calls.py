"""Rows 1 to 3: the cost of one call when closed, failing and open.

Each row times tight loops of awaits in one coroutine, so the event loop never
runs between calls: what is measured is the guarded call itself. The loops of
all contenders of a row are interleaved (see `harness.interleave`).
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from contenders import (
    Boom,
    Contender,
    admits,
    awaiting_loop,
    catching_loop,
    failing,
    trip,
    trivial,
)
from harness import Runner, Spread, calibrate, interleave, ratios

#: Failures that open the circuit in the rejection row.
TRIP_AFTER = 5
#: A threshold that the failure row never reaches.
NEVER_TRIPS = 1 << 40
#: Long enough that no circuit half-opens during a run.
RESET_TIMEOUT = 3600.0

BARE_AWAIT = "bare-await"
PLAIN_WRAPPER = "plain-wrapper"
RAISE_AND_CATCH = "raise-and-catch"


async def _wrapper() -> None:
    return await trivial()


async def _row(
    runners: dict[str, Runner],
    baseline: str,
    *,
    repeats: int,
    block_ns: int,
) -> dict[str, Any]:
    counts = {key: await calibrate(runner, block_ns) for key, runner in runners.items()}
    samples = await interleave(runners, counts, repeats=repeats)
    return {
        "baseline": baseline,
        "calls_per_block": counts,
        "ns": {key: Spread.of(values).as_dict() for key, values in samples.items()},
        "ratio": {
            key: ratios(values, samples[baseline]).as_dict()
            for key, values in samples.items()
        },
        "ratio_to_bare_await": {
            key: ratios(values, samples[BARE_AWAIT]).as_dict()
            for key, values in samples.items()
        },
        "samples_ns": samples,
    }


async def _retained_per_rejection(runner: Runner, rejections: int) -> float:
    """Return the bytes still allocated per rejection after *rejections* calls."""
    await runner(100)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        await runner(rejections)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    return (after - before) / rejections


async def run(
    contenders: list[Contender], *, repeats: int, block_ns: int, rejections: int
) -> dict[str, Any]:
    """Measure rows 1 to 3 and return them keyed by row name."""
    errors: dict[str, dict[str, str]] = {"success": {}, "failure": {}, "open": {}}
    success: dict[str, Runner] = {
        BARE_AWAIT: awaiting_loop(trivial),
        PLAIN_WRAPPER: awaiting_loop(_wrapper),
    }
    # Rows 2 and 3 time a bare await as well, for their ratios to it.
    failure: dict[str, Runner] = {
        RAISE_AND_CATCH: catching_loop(failing, Boom),
        BARE_AWAIT: awaiting_loop(trivial),
    }
    rejection = dict(failure)
    closed: dict[str, Any] = {}
    opened: dict[str, Any] = {}
    for contender in contenders:
        if contender.unavailable:
            continue

        key = contender.key
        breaker = contender.make(
            fail_max=NEVER_TRIPS, reset_timeout=RESET_TIMEOUT, name=f"{key}-closed"
        )
        closed[key] = breaker
        success[key] = contender.success_loop(breaker, trivial)
        failure[key] = contender.catching_loop(breaker, failing, Boom)

        breaker = contender.make(
            fail_max=TRIP_AFTER, reset_timeout=RESET_TIMEOUT, name=f"{key}-open"
        )
        await trip(contender, breaker, TRIP_AFTER)
        if await admits(contender, breaker):
            errors["open"][key] = f"still admits calls after {TRIP_AFTER} failures"
            continue

        opened[key] = breaker
        rejection[key] = contender.catching_loop(breaker, trivial, contender.open_error)

    rows = {
        "success": await _row(success, BARE_AWAIT, repeats=repeats, block_ns=block_ns),
        "failure": await _row(
            failure, RAISE_AND_CATCH, repeats=repeats, block_ns=block_ns
        ),
        "open": await _row(
            rejection, RAISE_AND_CATCH, repeats=repeats, block_ns=block_ns
        ),
    }

    # The timings are only valid if every breaker stayed in its state.
    by_key = {contender.key: contender for contender in contenders}
    for key, breaker in closed.items():
        if not await admits(by_key[key], breaker):
            errors["success"][key] = "opened during the closed-state loops"
            errors["failure"][key] = "opened during the closed-state loops"

    for key, breaker in opened.items():
        if await admits(by_key[key], breaker):
            errors["open"][key] = "admitted a call during the rejection loop"

    rows["open"]["retained_bytes_per_rejection"] = {
        key: await _retained_per_rejection(runner, rejections)
        for key, runner in rejection.items()
        if key != BARE_AWAIT
    }
    rows["open"]["rejections_traced"] = rejections
    for name, row in rows.items():
        row["errors"] = errors[name]

    return rows
