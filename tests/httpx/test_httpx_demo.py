"""``anybreaker demo --http``: two local servers, one breaker transport."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from anybreaker import CircuitState
from anybreaker._demo import ASCII, EMOJI, Symbols
from anybreaker._demo_http import HttpDemoResult, run_http_demo

if TYPE_CHECKING:
    from conftest import FakeClock

pytestmark = pytest.mark.anyio

CALL_LINE = re.compile(r"Call (\d+) (healthy|flaky):\s+(.*)")


async def run(
    clock: FakeClock, symbols: Symbols, *, calls: int, failure_rate: float
) -> tuple[list[str], HttpDemoResult]:
    lines: list[str] = []

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    result = await run_http_demo(
        calls=calls,
        interval=1.0,
        failure_rate=failure_rate,
        fail_max=2,
        reset_timeout=3.0,
        seed=7,
        symbols=symbols,
        out=lines.append,
        clock=clock,
        sleep=sleep,
    )
    return lines, result


async def test_demo_prints_line_per_host(clock: FakeClock) -> None:
    lines, _ = await run(clock, EMOJI, calls=6, failure_rate=0.6)

    assert re.fullmatch(
        r"healthy host: http://127\.0\.0\.1:\d+, flaky host: "
        r"http://127\.0\.0\.1:\d+ \(fails 60% of requests\)",
        lines[0],
    )
    calls = [CALL_LINE.fullmatch(line) for line in lines]
    numbered = [(int(m[1]), m[2]) for m in calls if m is not None]
    expected = [(n, host) for n in range(1, 7) for host in ("healthy", "flaky")]
    assert numbered == expected
    healthy = [m[3] for m in calls if m is not None and m[2] == "healthy"]
    assert healthy == ["✅ ok (200)"] * 6


async def test_demo_flaky_host_opens_alone(clock: FakeClock) -> None:
    lines, result = await run(clock, EMOJI, calls=8, failure_rate=1.0)

    flaky = [
        m[3] for line in lines if (m := CALL_LINE.fullmatch(line)) and m[2] == "flaky"
    ]
    assert flaky[:2] == ["❌ fail (503)", "❌ fail (503)"]
    assert flaky[2] == "⛔ open (retry in 2.0 s)"
    assert flaky[3] == "⛔ open (retry in 1.0 s)"
    # After the reset timeout, the trial fails and the circuit reopens.
    assert flaky[4] == "❌ fail (503)"
    transitions = [line for line in lines if line.startswith("⚡")]
    assert transitions[:3] == [
        "⚡ flaky: closed → open",
        "⚡ flaky: open → half_open",
        "⚡ flaky: half_open → open",
    ]
    # The change caused by call 2's failure is printed after its line.
    assert (
        lines.index("⚡ flaky: closed → open")
        == lines.index("Call 2 flaky:   ❌ fail (503)") + 1
    )
    assert lines[-2] == (
        "healthy: 8 succeeded, 0 failed, 0 rejected; the circuit ends closed"
    )
    assert lines[-1].startswith("flaky: 0 succeeded, ")
    assert result.healthy.succeeded == 8
    assert result.flaky.final_state is CircuitState.OPEN


async def test_demo_closes_flaky_host_again(clock: FakeClock) -> None:
    lines, result = await run(clock, ASCII, calls=12, failure_rate=0.5)

    assert "* flaky: half_open -> closed" in lines
    assert not any("healthy:" in line and "->" in line for line in lines)
    assert all(
        m[3] == "ok (200)"
        for line in lines
        if (m := CALL_LINE.fullmatch(line)) and m[2] == "healthy"
    )
    assert result.flaky.rejected > 0
