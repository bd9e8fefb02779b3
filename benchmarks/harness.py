"""Interleaved timing of async loops, and the statistics reported for them."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

#: An async loop that performs the measured operation *n* times.
Runner = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Spread:
    """The median of repeated samples, with the lowest and highest sample."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        return cls(statistics.median(samples), min(samples), max(samples))

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "low": self.low, "high": self.high}


def ratios(samples: Sequence[float], baseline: Sequence[float]) -> Spread:
    """Divide each sample by the baseline sample of the same repeat.

    Pairing the samples of one repeat cancels slow drift of the machine's
    speed, which a ratio of two medians would keep.
    """
    return Spread.of(
        [value / base for value, base in zip(samples, baseline, strict=True)]
    )


async def time_block(runner: Runner, count: int) -> int:
    """Run *runner* once with *count* and return the elapsed nanoseconds."""
    start = time.perf_counter_ns()
    await runner(count)
    return time.perf_counter_ns() - start


async def calibrate(runner: Runner, block_ns: int) -> int:
    """Return the count for which one block of *runner* lasts about *block_ns*."""
    count = 16
    while True:
        elapsed = await time_block(runner, count)
        if elapsed >= block_ns // 8 or count >= 1 << 30:
            return max(1, round(count * block_ns / max(elapsed, 1)))

        count *= 4


async def interleave(
    runners: Mapping[str, Runner],
    counts: Mapping[str, int],
    *,
    repeats: int,
    gc_enabled: bool = False,
) -> dict[str, list[float]]:
    """Time one block of each runner per repeat and return ns per operation.

    The order of the runners rotates by one position each repeat, so a burst
    of machine noise lands on a different runner every time instead of always
    on the same one. The garbage collector is disabled during the blocks
    unless *gc_enabled*, as `timeit` does, and a full collection runs before
    every block either way so that no block pays for garbage left by another.
    """
    keys = list(runners)
    samples: dict[str, list[float]] = {key: [] for key in keys}
    was_enabled = gc.isenabled()
    try:
        for repeat in range(repeats):
            shift = repeat % len(keys)
            for key in keys[shift:] + keys[:shift]:
                gc.collect()
                if gc_enabled:
                    gc.enable()
                else:
                    gc.disable()

                elapsed = await time_block(runners[key], counts[key])
                gc.enable()
                samples[key].append(elapsed / counts[key])
    finally:
        if was_enabled:
            gc.enable()
        else:
            gc.disable()

    return samples
