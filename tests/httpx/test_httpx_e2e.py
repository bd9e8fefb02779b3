"""End to end: real HTTP servers on 127.0.0.1, on ports the system picks."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import httpx
import pytest
import uvicorn

from anybreaker import CircuitOpenError, CircuitState
from anybreaker._demo_http import serve_http
from anybreaker.httpx import CircuitBreakerTransport

if TYPE_CHECKING:
    from conftest import FakeClock

pytestmark = pytest.mark.anyio

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class DroppingServer:
    """Accepts TCP connections on 127.0.0.1 and closes each one at once."""

    def __init__(self) -> None:
        self.accepted = 0
        self.port = 0

    async def start(self, task_group: anyio.abc.TaskGroup) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610

        async def drop(stream: anyio.abc.ByteStream) -> None:
            self.accepted += 1
            await stream.aclose()

        async def serve() -> None:
            async with listener:
                await listener.serve(drop)

        task_group.start_soon(serve)


async def healthy_app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    assert scope["type"] == "http"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"healthy"})


@asynccontextmanager
async def uvicorn_server() -> AsyncIterator[int]:
    """Serve `healthy_app` with uvicorn on 127.0.0.1 and yield its port.

    The socket is bound and listening before uvicorn starts, so requests
    wait in its backlog instead of racing the server's startup.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    config = uvicorn.Config(
        healthy_app, log_config=None, access_log=False, lifespan="off", ws="none"
    )
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: server.serve(sockets=[sock]))
        try:
            yield sock.getsockname()[1]
        finally:
            server.should_exit = True

    sock.close()


def make_client(transport: CircuitBreakerTransport) -> httpx.AsyncClient:
    # trust_env=False keeps proxy variables from routing 127.0.0.1 elsewhere.
    return httpx.AsyncClient(transport=transport, trust_env=False, timeout=10.0)


async def check_dropping_host_opens(
    client: httpx.AsyncClient,
    transport: CircuitBreakerTransport,
    dropper: DroppingServer,
) -> None:
    url = f"http://127.0.0.1:{dropper.port}/"
    for _ in range(3):
        with pytest.raises(httpx.TransportError) as caught:
            await client.get(url)

        assert not isinstance(caught.value, CircuitOpenError)

    accepted = dropper.accepted
    with pytest.raises(CircuitOpenError) as rejected:
        await client.get(url)

    assert rejected.value.name == f"http://127.0.0.1:{dropper.port}"
    assert dropper.accepted == accepted
    assert transport.breaker_for(url).state is CircuitState.OPEN


async def check_healthy_host_serves(
    client: httpx.AsyncClient, transport: CircuitBreakerTransport, port: int
) -> None:
    url = f"http://127.0.0.1:{port}/"
    for _ in range(5):
        response = await client.get(url)
        assert response.status_code == 200

    assert transport.breaker_for(url).state is CircuitState.CLOSED
    assert transport.breaker_for(url).failure_count == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_dropping_host_opens_beside_uvicorn(clock: FakeClock) -> None:
    dropper = DroppingServer()
    transport = CircuitBreakerTransport(fail_max=3, clock=clock)
    async with (
        uvicorn_server() as healthy_port,
        anyio.create_task_group() as servers,
    ):
        await dropper.start(servers)
        async with make_client(transport) as client:
            await check_healthy_host_serves(client, transport, healthy_port)
            await check_dropping_host_opens(client, transport, dropper)
            await check_healthy_host_serves(client, transport, healthy_port)

        servers.cancel_scope.cancel()


async def test_dropping_host_opens_beside_healthy(clock: FakeClock) -> None:
    dropper = DroppingServer()
    transport = CircuitBreakerTransport(fail_max=3, clock=clock)
    async with anyio.create_task_group() as servers:
        healthy_port = await serve_http(servers, lambda: 200)
        await dropper.start(servers)
        assert healthy_port != dropper.port
        async with make_client(transport) as client:
            await check_dropping_host_opens(client, transport, dropper)
            await check_healthy_host_serves(client, transport, healthy_port)

        servers.cancel_scope.cancel()


async def test_open_host_recovers_after_timeout(clock: FakeClock) -> None:
    status = 503
    transport = CircuitBreakerTransport(fail_max=2, reset_timeout=5.0, clock=clock)
    async with anyio.create_task_group() as servers:
        port = await serve_http(servers, lambda: status)
        url = f"http://127.0.0.1:{port}/"
        async with make_client(transport) as client:
            for _ in range(2):
                assert (await client.get(url)).status_code == 503

            with pytest.raises(CircuitOpenError):
                await client.get(url)

            status = 200
            clock.advance(5.0)
            async with client.stream("GET", url) as response:
                assert transport.breaker_for(url).state is CircuitState.HALF_OPEN
                assert await response.aread() == b"ok\n"

            assert transport.breaker_for(url).state is CircuitState.CLOSED

        servers.cancel_scope.cancel()
