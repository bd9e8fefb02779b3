"""Render the results of `run.py` as the Markdown page RESULTS.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Labels of the baselines and reference loops, by their keys in the results.
REFERENCE_LABELS = {
    "bare-await": "bare `await f()`",
    "plain-wrapper": "plain wrapper: one extra coroutine frame",
    "raise-and-catch": "raise and catch, no breaker",
    "no-breaker": "no breaker",
}

ANYBREAKER = "anybreaker-decorator"
#: The keys of the breaker and the pass-through layer in bench_transport's rows.
TRANSPORT_BREAKER = "mock+breaker"
TRANSPORT_FORWARDING = "mock+pass-through"
#: Labels of the three transports in every row of bench_transport, the server
#: row included, where the inner transport is httpx.AsyncHTTPTransport.
TRANSPORT_LAYERS = {
    "mock": "inner transport alone",
    TRANSPORT_FORWARDING: "behind a pass-through layer",
    TRANSPORT_BREAKER: "behind `CircuitBreakerTransport`",
}
#: The call that each row of bench_transport times.
TRANSPORT_ROWS = {
    "client": "`await client.get(url)` on an `httpx.AsyncClient` over "
    "`httpx.MockTransport`",
    "layer": "`await transport.handle_async_request(request)` called directly, "
    "over `httpx.MockTransport`",
    "stream": "The layer row, with a streamed body that is read to the end",
    "server": "`await client.get(url)` over `httpx.AsyncHTTPTransport` to an "
    "HTTP/1.1 server on 127.0.0.1 in the same event loop, with keep-alive",
}
NOT_BUILT = "n/a (not built yet)"


class Notes:
    """Numbered footnotes, each added once and cited by its number."""

    def __init__(self) -> None:
        self._texts: list[str] = []

    def cite(self, text: str) -> str:
        if text not in self._texts:
            self._texts.append(text)

        return f"[^{self._texts.index(text) + 1}]"

    def render(self) -> list[str]:
        return [f"[^{index}]: {text}" for index, text in enumerate(self._texts, 1)]


def ratio(value: float) -> str:
    return f"{value:.2f}x"


def whole(value: float) -> str:
    return f"{value:,.0f}"


def signed(value: float) -> str:
    return f"{value:+,.0f}"


def spread(values: dict[str, float], unit: Callable[[float], str] = whole) -> str:
    return f"{unit(values['low'])} to {unit(values['high'])}"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


class Page:
    """Builds RESULTS.md from the dictionary that `run.py` writes as JSON."""

    def __init__(self, results: dict[str, Any]) -> None:
        self.results = results
        self.rows = results["rows"]
        self.contenders: dict[str, dict[str, str]] = results["contenders"]
        self.notes = Notes()

    def label(self, key: str) -> str:
        if key in REFERENCE_LABELS:
            return REFERENCE_LABELS[key]

        return self.contenders[key]["label"]

    def missing(self, key: str, row: dict[str, Any] | None = None) -> str | None:
        """Return the n/a cell for *key* in *row*, or None if it was measured."""
        contender = self.contenders.get(key, {})
        if contender.get("unavailable"):
            return "n/a" + self.notes.cite(f"{key}: {contender['unavailable']}.")

        error = (row or {}).get("errors", {}).get(key)
        if error:
            return "n/a" + self.notes.cite(f"{key}: {error}; not measured.")

        return None

    def render(self) -> str:
        lines = self._header()
        lines += self._summary()
        lines += self._targets()
        lines += self._calls("success", "1. Closed-state success")
        lines += self._calls("failure", "2. Closed-state failure below the threshold")
        lines += self._calls("open", "3. Open-state rejection")
        lines += self._gather()
        lines += self._half_open()
        lines += self._memory()
        lines += self._transport()
        lines += ["## 8. Redis-backed state", "", self.rows["redis"]["status"], ""]
        lines += self._floors()
        lines += ["## Notes", "", *self.notes.render(), ""]
        return "\n".join(lines)

    # -- header and summary ------------------------------------------------------

    def _header(self) -> list[str]:
        meta = self.results["meta"]
        settings = self.results["settings"]
        kind = "Quick run" if settings["quick"] else "Full run"
        lines = [
            "# Benchmark results",
            "",
            f"{kind} of `{meta['command']}` on {meta['date']}, "
            f"{meta['wall_seconds']:.0f} s wall time.",
            "",
            f"- Python: {meta['python']} on {meta['platform']}",
            f"- CPU: {meta['cpu']}, {meta['logical_cpus']} logical CPUs; "
            f"load average {meta['load_before']} before and "
            f"{meta['load_after']} after the run",
            f"- Event loop: {meta['event_loop']}",
            f"- Repeats: {settings['repeats']} per call row, each contender's "
            f"block lasting about {settings['block_ms']} ms; "
            f"{settings['gather_repeats']} per concurrency row. The garbage "
            "collector is off during the blocks of rows 1 to 3.",
            "",
            "Ratios are medians over the repeats of a contender's time divided by "
            "the baseline's time in the same repeat; each range column gives the "
            "lowest and highest value over the repeats. Block order rotates every "
            "repeat.",
            "",
        ]
        versions = [[name, version] for name, version in meta["versions"].items()]
        lines += table(["package", "version"], versions)
        apis = []
        for contender in self.contenders.values():
            api = contender["api"]
            if contender["notes"]:
                api += self.notes.cite(contender["notes"])

            apis.append([contender["label"], api])

        return lines + table(["contender", "measured call"], apis)

    def _summary(self) -> list[str]:
        header = [
            "contender",
            "1 success, x bare await",
            "2 failure, x raise-and-catch",
            "3 rejection, x raise-and-catch",
            "3 bytes kept per rejection",
            "4 10,000 tasks, x no breaker (GC off)",
            "4 same, GC on",
            "5 trials admitted of 1,000",
            "6 bytes per idle breaker",
        ]
        rows = [[self.label(key), *self._summary_cells(key)] for key in self.contenders]
        return ["## Summary", "", *table(header, rows)]

    def _summary_cells(self, key: str) -> list[str]:
        cells = []
        for name in ("success", "failure", "open"):
            row = self.rows[name]
            cells.append(self.missing(key, row) or ratio(row["ratio"][key]["median"]))

        retained = self.rows["open"]["retained_bytes_per_rejection"]
        cells.append(
            self.missing(key, self.rows["open"])
            or whole(retained[key]) + self._rejection_note(key)
        )
        gather = self.rows["gather"]
        for mode in ("gc_off", "gc_on"):
            value = gather[mode]["ratio"].get(key)
            cells.append(self.missing(key, gather) or ratio(value["median"]))

        cells.append(self._admitted(key))
        memory = self.rows["memory"]["bytes_per_breaker"]
        if key in memory:
            cells.append(whole(memory[key]))
        else:
            cells.append(self.missing(key) or "as above")

        return cells

    def _rejection_note(self, key: str) -> str:
        text = self.contenders.get(key, {}).get("rejection_notes")
        return self.notes.cite(text) if text else ""

    def _admitted(self, key: str) -> str:
        missing = self.missing(key)
        if missing:
            return missing

        result = self.rows["half_open"]["results"][key]
        if "error" in result:
            return "n/a" + self.notes.cite(f"{key}: {result['error']}.")

        cell = whole(result["admitted"])
        if not result["all_arrived_before_release"]:
            cell += self.notes.cite(
                f"{key}: not every caller reached the breaker within 10 s, so "
                "the trial was released early."
            )

        return cell

    def _targets(self) -> list[str]:
        rows = self.rows
        key = ANYBREAKER
        memory = rows["memory"]["bytes_per_breaker"].get(key, float("nan"))
        gather = rows["gather"]
        blocks = gather["memory"]
        extra_blocks = (
            blocks[key]["blocks_per_call"] - blocks["plain-wrapper"]["blocks_per_call"]
        )
        checks = [
            (
                "1 closed success",
                "<= 2.5x bare await",
                rows["success"]["ratio"][key],
                2.5,
                ratio,
            ),
            (
                "2 closed failure",
                "<= 2x raise-and-catch",
                rows["failure"]["ratio"][key],
                2.0,
                ratio,
            ),
            (
                "3 open rejection",
                "<= 1.5x raise-and-catch",
                rows["open"]["ratio"][key],
                1.5,
                ratio,
            ),
            (
                "3 memory kept per rejection",
                "about 0 bytes (< 1)",
                rows["open"]["retained_bytes_per_rejection"][key],
                1.0,
                lambda value: f"{value:.2f} bytes",
            ),
            (
                "4 10,000 tasks, GC off",
                "<= 1.10x no breaker",
                gather["gc_off"]["ratio"][key],
                1.10,
                ratio,
            ),
            (
                "4 blocks allocated per call",
                "no more than a plain wrapper",
                extra_blocks,
                0.5,
                lambda value: f"{value:+.2f} blocks vs plain wrapper",
            ),
            (
                "5 half-open trials",
                "exactly 1 of 1,000",
                rows["half_open"]["results"][key].get("admitted", float("nan")),
                1,
                whole,
            ),
            (
                "6 memory per idle breaker",
                "<= 200 bytes",
                memory,
                200,
                whole,
            ),
        ]
        table_rows = []
        for name, target, measured, limit, unit in checks:
            # Ratio rows are judged on their median; the range is shown beside it.
            if isinstance(measured, dict):
                value = measured["median"]
                cell = f"{unit(value)} ({spread(measured, unit)})"
            else:
                value = measured
                cell = unit(value)

            met = value == limit if name.startswith("5") else value <= limit
            table_rows.append([name, target, cell, "met" if met else "missed"])

        transport = rows["transport"]
        for name in ("client", "layer", "stream", "server"):
            title = f"7 transport, closed: {name} row"
            row = transport.get(name)
            if row is None:
                table_rows.append([title, "<= +1 µs per request", NOT_BUILT, "—"])
                continue

            added = row["added_ns"][TRANSPORT_BREAKER]
            table_rows.append(
                [
                    title,
                    "<= +1 µs per request",
                    f"{added['median']:+,.0f} ns ({spread(added, signed)} ns)",
                    _transport_status(row),
                ]
            )

        return [
            "## Targets for anybreaker `@breaker`",
            "",
            *table(["row", "target", "measured: median (range)", "status"], table_rows),
        ]

    # -- rows 1 to 3 -----------------------------------------------------------

    def _calls(self, name: str, title: str) -> list[str]:
        row = self.rows[name]
        header = [
            "contender",
            "ns per call",
            "range",
            f"x {self.label(row['baseline'])}",
            "range",
        ]
        if name != "success":
            header.append(f"x {self.label('bare-await')}")

        if name == "open":
            header.append("bytes kept per rejection")

        table_rows = []
        for key in [*row["ns"], *self.contenders]:
            if key in row["ns"]:
                cells = [
                    self.label(key),
                    whole(row["ns"][key]["median"]),
                    spread(row["ns"][key]),
                    ratio(row["ratio"][key]["median"]),
                    spread(row["ratio"][key], ratio),
                ]
                if name != "success":
                    to_bare = row["ratio_to_bare_await"][key]["median"]
                    cells.append(ratio(to_bare))

                if name == "open":
                    retained = row["retained_bytes_per_rejection"].get(key)
                    if retained is None:
                        cells.append("")
                    else:
                        cells.append(f"{retained:,.1f}" + self._rejection_note(key))
            else:
                cells = [self.label(key), self.missing(key, row) or "n/a"]
                cells += [""] * (len(header) - 2)
            table_rows.append(cells)

        lines = [f"## {title}", ""]
        if name == "open":
            lines += [
                f"Bytes kept: memory still allocated, traced with tracemalloc, "
                f"after {row['rejections_traced']:,} rejections, divided by "
                "their number.",
                "",
            ]

        return lines + table(header, _unique(table_rows))

    # -- rows 4 to 6 -----------------------------------------------------------

    def _gather(self) -> list[str]:
        gather = self.rows["gather"]
        memory = gather["memory"]
        plain = memory["plain-wrapper"]
        header = [
            "contender",
            "ms, GC off",
            "x no breaker",
            "range",
            "ms, GC on",
            "x no breaker",
            "range",
            "bytes per call in flight",
            "blocks per call",
            "blocks vs plain wrapper",
        ]
        table_rows = []
        for key in [*gather["gc_off"]["wall_ms"], *self.contenders]:
            if key not in gather["gc_off"]["wall_ms"]:
                cells = [self.label(key), self.missing(key, gather) or "n/a"]
                table_rows.append(cells + [""] * (len(header) - 2))
                continue

            cells = [self.label(key)]
            for mode in ("gc_off", "gc_on"):
                cells += [
                    f"{gather[mode]['wall_ms'][key]['median']:.1f}",
                    ratio(gather[mode]["ratio"][key]["median"]),
                    spread(gather[mode]["ratio"][key], ratio),
                ]

            cells += [
                whole(memory[key]["bytes_per_call"]),
                f"{memory[key]['blocks_per_call']:.1f}",
                f"{memory[key]['blocks_per_call'] - plain['blocks_per_call']:+.1f}",
            ]
            table_rows.append(cells)

        return [
            f"## 4. {gather['tasks']:,} tasks gathered through one breaker",
            "",
            "Each task awaits `asyncio.sleep(0)` through the contender; the time "
            "covers creating the coroutines, `asyncio.gather` and every step of "
            "the tasks. The memory columns are traced with tracemalloc while "
            "every task is suspended in `asyncio.sleep(0)`: bytes and memory "
            "blocks per call, gathering machinery included.",
            "",
            *table(header, _unique(table_rows)),
        ]

    def _half_open(self) -> list[str]:
        half_open = self.rows["half_open"]
        header = ["contender", "reached the function", "rejected", "other errors"]
        table_rows = []
        for key in self.contenders:
            result = half_open["results"].get(key)
            if result is None or "error" in result:
                cell = self._admitted(key)
                table_rows.append([self.label(key), cell, "", ""])
                continue

            table_rows.append(
                [
                    self.label(key),
                    self._admitted(key),
                    whole(result["rejected"]),
                    whole(result["other_errors"]),
                ]
            )

        return [
            "## 5. Half-open with 1,000 concurrent callers",
            "",
            f"The circuit is opened by one failure, its reset timeout "
            f"({half_open['reset_timeout']} s) is left to pass, then "
            f"{half_open['callers']:,} tasks call it at once. The protected "
            "function blocks until every caller has either entered it or been "
            "rejected, so a trial that succeeds cannot close the circuit and "
            "let the rest in legitimately.",
            "",
            *table(header, table_rows),
        ]

    def _memory(self) -> list[str]:
        memory = self.rows["memory"]
        header = ["library", "bytes per idle breaker"]
        table_rows = []
        for key in self.contenders:
            value = memory["bytes_per_breaker"].get(key)
            if value is not None:
                library = self.contenders[key]["distribution"]
                table_rows.append([library, whole(value)])
            elif self.missing(key):
                table_rows.append([self.label(key), self.missing(key) or ""])

        transport = self.rows["transport"]
        if "memory" in transport:
            per_host = transport["memory"]
            host_cell = (
                f"{whole(per_host['bytes_per_host'])} bytes per host, key "
                f"included, with {per_host['hosts']:,} hosts"
            )
        else:
            host_cell = NOT_BUILT

        return [
            "## 6. Memory",
            "",
            f"Traced with tracemalloc over {memory['breakers']:,} breakers built "
            "with each library's default settings, names allocated beforehand.",
            "",
            *table(header, table_rows),
            f"anybreaker's httpx transport registry: {host_cell}."
            + self.notes.cite(
                "Of the peers, only interlock-cb ships an httpx transport with a "
                "per-host registry; it is not measured here."
            ),
            "",
        ]

    # -- row 7 and the floors ----------------------------------------------------

    def _transport(self) -> list[str]:
        transport = self.rows["transport"]
        lines = [
            "## 7. httpx transport",
            "",
            "Measured by `benchmarks/bench_transport.py`. Each row compares the "
            "inner transport alone, behind a pass-through layer that only awaits "
            "it, and behind `CircuitBreakerTransport`, whose circuit stays closed. "
            "Added ns is the difference to the inner transport alone in the same "
            "repeat.",
            "",
        ]
        if "status" in transport:
            return [*lines, transport["status"], ""]

        for name, description in TRANSPORT_ROWS.items():
            row = transport.get(name)
            if row is None:
                lines += [f"### {name}", "", f"{description}: {NOT_BUILT}.", ""]
                continue

            header = ["layers", "ns per request", "range", "added ns", "ratio"]
            table_rows = [
                [
                    TRANSPORT_LAYERS.get(key, f"`{key}`"),
                    whole(row["ns"][key]["median"]),
                    spread(row["ns"][key]),
                    f"{row['added_ns'][key]['median']:+,.0f}",
                    ratio(row["ratio"][key]["median"]),
                ]
                for key in row["ns"]
            ]
            lines += [f"### {name}", "", f"{description}.", ""]
            lines += table(header, table_rows)

        return lines

    def _floors(self) -> list[str]:
        floors = self.rows["floors"]
        lines = [
            "## What bounds rows 2 and 3",
            "",
            "Each ladder adds one step of a guarded failure or rejection to the "
            "raise-and-catch baseline; a step's ratio is the floor for any "
            "breaker that takes that step on this interpreter.",
            "",
        ]
        for name, title in (("failure", "Failure"), ("open", "Rejection")):
            ladder = floors[name]
            table_rows = [
                [
                    self.label(step) if step in REFERENCE_LABELS else step,
                    whole(ladder["ns"][step]["median"]),
                    ratio(ladder["ratio"][step]["median"]),
                    spread(ladder["ratio"][step], ratio),
                ]
                for step in ladder["steps"]
            ]
            lines += [f"### {title}", ""]
            lines += table(["step", "ns per call", "ratio", "range"], table_rows)

        return lines


def _transport_status(row: dict[str, Any]) -> str:
    """Judge the +1 µs target on the median, unless the row is too noisy.

    The pass-through layer does nothing but await, so the range of what it
    adds over the repeats is the row's noise. Where that range is wider than
    the target itself, as in rows that time whole requests on a busy machine,
    the median can land on either side of the target by chance.
    """
    noise = row["added_ns"][TRANSPORT_FORWARDING]
    if noise["high"] - noise["low"] > 1000:
        return (
            "not resolved: the pass-through layer measures "
            f"{noise['low']:+,.0f} to {noise['high']:+,.0f} ns"
        )

    return "met" if row["added_ns"][TRANSPORT_BREAKER]["median"] <= 1000 else "missed"


def _unique(rows: list[list[str]]) -> list[list[str]]:
    """Drop rows whose label repeats an earlier row's."""
    seen: set[str] = set()
    unique = []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)

    return unique


def render(results: dict[str, Any]) -> str:
    """Return RESULTS.md for *results*."""
    return Page(results).render()
