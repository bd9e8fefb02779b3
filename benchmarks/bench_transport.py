"""The cost of `CircuitBreakerTransport` per request, and its memory per host.

Four rows of timings, each interleaved with `harness.interleave`:

* client: ``await client.get(url)`` through ``httpx.AsyncClient`` over an
  ``httpx.MockTransport``, alone, behind a pass-through layer that only
  awaits the mock, and behind the breaker transport;
* layer: ``await transport.handle_async_request(request)`` called directly on
  the same three, so the breaker's own cost is not hidden by the client's;
* stream: the layer row again, except that the mock returns a streamed body
  that is then read to the end, which the breaker must wrap. Real transports
  such as ``httpx.AsyncHTTPTransport`` always return streamed bodies;
* server: ``await client.get(url)`` against a minimal HTTP/1.1 server on
  127.0.0.1 in the same event loop, through ``httpx.AsyncHTTPTransport``
  with keep-alive, alone, behind the pass-through layer and behind the
  breaker. The server's own work is part of every sample.

Every request goes to one host whose circuit stays closed. Then the memory of
100,000 idle hosts in the registry, keys included, is measured with
tracemalloc.

Run ``python benchmarks/bench_transport.py [--quick]`` from the repository.

NOTE: on a 2-vCPU VM with Python 3.11, the breaker adds about 0.6 µs in the
layer row but about 2 µs in the client row. Removing any one of its steps
(key, registry lookup, report) from the client-row path removed almost all
of the difference, so the extra cost is not the sum of the steps, and its
cause was not found.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx

from anybreaker._demo_http import serve_http
from anybreaker.httpx import CircuitBreakerTransport
from harness import Runner, Spread, calibrate, interleave, ratios

URL = "https://api.example.com/items"
#: Idle hosts whose registry memory is measured.
HOSTS = 100_000

PLAIN = "mock"
FORWARD = "mock+pass-through"
BREAKER = "mock+breaker"


class PassThrough(httpx.AsyncBaseTransport):
    """A layer that only awaits its inner transport: the floor for any wrapper."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)


class OneChunk(httpx.AsyncByteStream):
    """A streamed body of one chunk, like a small response off the network."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"ok"


def _fresh_response(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"ok")


def _streamed_response(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, stream=OneChunk())


def _three_ways(inner: httpx.AsyncBaseTransport) -> dict[str, httpx.AsyncBaseTransport]:
    return {
        PLAIN: inner,
        FORWARD: PassThrough(inner),
        BREAKER: CircuitBreakerTransport(inner),
    }


def _client_loop(client: httpx.AsyncClient, url: str = URL) -> Runner:
    async def loop(count: int) -> None:
        get = client.get
        for _ in range(count):
            await get(url)

    return loop


def _layer_loop(transport: httpx.AsyncBaseTransport) -> Runner:
    request = httpx.Request("GET", URL)
    handle = transport.handle_async_request

    async def loop(count: int) -> None:
        for _ in range(count):
            await handle(request)

    return loop


def _stream_loop(transport: httpx.AsyncBaseTransport) -> Runner:
    request = httpx.Request("GET", URL)
    handle = transport.handle_async_request

    async def loop(count: int) -> None:
        for _ in range(count):
            response = await handle(request)
            await response.aread()

    return loop


async def _row(
    runners: dict[str, Runner], baseline: str, *, repeats: int, block_ns: int
) -> dict[str, Any]:
    counts = {key: await calibrate(runner, block_ns) for key, runner in runners.items()}
    samples = await interleave(runners, counts, repeats=repeats)
    return {
        "baseline": baseline,
        "requests_per_block": counts,
        "ns": {key: Spread.of(values).as_dict() for key, values in samples.items()},
        "ratio": {
            key: ratios(values, samples[baseline]).as_dict()
            for key, values in samples.items()
        },
        "added_ns": {
            key: Spread.of(
                [
                    value - base
                    for value, base in zip(values, samples[baseline], strict=True)
                ]
            ).as_dict()
            for key, values in samples.items()
        },
    }


async def _time_client(*, repeats: int, block_ns: int) -> dict[str, Any]:
    transports = _three_ways(httpx.MockTransport(_fresh_response))
    clients = {
        name: httpx.AsyncClient(transport=transport)
        for name, transport in transports.items()
    }
    runners = {name: _client_loop(client) for name, client in clients.items()}
    try:
        return await _row(runners, PLAIN, repeats=repeats, block_ns=block_ns)
    finally:
        for client in clients.values():
            await client.aclose()


async def _time_layer(*, repeats: int, block_ns: int) -> dict[str, Any]:
    # One prepared response, returned every time, so that the mock costs as
    # little as possible and the layers above it dominate the timing.
    response = httpx.Response(200, content=b"ok")
    transports = _three_ways(httpx.MockTransport(lambda request: response))
    runners = {name: _layer_loop(transport) for name, transport in transports.items()}
    return await _row(runners, PLAIN, repeats=repeats, block_ns=block_ns)


async def _time_stream(*, repeats: int, block_ns: int) -> dict[str, Any]:
    transports = _three_ways(httpx.MockTransport(_streamed_response))
    runners = {name: _stream_loop(transport) for name, transport in transports.items()}
    return await _row(runners, PLAIN, repeats=repeats, block_ns=block_ns)


async def _time_server(*, repeats: int, block_ns: int) -> dict[str, Any]:
    async with anyio.create_task_group() as servers:
        port = await serve_http(servers, lambda: 200)
        url = f"http://127.0.0.1:{port}/"
        # Each way gets its own connection pool, so that they share nothing.
        clients = {
            name: httpx.AsyncClient(transport=transport, trust_env=False)
            for name, transport in {
                PLAIN: httpx.AsyncHTTPTransport(),
                FORWARD: PassThrough(httpx.AsyncHTTPTransport()),
                BREAKER: CircuitBreakerTransport(httpx.AsyncHTTPTransport()),
            }.items()
        }
        runners = {name: _client_loop(client, url) for name, client in clients.items()}
        try:
            row = await _row(runners, PLAIN, repeats=repeats, block_ns=block_ns)
        finally:
            for client in clients.values():
                await client.aclose()

            servers.cancel_scope.cancel()

    return row


def measure_memory(hosts: int = HOSTS) -> dict[str, float]:
    """Return the bytes that *hosts* idle hosts add to a transport's registry.

    Each host is registered through `CircuitBreakerTransport.breaker_for`,
    which stores the same key string and breaker as a first request does.
    """
    transport = CircuitBreakerTransport(
        httpx.MockTransport(_fresh_response), max_hosts=hosts
    )
    urls = [f"https://host-{index:06d}.example.com/" for index in range(hosts)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for url in urls:
            transport.breaker_for(url)

        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    if len(transport.breakers()) != hosts:
        raise RuntimeError(
            f"expected {hosts} breakers, got {len(transport.breakers())}"
        )

    return {"hosts": hosts, "bytes_per_host": (after - before) / hosts}


def run(quick: bool = False) -> dict[str, Any]:
    """Run every measurement and return the raw figures.

    The result maps ``client``, ``layer``, ``stream`` and ``server`` to rows,
    and ``memory`` to the bytes per idle host. A row gives ns per request as
    median, low and high over the repeats. It also gives the ratio to the
    row's baseline and the ns added over it, both computed per repeat from
    paired samples. Every row keys its three ways as ``mock``,
    ``mock+pass-through`` and ``mock+breaker``, even the server row, whose
    innermost transport is the real ``httpx.AsyncHTTPTransport``.
    """
    repeats = 5 if quick else 31
    block_ns = 20_000_000 if quick else 50_000_000
    timings = {
        name: asyncio.run(time_row(repeats=repeats, block_ns=block_ns))
        for name, time_row in (
            ("client", _time_client),
            ("layer", _time_layer),
            ("stream", _time_stream),
            ("server", _time_server),
        )
    }
    return {**timings, "memory": measure_memory(20_000 if quick else HOSTS)}


def _print(results: dict[str, Any]) -> None:
    for name in ("client", "layer", "stream", "server"):
        row = results[name]
        print(f"{name} row (baseline {row['baseline']}):")
        for key, spread in row["ns"].items():
            ratio = row["ratio"][key]["median"]
            added = row["added_ns"][key]["median"]
            print(
                f"  {key:<20} {spread['median']:10.0f} ns/request "
                f"(low {spread['low']:.0f}, high {spread['high']:.0f})  "
                f"x{ratio:.3f}  {added:+.0f} ns"
            )

    memory = results["memory"]
    print(
        f"memory: {memory['bytes_per_host']:.0f} bytes per idle host "
        f"({memory['hosts']} hosts, key included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short, noisier run")
    args = parser.parse_args()
    _print(run(args.quick))


if __name__ == "__main__":
    main()
