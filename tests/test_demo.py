from __future__ import annotations

import pytest

from anybreaker import CircuitState
from anybreaker._demo import ASCII, DemoResult, run_demo

pytestmark = pytest.mark.anyio


class DemoClock:
    """A fake monotonic clock whose sleep only moves the reading forward."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# With seed 2 the upstream's draws are: ok, ok, fail, fail, then (once the
# circuit admits calls again) ok, ok, ok, fail, ok, ok.
SEED_2_EMOJI = [
    "Call 1: ✅ ok",
    "Call 2: ✅ ok",
    "Call 3: ❌ fail",
    "Call 4: ❌ fail",
    "⚡ closed → open",
    "Call 5: ⛔ open (retry in 2.0 s)",
    "Call 6: ⛔ open (retry in 1.0 s)",
    "⚡ open → half_open",
    "Call 7: ✅ ok",
    "⚡ half_open → closed",
    "Call 8: ✅ ok",
    "Call 9: ✅ ok",
    "Call 10: ❌ fail",
    "Call 11: ✅ ok",
    "Call 12: ✅ ok",
    "12 calls: 7 succeeded, 3 failed, 2 rejected; the circuit ends closed",
]


async def test_demo_seeded_sequence() -> None:
    clock = DemoClock()
    lines: list[str] = []

    result = await run_demo(
        calls=12, seed=2, out=lines.append, clock=clock, sleep=clock.sleep
    )

    assert lines == SEED_2_EMOJI
    assert result == DemoResult(7, 3, 2, CircuitState.CLOSED)


async def test_demo_sleeps_between_calls_only() -> None:
    clock = DemoClock()

    await run_demo(
        calls=5, interval=0.5, seed=2, out=[].append, clock=clock, sleep=clock.sleep
    )

    assert clock.slept == [0.5, 0.5, 0.5, 0.5]


async def test_demo_ascii_words() -> None:
    clock = DemoClock()
    lines: list[str] = []

    await run_demo(
        calls=7,
        seed=2,
        symbols=ASCII,
        out=lines.append,
        clock=clock,
        sleep=clock.sleep,
    )

    assert lines == [
        "Call 1: ok",
        "Call 2: ok",
        "Call 3: FAIL",
        "Call 4: FAIL",
        "* closed -> open",
        "Call 5: rejected, open (retry in 2.0 s)",
        "Call 6: rejected, open (retry in 1.0 s)",
        "* open -> half_open",
        "Call 7: ok",
        "* half_open -> closed",
        "7 calls: 3 succeeded, 2 failed, 2 rejected; the circuit ends closed",
    ]
    assert all(line.isascii() for line in lines)


async def test_demo_same_seed_same_run() -> None:
    runs = []
    for _ in range(2):
        clock = DemoClock()
        lines: list[str] = []
        await run_demo(
            calls=29, seed=11, out=lines.append, clock=clock, sleep=clock.sleep
        )
        runs.append(lines)

    assert runs[0] == runs[1]
    assert len(runs[0]) > 29


async def test_demo_failure_rate_extremes() -> None:
    clock = DemoClock()
    always = await run_demo(
        calls=10,
        failure_rate=1.0,
        fail_max=3,
        out=[].append,
        clock=clock,
        sleep=clock.sleep,
    )
    never = await run_demo(
        calls=10, failure_rate=0.0, out=[].append, clock=clock, sleep=clock.sleep
    )

    assert always.succeeded == 0
    assert always.final_state is not CircuitState.CLOSED
    # fail_max=3 opens after call 3; reset_timeout=3 s with 1 s between calls
    # lets a trial run at calls 6 and 9, which fail and reopen.
    assert always.failed == 5
    assert always.rejected == 5
    assert never == DemoResult(10, 0, 0, CircuitState.CLOSED)
