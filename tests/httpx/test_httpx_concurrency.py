"""Concurrent requests through one transport, on asyncio and trio."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
import respx

from anybreaker import CircuitOpenError, CircuitState
from anybreaker.httpx import CircuitBreakerTransport

if TYPE_CHECKING:
    from conftest import FakeClock

pytestmark = pytest.mark.anyio

A = "https://a.example/"


async def test_half_open_admits_one_of_100(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    release = anyio.Event()
    arrived = 0

    async def trial(request: httpx.Request) -> httpx.Response:
        nonlocal arrived
        arrived += 1
        await release.wait()
        return httpx.Response(200)

    route = respx_mock.get(A).respond(500)
    transport = CircuitBreakerTransport(fail_max=1, reset_timeout=10.0, clock=clock)
    outcomes: list[object] = []

    async def request(client: httpx.AsyncClient) -> None:
        try:
            response = await client.get(A)
        except CircuitOpenError as error:
            outcomes.append(error.state)
        else:
            outcomes.append(response.status_code)

    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        await client.get(A)
        assert transport.breaker_for(A).state is CircuitState.OPEN
        clock.advance(10.0)
        route.mock(side_effect=trial)
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(request, client)

            await anyio.wait_all_tasks_blocked()
            assert arrived == 1
            assert outcomes.count(CircuitState.HALF_OPEN) == 99
            release.set()

    assert arrived == 1
    assert outcomes.count(200) == 1
    assert outcomes.count(CircuitState.HALF_OPEN) == 99
    assert transport.breaker_for(A).state is CircuitState.CLOSED


async def test_closed_requests_run_concurrently(clock: FakeClock) -> None:
    gate = anyio.Event()
    inside = 0

    async def wait_for_all(request: httpx.Request) -> httpx.Response:
        nonlocal inside
        inside += 1
        if inside == 100:
            gate.set()

        await gate.wait()
        return httpx.Response(200)

    transport = CircuitBreakerTransport(httpx.MockTransport(wait_for_all), clock=clock)
    async with (
        httpx.AsyncClient(transport=transport) as client,
        anyio.create_task_group() as tg,
    ):
        for number in range(100):
            tg.start_soon(client.get, f"https://host{number % 3}.example/")

    assert inside == 100
    assert {b.state for b in transport.breakers().values()} == {CircuitState.CLOSED}
