"""Row 6: memory held by idle breakers built with each library's defaults."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from typing import Any

from contenders import Contender


async def _bytes_per_breaker(contender: Contender, count: int) -> float:
    """Return the traced bytes per breaker over *count* idle breakers.

    Names are built before tracing starts, and one breaker is built first so
    that a library's one-time set-up is not charged to the instances.
    """
    names = [f"breaker-{index}" for index in range(count)]
    warm_up = await contender.make_idle(["warm-up"])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        breakers = await contender.make_idle(names)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    # The list of breakers is the harness's, not the library's.
    own = sys.getsizeof(breakers)
    del breakers, warm_up
    return (after - before - own) / count


async def run(contenders: list[Contender], *, count: int) -> dict[str, Any]:
    """Measure row 6 for every contender over *count* breakers each."""
    results: dict[str, float] = {}
    seen: set[str] = set()
    for contender in contenders:
        # The three anybreaker APIs share one breaker type.
        if contender.unavailable or contender.distribution in seen:
            continue

        seen.add(contender.distribution)
        results[contender.key] = await _bytes_per_breaker(contender, count)

    return {"breakers": count, "bytes_per_breaker": results}
