"""The body phase: a streamed response settles its call when the body ends."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
import respx

from anybreaker import CircuitOpenError, CircuitState
from anybreaker.httpx import CircuitBreakerTransport, Outcome

if TYPE_CHECKING:
    from conftest import FakeClock, RecordingListener

pytestmark = pytest.mark.anyio

A = "https://a.example/"


class BodyStream(httpx.AsyncByteStream):
    """A response body that yields *chunks*, then waits for *gate*, then raises."""

    def __init__(
        self,
        chunks: list[bytes],
        error: BaseException | None = None,
        gate: anyio.Event | None = None,
    ) -> None:
        self.chunks = chunks
        self.error = error
        self.gate = gate
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

        if self.gate is not None:
            await self.gate.wait()

        if self.error is not None:
            raise self.error

    async def aclose(self) -> None:
        self.closed = True


def make_client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, trust_env=False)


async def open_then_wait(
    client: httpx.AsyncClient, transport: CircuitBreakerTransport, clock: FakeClock
) -> None:
    """Open the host's circuit with one failure, then let its timeout pass."""
    response = await client.get(A)
    assert response.status_code == 500
    assert transport.breaker_for(A).state is CircuitState.OPEN
    clock.advance(transport.breaker_for(A).reset_timeout)


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("stalled"), httpx.RemoteProtocolError("peer closed")],
    ids=type,
)
async def test_mid_body_error_counts(
    respx_mock: respx.MockRouter, clock: FakeClock, error: Exception
) -> None:
    respx_mock.get(A).mock(
        side_effect=lambda request: httpx.Response(
            200, stream=BodyStream([b"partial"], error)
        )
    )
    transport = CircuitBreakerTransport(fail_max=2, clock=clock)
    async with make_client(transport) as client:
        for _ in range(2):
            with pytest.raises(type(error)):
                await client.get(A)

        with pytest.raises(CircuitOpenError):
            await client.get(A)

    assert transport.breaker_for(A).state is CircuitState.OPEN


async def test_mid_body_error_while_streaming(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    body = BodyStream([b"one", b"two"], httpx.ReadTimeout("stalled"))
    respx_mock.get(A).mock(return_value=httpx.Response(200, stream=body))
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    chunks: list[bytes] = []

    async def read_chunks(response: httpx.Response) -> None:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)  # noqa: PERF401 - keeps the chunks read before the error

    async with make_client(transport) as client, client.stream("GET", A) as response:
        assert transport.breaker_for(A).failure_count == 0
        with pytest.raises(httpx.ReadTimeout):
            await read_chunks(response)

    assert chunks == [b"one", b"two"]
    assert transport.breaker_for(A).state is CircuitState.OPEN
    assert body.closed


async def test_mid_body_bug_is_ignored(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).mock(
        side_effect=lambda request: httpx.Response(
            200, stream=BodyStream([b"x"], KeyError("bug"))
        )
    )
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    async with make_client(transport) as client:
        with pytest.raises(KeyError):
            await client.get(A)

    assert transport.breaker_for(A).state is CircuitState.CLOSED


async def test_classifier_sees_body_error(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    error = httpx.ReadTimeout("stalled")
    respx_mock.get(A).mock(
        return_value=httpx.Response(200, stream=BodyStream([b"x"], error))
    )
    seen: list[object] = []

    def ignore_timeouts(
        request: httpx.Request, result: httpx.Response | Exception
    ) -> Outcome:
        seen.append(result)
        if isinstance(result, httpx.TimeoutException):
            return Outcome.IGNORED

        return Outcome.SUCCESS

    transport = CircuitBreakerTransport(
        fail_max=1, clock=clock, classifier=ignore_timeouts
    )
    async with make_client(transport) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(A)

    assert isinstance(seen[0], httpx.Response)
    assert seen[1] is error
    assert transport.breaker_for(A).state is CircuitState.CLOSED


async def test_reading_to_end_settles_success(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(200, stream=BodyStream([b"a", b"b"])),
        ]
    )
    transport = CircuitBreakerTransport(fail_max=2, clock=clock)
    async with make_client(transport) as client:
        await client.get(A)
        async with client.stream("GET", A) as response:
            assert transport.breaker_for(A).failure_count == 1
            body = await response.aread()
            assert transport.breaker_for(A).failure_count == 0

    assert body == b"ab"


# Breaking out of response.aiter_raw() leaves httpx's own async generators
# unfinished, which trio reports as a ResourceWarning when they are collected.
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_early_close_is_ignored(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    body = BodyStream([b"a", b"b"], httpx.ReadTimeout("never read"))
    respx_mock.get(A).mock(
        side_effect=[httpx.Response(500), httpx.Response(200, stream=body)]
    )
    transport = CircuitBreakerTransport(fail_max=2, clock=clock)
    async with make_client(transport) as client:
        await client.get(A)
        async with client.stream("GET", A) as response:
            async for _ in response.aiter_raw():
                break

    breaker = transport.breaker_for(A)
    assert breaker.failure_count == 1
    assert breaker.state is CircuitState.CLOSED
    assert body.closed


async def test_early_close_returns_trial_permit(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.get(A)
    route.mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(200, stream=BodyStream([b"unread"])),
            httpx.Response(200, stream=BodyStream([b"read"])),
        ]
    )
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    async with make_client(transport) as client:
        await open_then_wait(client, transport, clock)
        async with client.stream("GET", A):
            pass

        assert transport.breaker_for(A).state is CircuitState.HALF_OPEN
        response = await client.get(A)

    assert response.content == b"read"
    assert route.call_count == 3
    assert transport.breaker_for(A).state is CircuitState.CLOSED


async def test_trial_holds_permit_until_body_ends(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(200, stream=BodyStream([b"a", b"b"])),
        ]
    )
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    async with make_client(transport) as client:
        await open_then_wait(client, transport, clock)
        async with client.stream("GET", A) as response:
            assert transport.breaker_for(A).state is CircuitState.HALF_OPEN
            with pytest.raises(CircuitOpenError) as caught:
                await client.get(A)

            assert caught.value.state is CircuitState.HALF_OPEN
            await response.aread()
            assert transport.breaker_for(A).state is CircuitState.CLOSED


async def test_failing_status_settles_before_body(
    respx_mock: respx.MockRouter, clock: FakeClock, recorder: RecordingListener
) -> None:
    body = BodyStream([b"err"], httpx.ReadTimeout("slow error page"))
    respx_mock.get(A).mock(return_value=httpx.Response(503, stream=body))
    transport = CircuitBreakerTransport(fail_max=1, clock=clock, listeners=[recorder])
    async with make_client(transport) as client, client.stream("GET", A) as response:
        assert transport.breaker_for(A).state is CircuitState.OPEN
        with pytest.raises(httpx.ReadTimeout):
            await response.aread()

    failures = [event for event in recorder.events if event[0] == "failure"]
    assert len(failures) == 1
    assert isinstance(failures[0][1], httpx.HTTPStatusError)


@pytest.mark.parametrize("via", ["mock transport", "respx router"])
async def test_complete_body_settles_at_once(
    respx_mock: respx.MockRouter, clock: FakeClock, via: str
) -> None:
    responses = iter([httpx.Response(500), httpx.Response(200, content=b"done")])
    if via == "respx router":
        router = respx.MockRouter(assert_all_called=False)
        router.get(A).mock(side_effect=lambda request: next(responses))
        inner = httpx.MockTransport(router.async_handler)
    else:
        inner = httpx.MockTransport(lambda request: next(responses))

    transport = CircuitBreakerTransport(inner, fail_max=1, clock=clock)
    async with make_client(transport) as client:
        await open_then_wait(client, transport, clock)
        async with client.stream("GET", A):
            # The body has not been read, but it was complete on arrival.
            assert transport.breaker_for(A).state is CircuitState.CLOSED


async def test_cancelled_body_read_is_ignored(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    gate = anyio.Event()
    body = BodyStream([b"first"], httpx.ReadTimeout("never reached"), gate)
    respx_mock.get(A).mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(200, stream=body),
            httpx.Response(200, content=b"second trial"),
        ]
    )
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    async with make_client(transport) as client:
        await open_then_wait(client, transport, clock)
        async with client.stream("GET", A) as response:
            with anyio.move_on_after(0):
                await response.aread()

            assert transport.breaker_for(A).state is CircuitState.HALF_OPEN
            assert transport.breaker_for(A).failure_count == 0
            # The cancelled read gave the permit back before the response was
            # closed, so the next request runs as the new trial.
            second = await client.get(A)

    assert second.content == b"second trial"
    assert transport.breaker_for(A).state is CircuitState.CLOSED


async def test_unclosed_response_returns_permit(clock: FakeClock) -> None:
    # Popped, not iterated, so that no list keeps the dropped response alive.
    responses = [
        httpx.Response(500),
        httpx.Response(200, stream=BodyStream([b"dropped"])),
        httpx.Response(200, content=b"next trial"),
    ]
    transport = CircuitBreakerTransport(
        httpx.MockTransport(lambda request: responses.pop(0)), fail_max=1, clock=clock
    )
    async with make_client(transport) as client:
        await open_then_wait(client, transport, clock)
        request = client.build_request("GET", A)
        dropped = await client.send(request, stream=True)
        assert transport.breaker_for(A).state is CircuitState.HALF_OPEN
        del dropped
        gc.collect()
        response = await client.get(A)

    assert response.content == b"next trial"
    assert transport.breaker_for(A).state is CircuitState.CLOSED
