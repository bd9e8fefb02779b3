"""The cost of `CircuitBreakerTransport` per request, and its memory per host.

Two rows of timings, each interleaved with `harness.interleave`:

* client: ``await client.get(url)`` through ``httpx.AsyncClient`` over an
  ``httpx.MockTransport``, with and without the breaker transport around it;
* layer: ``await transport.handle_async_request(request)`` called directly on
  the mock, on a pass-through layer that only awaits the mock, and on the
  breaker transport, so the breaker's own cost is not hidden by the client's.

Every request goes to one host whose circuit stays closed. Then the memory of
100,000 idle hosts in the registry, keys included, is measured with
tracemalloc.

Run ``python benchmarks/bench_transport.py [--quick]`` from the repository.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tracemalloc
from typing import Any

import httpx

from anybreaker.httpx import CircuitBreakerTransport
from harness import Runner, Spread, calibrate, interleave, ratios

URL = "https://api.example.com/items"
#: Idle hosts whose registry memory is measured.
HOSTS = 100_000

CLIENT_PLAIN = "client"
CLIENT_BREAKER = "client+breaker"
LAYER_PLAIN = "mock"
LAYER_FORWARD = "mock+pass-through"
LAYER_BREAKER = "mock+breaker"


class PassThrough(httpx.AsyncBaseTransport):
    """A layer that only awaits its inner transport: the floor for any wrapper."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)


def _fresh_response(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"ok")


def _client_loop(client: httpx.AsyncClient) -> Runner:
    async def loop(count: int) -> None:
        get = client.get
        for _ in range(count):
            await get(URL)

    return loop


def _layer_loop(transport: httpx.AsyncBaseTransport) -> Runner:
    request = httpx.Request("GET", URL)
    handle = transport.handle_async_request

    async def loop(count: int) -> None:
        for _ in range(count):
            await handle(request)

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
    plain = httpx.AsyncClient(transport=httpx.MockTransport(_fresh_response))
    guarded = httpx.AsyncClient(
        transport=CircuitBreakerTransport(httpx.MockTransport(_fresh_response))
    )
    async with plain, guarded:
        runners = {
            CLIENT_PLAIN: _client_loop(plain),
            CLIENT_BREAKER: _client_loop(guarded),
        }
        return await _row(runners, CLIENT_PLAIN, repeats=repeats, block_ns=block_ns)


async def _time_layer(*, repeats: int, block_ns: int) -> dict[str, Any]:
    # One prepared response, returned every time, so that the mock costs as
    # little as possible and the layers above it dominate the timing.
    response = httpx.Response(200, content=b"ok")
    mock = httpx.MockTransport(lambda request: response)
    runners = {
        LAYER_PLAIN: _layer_loop(mock),
        LAYER_FORWARD: _layer_loop(PassThrough(mock)),
        LAYER_BREAKER: _layer_loop(CircuitBreakerTransport(mock)),
    }
    return await _row(runners, LAYER_PLAIN, repeats=repeats, block_ns=block_ns)


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

    The result maps ``client`` and ``layer`` to rows and ``memory`` to the
    bytes per idle host. A row gives ns per request as median, low and high
    over the repeats. It also gives the ratio to the row's baseline and the
    ns added over it, both computed per repeat from paired samples.
    """
    repeats = 5 if quick else 21
    block_ns = 20_000_000 if quick else 100_000_000
    client = asyncio.run(_time_client(repeats=repeats, block_ns=block_ns))
    layer = asyncio.run(_time_layer(repeats=repeats, block_ns=block_ns))
    memory = measure_memory(20_000 if quick else HOSTS)
    return {"client": client, "layer": layer, "memory": memory}


def _print(results: dict[str, Any]) -> None:
    for name in ("client", "layer"):
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
