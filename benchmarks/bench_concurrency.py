"""Rows 4 and 5: many tasks through one breaker, and the half-open trial limit."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any

from contenders import AsyncFunction, Contender, admits, trip
from harness import Runner, Spread, interleave, ratios

NO_BREAKER = "no-breaker"
PLAIN_WRAPPER = "plain-wrapper"
#: Long enough that no circuit half-opens during a run.
RESET_TIMEOUT = 3600.0
#: Seconds the half-open row waits for every caller to reach the breaker.
ARRIVAL_TIMEOUT = 10.0


async def _work() -> None:
    await asyncio.sleep(0)


async def _wrapper() -> None:
    return await _work()


def _gathering(func: AsyncFunction, tasks: int) -> Runner:
    """Return a runner that gathers *tasks* calls of *func*, *count* times."""

    async def run(count: int) -> None:
        for _ in range(count):
            await asyncio.gather(*[func() for _ in range(tasks)])

    return run


async def _in_flight(func: AsyncFunction, tasks: int) -> dict[str, float]:
    """Trace the memory of *tasks* gathered calls while all of them are suspended.

    The probe callback is queued after the first step of every task, and each
    task's second step is queued while that first step runs, so the probe records
    every call suspended in `asyncio.sleep(0)` with its full chain of frames.
    """
    loop = asyncio.get_running_loop()
    seen: dict[str, float] = {}

    def probe() -> None:
        seen["bytes"] = tracemalloc.get_traced_memory()[0]
        seen["blocks"] = len(tracemalloc.take_snapshot().traces)

    await asyncio.gather(*[func() for _ in range(tasks)])
    gc.collect()
    tracemalloc.start()
    try:
        base_bytes = tracemalloc.get_traced_memory()[0]
        base_blocks = len(tracemalloc.take_snapshot().traces)
        gathered = asyncio.gather(*[func() for _ in range(tasks)])
        loop.call_soon(probe)
        await gathered
        del gathered
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    return {
        "bytes_per_call": (seen["bytes"] - base_bytes) / tasks,
        "blocks_per_call": (seen["blocks"] - base_blocks) / tasks,
        "retained_bytes_per_call": (after - base_bytes) / tasks,
    }


async def run_gather(
    contenders: list[Contender], *, tasks: int, repeats: int
) -> dict[str, Any]:
    """Measure row 4: wall time of *tasks* concurrent calls through one breaker."""
    functions: dict[str, AsyncFunction] = {
        NO_BREAKER: _work,
        PLAIN_WRAPPER: _wrapper,
    }
    errors: dict[str, str] = {}
    breakers: dict[str, Any] = {}
    for contender in contenders:
        if contender.unavailable:
            continue

        breaker = contender.make(
            fail_max=5, reset_timeout=RESET_TIMEOUT, name=f"{contender.key}-gather"
        )
        breakers[contender.key] = breaker
        functions[contender.key] = contender.guard(breaker, _work)

    runners = {key: _gathering(func, tasks) for key, func in functions.items()}
    counts = dict.fromkeys(runners, 1)
    result: dict[str, Any] = {"tasks": tasks, "baseline": NO_BREAKER}
    for mode, gc_enabled in (("gc_off", False), ("gc_on", True)):
        samples = await interleave(
            runners, counts, repeats=repeats, gc_enabled=gc_enabled
        )
        result[mode] = {
            "wall_ms": {
                key: Spread.of([value / 1e6 for value in values]).as_dict()
                for key, values in samples.items()
            },
            "ratio": {
                key: ratios(values, samples[NO_BREAKER]).as_dict()
                for key, values in samples.items()
            },
            "samples_ns": samples,
        }

    by_key = {contender.key: contender for contender in contenders}
    for key, breaker in breakers.items():
        if not await admits(by_key[key], breaker):
            errors[key] = "opened while gathering successful calls"

    result["memory"] = {
        key: await _in_flight(func, tasks) for key, func in functions.items()
    }
    result["errors"] = errors
    return result


async def _admissions(
    contender: Contender, callers: int, reset_timeout: float
) -> dict[str, Any]:
    breaker = contender.make(
        fail_max=1, reset_timeout=reset_timeout, name=f"{contender.key}-half-open"
    )
    await trip(contender, breaker, 1)
    if await admits(contender, breaker):
        return {"error": "did not open after one failure"}

    await asyncio.sleep(reset_timeout * 2)
    release = asyncio.Event()
    everyone_arrived = asyncio.Event()
    counts = {"admitted": 0, "rejected": 0, "other_errors": 0}

    def arrive(outcome: str) -> None:
        counts[outcome] += 1
        if sum(counts.values()) >= callers:
            everyone_arrived.set()

    async def protected() -> None:
        arrive("admitted")
        await release.wait()

    guarded = contender.guard(breaker, protected)

    async def caller() -> None:
        try:
            await guarded()
        except contender.open_error:
            arrive("rejected")
        except Exception:
            arrive("other_errors")

    # Every caller must reach the breaker before any trial completes, or a
    # successful trial would close the circuit and let later callers in.
    tasks = [asyncio.create_task(caller()) for _ in range(callers)]
    try:
        await asyncio.wait_for(everyone_arrived.wait(), ARRIVAL_TIMEOUT)
    except TimeoutError:
        arrived = False
    else:
        arrived = True

    release.set()
    await asyncio.gather(*tasks)
    return {**counts, "callers": callers, "all_arrived_before_release": arrived}


async def run_half_open(
    contenders: list[Contender], *, callers: int, reset_timeout: float
) -> dict[str, Any]:
    """Measure row 5: how many of *callers* concurrent calls run as trials."""
    return {
        "callers": callers,
        "reset_timeout": reset_timeout,
        "results": {
            contender.key: await _admissions(contender, callers, reset_timeout)
            for contender in contenders
            if not contender.unavailable
        },
    }
