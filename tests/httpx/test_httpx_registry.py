"""The bounded registry of per-host breakers and the order it evicts them in."""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest

from anybreaker import CircuitBreaker, CircuitOpenError, CircuitState
from anybreaker.httpx import CircuitBreakerTransport

if TYPE_CHECKING:
    from conftest import FakeClock

pytestmark = pytest.mark.anyio


class UpstreamError(Exception):
    pass


async def fail() -> None:
    raise UpstreamError("upstream failed")


async def count_failures(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(UpstreamError):
            await breaker.call(fail)


def url(name: str) -> str:
    return f"https://{name}.example"


def kept(transport: CircuitBreakerTransport) -> set[str]:
    return {key.removeprefix("https://").split(".")[0] for key in transport.breakers()}


async def test_evicts_least_recently_used(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(max_hosts=3, clock=clock)
    for name in "abc":
        transport.breaker_for(url(name))

    transport.breaker_for(url("a"))
    transport.breaker_for(url("d"))

    assert kept(transport) == {"a", "c", "d"}


async def test_new_breaker_is_never_evicted(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(fail_max=1, max_hosts=1, clock=clock)
    await count_failures(transport.breaker_for(url("a")), 1)
    new = transport.breaker_for(url("b"))

    assert kept(transport) == {"b"}
    assert transport.breaker_for(url("b")) is new


async def test_keeps_failing_over_healthy(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(fail_max=3, max_hosts=2, clock=clock)
    await count_failures(transport.breaker_for(url("a")), 1)
    transport.breaker_for(url("b"))
    transport.breaker_for(url("c"))

    assert kept(transport) == {"a", "c"}
    assert transport.breaker_for(url("a")).failure_count == 1


async def test_keeps_open_over_failing(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(fail_max=2, max_hosts=2, clock=clock)
    await count_failures(transport.breaker_for(url("a")), 2)
    await count_failures(transport.breaker_for(url("b")), 1)
    transport.breaker_for(url("c"))

    assert kept(transport) == {"a", "c"}
    assert transport.breaker_for(url("a")).state is CircuitState.OPEN


async def test_keeps_open_over_half_open(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(
        fail_max=1, reset_timeout=10.0, max_hosts=2, clock=clock
    )
    await count_failures(transport.breaker_for(url("a")), 1)
    clock.advance(5.0)
    await count_failures(transport.breaker_for(url("b")), 1)
    clock.advance(5.0)
    trial = transport.breaker_for(url("a"))
    async with trial:
        assert trial.state is CircuitState.HALF_OPEN
        transport.breaker_for(url("c"))

    assert kept(transport) == {"b", "c"}
    assert transport.breaker_for(url("b")).state is CircuitState.OPEN


async def test_all_open_evicts_earliest_deadline(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(
        fail_max=1, reset_timeout=30.0, max_hosts=2, clock=clock
    )
    await count_failures(transport.breaker_for(url("a")), 1)
    clock.advance(5.0)
    await count_failures(transport.breaker_for(url("b")), 1)
    # a is used last, but its deadline comes first.
    with pytest.raises(CircuitOpenError):
        await transport.breaker_for(url("a")).call(fail)

    transport.breaker_for(url("c"))

    assert kept(transport) == {"b", "c"}


async def test_expired_open_goes_before_open(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(
        fail_max=1, reset_timeout=30.0, max_hosts=2, clock=clock
    )
    await count_failures(transport.breaker_for(url("a")), 1)
    clock.advance(10.0)
    await count_failures(transport.breaker_for(url("b")), 1)
    clock.advance(25.0)
    transport.breaker_for(url("a"))
    transport.breaker_for(url("c"))

    assert kept(transport) == {"b", "c"}


async def test_parked_breaker_rechecked_on_eviction(clock: FakeClock) -> None:
    release = anyio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slow":
            await release.wait()

        return httpx.Response(500)

    transport = CircuitBreakerTransport(
        httpx.MockTransport(answer), fail_max=2, max_hosts=2, clock=clock
    )
    async with (
        httpx.AsyncClient(transport=transport) as client,
        anyio.create_task_group() as tg,
    ):
        await client.get(url("a"))
        tg.start_soon(client.get, url("a") + "/slow")
        await anyio.wait_all_tasks_blocked()
        transport.breaker_for(url("b"))
        # Parks a, which has one failure, and evicts b, which has none.
        transport.breaker_for(url("c"))
        assert kept(transport) == {"a", "c"}
        # a's request in flight fails and opens a while it is parked.
        release.set()
        await anyio.wait_all_tasks_blocked()
        assert transport.breakers()[url("a") + ":443"].state is CircuitState.OPEN
        await client.get(url("c"))
        transport.breaker_for(url("d"))

    assert kept(transport) == {"a", "d"}


async def test_reparked_open_breaker_keeps_heap_small(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(
        fail_max=1, reset_timeout=30.0, max_hosts=4, clock=clock
    )
    await count_failures(transport.breaker_for(url("open")), 1)
    for round_number in range(1000):
        # Using the open host moves it back, and the next new host parks it.
        transport.breaker_for(url("open"))
        transport.breaker_for(url(f"host{round_number}"))

    registry = transport._registry
    assert len(registry._deadlines) <= 2 * len(registry._open) + 16
    assert url("open") + ":443" in transport.breakers()


# The registry does no I/O, so one event loop is enough, and the test spends
# seconds under tracemalloc.
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_bound_holds_with_100000_hosts(clock: FakeClock) -> None:
    ok = httpx.Response(200)
    failing = httpx.Response(503)

    def answer(request: httpx.Request) -> httpx.Response:
        return failing if request.extensions["host"].startswith("fail") else ok

    # Building 100,000 httpx.Request objects would take most of the test's
    # time, so one request is reused, with its host in an extension that
    # the key function reads.
    def host_from_extension(request: httpx.Request) -> str:
        return f"https://{request.extensions['host']}.example:443"

    max_hosts = 1000
    transport = CircuitBreakerTransport(
        httpx.MockTransport(answer),
        fail_max=1,
        reset_timeout=60.0,
        max_hosts=max_hosts,
        clock=clock,
        key=host_from_extension,
    )
    request = httpx.Request("GET", "https://example.com/")

    async def send(host: str) -> None:
        request.extensions["host"] = host
        await transport.handle_async_request(request)

    # A few open hosts keep being asked, so they are parked and brought back
    # over and over, which leaves stale entries in the deadline heap.
    for number in range(20):
        await send(f"fail-hot{number}")

    gc.collect()
    tracemalloc.start()
    try:
        for host in range(100_000):
            await send(f"fail{host}" if host % 10 == 0 else f"ok{host}")
            if host % 50 == 0:
                # Rejected while kept. Once every kept host is open, an
                # evicted hot host comes back closed and fails again.
                with contextlib.suppress(CircuitOpenError):
                    await send(f"fail-hot{host % 20}")

            if host == 10_000:
                gc.collect()
                early = tracemalloc.get_traced_memory()[0]

            assert len(transport._registry) <= max_hosts

        gc.collect()
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    breakers = transport.breakers()
    assert len(breakers) == max_hosts
    open_count = sum(b.state is CircuitState.OPEN for b in breakers.values())
    assert open_count >= max_hosts - 1
    # Keeping every host would add about 300 bytes for each of the 90,000
    # hosts after the first 10,000. A bounded registry adds at most about a
    # kilobyte per kept host, whatever shape its structures end up in.
    assert late - early < max_hosts * 1024


async def test_registry_of_default_keys_is_bounded(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(max_hosts=100, clock=clock)
    for number in range(5000):
        transport.breaker_for(f"https://host{number}.example")
        assert len(transport._registry) <= 100

    assert url("host4999") + ":443" in transport.breakers()
