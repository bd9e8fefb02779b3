"""The ``anybreaker`` command line."""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

import anyio

from ._demo import ASCII, EMOJI, run_demo
from ._version import __version__

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None

    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")

    return value


def _seconds(minimum_exclusive: bool) -> type[float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number of seconds, got {text!r}"
            ) from None

        too_small = value <= 0 if minimum_exclusive else value < 0
        if too_small or not math.isfinite(value):
            bound = "> 0" if minimum_exclusive else ">= 0"
            raise argparse.ArgumentTypeError(
                f"expected a finite number of seconds {bound}, got {text}"
            )

        return value

    return parse  # type: ignore[return-value]


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number from 0 to 1, got {text!r}"
        ) from None

    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text}")

    return value


def _build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """Return the command's parser and the parser of its ``demo`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="anybreaker",
        description="An asyncio-native circuit breaker, built on anyio.",
    )
    parser.add_argument(
        "--version", action="version", version=f"anybreaker {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="show a circuit breaker guarding a flaky upstream",
        description=(
            "Call a flaky coroutine through a circuit breaker and print one "
            "line per call and one per state change. With --http, two HTTP "
            "servers on 127.0.0.1 (one healthy, one flaky) are called through "
            "the per-host httpx transport instead."
        ),
    )
    demo.add_argument(
        "--calls",
        type=_positive_int,
        default=29,
        metavar="N",
        help="number of calls to make (default: %(default)s)",
    )
    demo.add_argument(
        "--interval",
        type=_seconds(minimum_exclusive=False),
        default=1.0,
        metavar="SECONDS",
        help="seconds to wait between calls (default: %(default)s)",
    )
    demo.add_argument(
        "--failure-rate",
        type=_probability,
        default=0.6,
        metavar="P",
        help="probability from 0 to 1 that a call fails (default: %(default)s)",
    )
    demo.add_argument(
        "--fail-max",
        type=_positive_int,
        default=2,
        metavar="N",
        help="consecutive failures that open the circuit (default: %(default)s)",
    )
    demo.add_argument(
        "--reset-timeout",
        type=_seconds(minimum_exclusive=True),
        default=3.0,
        metavar="SECONDS",
        help="seconds the circuit stays open before a trial call "
        "(default: %(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="seed for the failures, to make a run reproducible "
        "(default: a new run each time)",
    )
    demo.add_argument(
        "--ascii",
        action="store_true",
        help="print plain words instead of emoji",
    )
    demo.add_argument(
        "--http",
        action="store_true",
        help="call two local HTTP servers through the httpx transport "
        "(needs the httpx extra: pip install 'anybreaker[httpx]')",
    )
    return parser, demo


def _can_print_emoji() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✅❌⛔⚡→".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False

    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``anybreaker`` command and return its exit status.

    The status is 0 on success, 1 when stdout closes before the output ends
    (as in ``anybreaker demo | head -1``) and 130 after Ctrl-C. Invalid
    arguments raise argparse's SystemExit with status 2.
    """
    try:
        return _run_command(argv)
    except* BrokenPipeError:
        # The --http demo's task group wraps the error in an ExceptionGroup.
        _discard_stdout()

    # Python's signal module documentation ("Note on SIGPIPE") recommends
    # exit status 1 here. The shell's 141 would need SIGPIPE's default
    # action. That page warns against it, because a write to a socket whose
    # peer has gone, as in the --http demo, would then kill the process too.
    return 1


def _discard_stdout() -> None:
    """Point stdout at the null device, where Python's flush at exit succeeds."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _run_command(argv: Sequence[str] | None) -> int:
    parser, demo_parser = _build_parsers()
    args = parser.parse_args(argv)
    symbols = ASCII if args.ascii or not _can_print_emoji() else EMOJI

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        if args.http:
            try:
                # httpx is an optional extra, so it is imported only here.
                from ._demo_http import run_http_demo  # noqa: PLC0415
            except ImportError as exc:
                demo_parser.error(
                    f"--http needs httpx, which is not installed ({exc}); "
                    "install it with: pip install 'anybreaker[httpx]'"
                )

            demo: Callable[..., Awaitable[object]] = run_http_demo
        else:
            demo = run_demo

        anyio.run(
            functools.partial(
                demo,
                calls=args.calls,
                interval=args.interval,
                failure_rate=args.failure_rate,
                fail_max=args.fail_max,
                reset_timeout=args.reset_timeout,
                seed=args.seed,
                symbols=symbols,
                out=out,
            )
        )
    except KeyboardInterrupt:
        return 130

    return 0
