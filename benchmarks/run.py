"""Compare anybreaker with the Python circuit breakers in use, in one process.

Usage: ``python benchmarks/run.py [--quick] [--json PATH] [--markdown PATH]``.

Writes the raw figures as JSON and a Markdown page of tables. See
benchmarks/README.md for what each row measures. Nothing here asserts on
time: a slow machine makes slower numbers, never a failure.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import bench_calls
import bench_concurrency
import bench_floors
import bench_memory
import report
from contenders import Contender, load_contenders

HERE = Path(__file__).resolve().parent

#: Run lengths. The quick settings aim at a run of less than one minute.
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "repeats": 5,
        "block_ms": 3,
        "rejections": 2_000,
        "gather_tasks": 10_000,
        "gather_repeats": 3,
        "half_open_callers": 1_000,
        "half_open_reset_timeout": 0.05,
        "idle_breakers": 2_000,
    },
    "full": {
        "repeats": 31,
        "block_ms": 20,
        "rejections": 20_000,
        "gather_tasks": 10_000,
        "gather_repeats": 21,
        "half_open_callers": 1_000,
        "half_open_reset_timeout": 0.05,
        "idle_breakers": 20_000,
    },
}

#: Packages whose versions are reported.
PACKAGES = (
    "anybreaker",
    "anyio",
    "httpx",
    "pybreaker",
    "aiobreaker",
    "purgatory",
    "circuitbreaker",
    "aiocircuitbreaker",
    "interlock-cb",
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark anybreaker against other Python circuit breakers."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer and shorter repeats: under a minute, noisier figures",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=HERE / "results.json",
        metavar="PATH",
        help="file for the raw figures (default: %(default)s)",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        default=HERE / "RESULTS.md",
        metavar="PATH",
        help="file for the Markdown tables (default: %(default)s)",
    )
    return parser.parse_args(argv)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass

    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _metadata() -> dict[str, Any]:
    return {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "event_loop": "asyncio, default event loop policy",
        "versions": {package: _version(package) for package in PACKAGES},
        "load_before": _load(),
    }


def _describe(contenders: list[Contender]) -> dict[str, dict[str, str]]:
    return {
        contender.key: {
            "label": contender.label,
            "distribution": contender.distribution,
            "api": contender.api,
            "notes": contender.notes,
            "rejection_notes": contender.rejection_notes,
            "unavailable": contender.unavailable,
        }
        for contender in contenders
    }


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def _step(label: str, measurement: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    _progress(f"{label} ...")
    started = time.perf_counter()
    result = await measurement
    _progress(f"{label}: {time.perf_counter() - started:.0f} s")
    return result


async def _core_rows(
    contenders: list[Contender], settings: dict[str, Any]
) -> dict[str, Any]:
    block_ns = settings["block_ms"] * 1_000_000
    rows = await _step(
        "rows 1-3, closed success, closed failure and open rejection",
        bench_calls.run(
            contenders,
            repeats=settings["repeats"],
            block_ns=block_ns,
            rejections=settings["rejections"],
        ),
    )
    rows["floors"] = await _step(
        "floors of rows 2 and 3",
        bench_floors.run(repeats=settings["repeats"], block_ns=block_ns),
    )
    rows["gather"] = await _step(
        f"row 4, {settings['gather_tasks']:,} gathered tasks",
        bench_concurrency.run_gather(
            contenders,
            tasks=settings["gather_tasks"],
            repeats=settings["gather_repeats"],
        ),
    )
    rows["half_open"] = await _step(
        f"row 5, half-open with {settings['half_open_callers']:,} callers",
        bench_concurrency.run_half_open(
            contenders,
            callers=settings["half_open_callers"],
            reset_timeout=settings["half_open_reset_timeout"],
        ),
    )
    rows["memory"] = await _step(
        "row 6, memory per idle breaker",
        bench_memory.run(contenders, count=settings["idle_breakers"]),
    )
    return rows


def _transport_rows(quick: bool) -> dict[str, Any]:
    try:
        import bench_transport
    except ImportError as exc:
        return {"status": f"n/a (not built yet: {exc})"}

    _progress("rows 6 and 7, httpx transport ...")
    started = time.perf_counter()
    result: dict[str, Any] = bench_transport.run(quick)
    _progress(f"rows 6 and 7, httpx transport: {time.perf_counter() - started:.0f} s")
    return result


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # aiobreaker and aiocircuitbreaker call datetime.utcnow(), deprecated
    # since Python 3.12; the warning would repeat on every call.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    started = time.perf_counter()
    settings = {**SETTINGS["quick" if args.quick else "full"], "quick": args.quick}
    results: dict[str, Any] = {"meta": _metadata(), "settings": settings}
    contenders = load_contenders()
    results["contenders"] = _describe(contenders)
    for contender in contenders:
        if not contender.unavailable:
            results["meta"]["versions"][contender.distribution] = contender.version()

    rows = asyncio.run(_core_rows(contenders, settings))
    rows["transport"] = _transport_rows(args.quick)
    rows["redis"] = {
        "status": "n/a: anybreaker has no Redis-backed storage yet, so there is "
        "nothing to compare with the in-memory state."
    }
    results["rows"] = rows
    results["meta"]["load_after"] = _load()
    results["meta"]["wall_seconds"] = time.perf_counter() - started

    args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    page = report.render(results)
    args.markdown.write_text(page, encoding="utf-8")
    print(page)
    _progress(
        f"wrote {args.json} and {args.markdown} in "
        f"{results['meta']['wall_seconds']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
