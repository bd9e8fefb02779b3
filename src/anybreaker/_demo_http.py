"""``anybreaker demo --http``: one healthy and one flaky HTTP server, per host.

Both servers listen on 127.0.0.1 on ports the operating system picks, and
stop when the demo ends. The client sends nothing to any other address:
it ignores proxy settings from the environment.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import httpx

from ._demo import EMOJI, Symbols, _HeldTransitions
from ._errors import CircuitOpenError
from ._state import CircuitState
from .httpx import CircuitBreakerTransport, host_key

__all__ = ["HostTally", "HttpDemoResult", "run_http_demo", "serve_http"]

#: Chooses the status code of a response to one request.
StatusPicker = Callable[[], int]

_REASONS = {200: "OK", 503: "Service Unavailable"}
# Maximum size in bytes of a request head that the demo servers accept.
_MAX_HEAD = 16 * 1024


@dataclass
class HostTally:
    """The outcomes of the demo's requests to one host."""

    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    final_state: CircuitState = CircuitState.CLOSED


@dataclass
class HttpDemoResult:
    """The tallies of the healthy and the flaky host."""

    healthy: HostTally = field(default_factory=HostTally)
    flaky: HostTally = field(default_factory=HostTally)


async def serve_http(task_group: anyio.abc.TaskGroup, pick_status: StatusPicker) -> int:
    """Start a minimal HTTP/1.1 server on 127.0.0.1 and return its port.

    Each request gets a response with the status that *pick_status* returns
    and a short text body. Connections are kept alive. The server runs in
    *task_group* until that group is cancelled.
    """
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    # S610 is meant for Django's QuerySet.extra, not anyio's typed attributes.
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610

    async def handle(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            await _answer_requests(stream, pick_status)

    async def serve() -> None:
        async with listener:
            await listener.serve(handle)

    task_group.start_soon(serve)
    return port


async def _answer_requests(
    stream: anyio.abc.ByteStream, pick_status: StatusPicker
) -> None:
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            if len(buffer) > _MAX_HEAD:
                return

            try:
                buffer += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return

        # The demo's client sends only GET requests, which have no body, and
        # every response is the same whatever the request line contains.
        _, buffer = buffer.split(b"\r\n\r\n", 1)
        status = pick_status()
        body = b"ok\n" if status < 400 else b"unavailable\n"
        response = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode("ascii") + body
        try:
            await stream.send(response)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return


async def run_http_demo(
    *,
    calls: int = 29,
    interval: float = 1.0,
    failure_rate: float = 0.6,
    fail_max: int = 2,
    reset_timeout: float = 3.0,
    seed: int | None = None,
    symbols: Symbols = EMOJI,
    out: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
) -> HttpDemoResult:
    """Call a healthy and a flaky local HTTP server through one breaker transport.

    Each of the *calls* rounds sends one GET to each server through one
    `httpx.AsyncClient` with a `CircuitBreakerTransport`, prints a line per
    host, and waits *interval* seconds with *sleep*. The flaky server
    responds with 503 with probability *failure_rate*, drawn from a PRNG
    seeded with *seed*, so its circuit opens while the healthy host keeps
    responding. The breakers read *clock*. Tests pass a fake clock and sleep.
    """
    rng = random.Random(seed)
    result = HttpDemoResult()
    async with anyio.create_task_group() as servers:
        healthy_port = await serve_http(servers, lambda: 200)
        flaky_port = await serve_http(
            servers, lambda: 503 if rng.random() < failure_rate else 200
        )
        hosts = {
            "healthy": (f"http://127.0.0.1:{healthy_port}/", result.healthy),
            "flaky": (f"http://127.0.0.1:{flaky_port}/", result.flaky),
        }
        labels = {
            host_key(httpx.Request("GET", url)): label
            for label, (url, _) in hosts.items()
        }
        out(
            f"healthy host: http://127.0.0.1:{healthy_port}, flaky host: "
            f"http://127.0.0.1:{flaky_port} (fails {failure_rate:.0%} of requests)"
        )
        transitions = _HeldTransitions(symbols, labels)
        transport = CircuitBreakerTransport(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            clock=clock,
            listeners=[transitions],
        )
        # trust_env=False: proxy variables must not send the demo's requests
        # anywhere but 127.0.0.1.
        async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
            for number in range(1, calls + 1):
                for label, (url, tally) in hosts.items():
                    outcome = await _call(client, url, tally, symbols)
                    call_line = f"Call {number} {label + ':':<8} {outcome}"
                    transitions.print_call(out, call_line)

                if number < calls:
                    await sleep(interval)

            for url, tally in hosts.values():
                tally.final_state = transport.breaker_for(url).state

        servers.cancel_scope.cancel()

    for label, (_, tally) in hosts.items():
        out(
            f"{label}: {tally.succeeded} succeeded, {tally.failed} failed, "
            f"{tally.rejected} rejected; the circuit ends {tally.final_state}"
        )

    return result


async def _call(
    client: httpx.AsyncClient, url: str, tally: HostTally, symbols: Symbols
) -> str:
    """Send one GET to *url*, count its outcome in *tally* and describe it."""
    try:
        response = await client.get(url)
    except CircuitOpenError as error:
        tally.rejected += 1
        return f"{symbols.rejected} {error.state} (retry in {error.retry_after:.1f} s)"
    except httpx.TransportError as error:
        tally.failed += 1
        return f"{symbols.fail} ({type(error).__name__})"

    if response.status_code >= 500:
        tally.failed += 1
        return f"{symbols.fail} ({response.status_code})"

    tally.succeeded += 1
    return f"{symbols.ok} ({response.status_code})"
