"""Per-host breaking through `CircuitBreakerTransport`, driven by respx."""

from __future__ import annotations

import math
import pickle
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import pytest
import respx

from anybreaker import CircuitBreakerListener, CircuitOpenError, CircuitState
from anybreaker.httpx import (
    FAILING_STATUS_CODES,
    CircuitBreakerTransport,
    CircuitOpenTransportError,
    CircuitReport,
    Outcome,
)

if TYPE_CHECKING:
    from conftest import FakeClock, RecordingListener

pytestmark = pytest.mark.anyio

A = "https://a.example/"
B = "https://b.example/"


def make_client(transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport, trust_env=False)


async def fail_times(client: httpx.AsyncClient, url: str, times: int) -> None:
    for _ in range(times):
        response = await client.get(url)
        assert response.status_code in FAILING_STATUS_CODES


# -- hosts ---------------------------------------------------------------------


async def test_failing_host_opens_alone(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).respond(503)
    healthy = respx_mock.get(B).respond(200)
    transport = CircuitBreakerTransport(fail_max=2, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 2)
        with pytest.raises(CircuitOpenError):
            await client.get(A)

        response = await client.get(B)

    assert response.status_code == 200
    assert healthy.call_count == 1
    assert transport.breaker_for(A).state is CircuitState.OPEN
    assert transport.breaker_for(B).state is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("HTTP://Example.com/a", "http://example.com:80/b"),
        ("https://EXAMPLE.com/", "https://example.com:443/"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
    ],
)
async def test_spellings_of_one_host_share_breaker(
    respx_mock: respx.MockRouter, clock: FakeClock, first: str, second: str
) -> None:
    respx_mock.route().respond(500)
    transport = CircuitBreakerTransport(fail_max=2, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, first, 1)
        await fail_times(client, second, 1)

    assert transport.breaker_for(first) is transport.breaker_for(second)
    assert transport.breaker_for(first).state is CircuitState.OPEN
    assert len(transport.breakers()) == 1


async def test_other_port_has_own_breaker(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get("http://example.com:8080/").respond(500)
    respx_mock.get("http://example.com/").respond(200)
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, "http://example.com:8080/", 1)
        response = await client.get("http://example.com/")

    assert response.status_code == 200
    assert transport.breaker_for("http://example.com:8080").state is CircuitState.OPEN
    assert transport.breaker_for("http://example.com").state is CircuitState.CLOSED


async def test_breaker_name_is_host_key(
    respx_mock: respx.MockRouter, recorder: RecordingListener, clock: FakeClock
) -> None:
    respx_mock.get(A).respond(503)
    names: list[str | None] = []

    class NameListener(CircuitBreakerListener):
        def failure(self, breaker: Any, exc: BaseException) -> None:
            names.append(breaker.name)

    transport = CircuitBreakerTransport(
        fail_max=5, clock=clock, listeners=[NameListener(), recorder]
    )
    async with make_client(transport) as client:
        await client.get(A)

    assert names == ["https://a.example:443"]
    assert transport.breaker_for(A).name == "https://a.example:443"
    assert isinstance(recorder.events[0][1], httpx.HTTPStatusError)


async def test_key_function_overrides_host(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.route().respond(500)

    def by_tenant(request: httpx.Request) -> str:
        return str(request.headers.get("X-Tenant", "none"))

    transport = CircuitBreakerTransport(fail_max=1, clock=clock, key=by_tenant)
    async with make_client(transport) as client:
        await client.get(A, headers={"X-Tenant": "red"})
        with pytest.raises(CircuitOpenError) as caught:
            await client.get(B, headers={"X-Tenant": "red"})

        response = await client.get(A, headers={"X-Tenant": "blue"})

    assert caught.value.name == "red"
    assert response.status_code == 500
    tenant = httpx.Request("GET", A, headers={"X-Tenant": "red"})
    assert transport.breaker_for(tenant).state is CircuitState.OPEN
    assert set(transport.breakers()) == {"red", "blue"}


async def test_key_function_must_return_str(respx_mock: respx.MockRouter) -> None:
    respx_mock.route().respond(200)
    transport = CircuitBreakerTransport(key=lambda request: 42)  # type: ignore[arg-type,return-value]
    async with make_client(transport) as client:
        with pytest.raises(TypeError, match="must return a str, got 42"):
            await client.get(A)


# -- what counts ---------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_client_error_passes_uncounted(
    respx_mock: respx.MockRouter, clock: FakeClock, status: int
) -> None:
    respx_mock.get(A).respond(status, text="nope")
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    async with make_client(transport) as client:
        for _ in range(3):
            response = await client.get(A)
            assert response.status_code == status
            assert response.text == "nope"

    breaker = transport.breaker_for(A)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599, 408, 429])
async def test_failing_status_counts_and_reaches_caller(
    respx_mock: respx.MockRouter, clock: FakeClock, status: int
) -> None:
    respx_mock.get(A).respond(status, text="body", headers={"X-Custom": "kept"})
    transport = CircuitBreakerTransport(fail_max=3, clock=clock)
    async with make_client(transport) as client:
        response = await client.get(A)

    assert response.status_code == status
    assert response.text == "body"
    assert response.headers["X-Custom"] == "kept"
    assert transport.breaker_for(A).failure_count == 1


async def test_success_resets_failure_count(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).mock(
        side_effect=[httpx.Response(500), httpx.Response(500), httpx.Response(200)]
    )
    transport = CircuitBreakerTransport(fail_max=3, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 2)
        assert transport.breaker_for(A).failure_count == 2
        await client.get(A)

    assert transport.breaker_for(A).failure_count == 0


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.ReadTimeout("slow read"),
        httpx.WriteError("broken pipe"),
        httpx.RemoteProtocolError("server hung up"),
        httpx.ReadError("reset"),
        ConnectionResetError("reset by peer"),
        OSError("no route to host"),
    ],
    ids=type,
)
async def test_transport_error_counts(
    respx_mock: respx.MockRouter, clock: FakeClock, error: Exception
) -> None:
    respx_mock.get(A).mock(side_effect=error)
    transport = CircuitBreakerTransport(fail_max=2, clock=clock)
    async with make_client(transport) as client:
        for _ in range(2):
            with pytest.raises(type(error)):
                await client.get(A)

        with pytest.raises(CircuitOpenError):
            await client.get(A)

    assert transport.breaker_for(A).state is CircuitState.OPEN


@pytest.mark.parametrize(
    "error",
    [
        httpx.PoolTimeout("pool exhausted"),
        httpx.LocalProtocolError("bad header"),
        httpx.UnsupportedProtocol("no such scheme"),
        ValueError("bug in an inner transport"),
    ],
    ids=type,
)
async def test_uninformative_error_is_ignored(
    respx_mock: respx.MockRouter, clock: FakeClock, error: Exception
) -> None:
    respx_mock.get(A).mock(side_effect=error)
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    async with make_client(transport) as client:
        for _ in range(3):
            with pytest.raises(type(error)) as caught:
                await client.get(A)

            assert caught.value is error

    breaker = transport.breaker_for(A)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0


async def test_cancellation_is_ignored(clock: FakeClock) -> None:
    entered = anyio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        entered.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    transport = CircuitBreakerTransport(
        httpx.MockTransport(hang), fail_max=1, clock=clock
    )
    async with make_client(transport) as client, anyio.create_task_group() as tg:
        tg.start_soon(client.get, A)
        await entered.wait()
        tg.cancel_scope.cancel()

    breaker = transport.breaker_for(A)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_count == 0


async def test_exclude_applies_to_errors(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).mock(side_effect=httpx.ReadTimeout("slow"))
    transport = CircuitBreakerTransport(
        fail_max=1, clock=clock, exclude=[httpx.TimeoutException]
    )
    async with make_client(transport) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get(A)

    assert transport.breaker_for(A).state is CircuitState.CLOSED


# -- classifier ----------------------------------------------------------------


async def test_classifier_decides_outcome(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).respond(404)
    respx_mock.get(B).respond(503)
    seen: list[tuple[str, object]] = []

    def not_found_fails(
        request: httpx.Request, result: httpx.Response | Exception
    ) -> Outcome:
        seen.append((str(request.url), result))
        if isinstance(result, httpx.Response) and result.status_code == 404:
            return Outcome.FAILURE

        return Outcome.IGNORED

    transport = CircuitBreakerTransport(
        fail_max=1, clock=clock, classifier=not_found_fails
    )
    async with make_client(transport) as client:
        await client.get(A)
        await client.get(B)

    assert transport.breaker_for(A).state is CircuitState.OPEN
    assert transport.breaker_for(B).state is CircuitState.CLOSED
    assert [url for url, _ in seen] == [A, B]
    assert all(isinstance(result, httpx.Response) for _, result in seen)


async def test_classifier_sees_exceptions(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    error = ValueError("decoded badly")
    respx_mock.get(A).mock(side_effect=error)
    seen: list[object] = []

    def count_everything(
        request: httpx.Request, result: httpx.Response | Exception
    ) -> Outcome:
        seen.append(result)
        return Outcome.FAILURE

    transport = CircuitBreakerTransport(
        fail_max=1, clock=clock, classifier=count_everything
    )
    async with make_client(transport) as client:
        with pytest.raises(ValueError, match="decoded badly"):
            await client.get(A)

    assert seen == [error]
    assert transport.breaker_for(A).state is CircuitState.OPEN


async def test_classifier_success_on_error_resets(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).mock(
        side_effect=[httpx.Response(500), httpx.ConnectError("refused")]
    )

    def errors_are_fine(
        request: httpx.Request, result: httpx.Response | Exception
    ) -> Outcome:
        return Outcome.SUCCESS if isinstance(result, Exception) else Outcome.FAILURE

    transport = CircuitBreakerTransport(
        fail_max=2, clock=clock, classifier=errors_are_fine
    )
    async with make_client(transport) as client:
        await client.get(A)
        assert transport.breaker_for(A).failure_count == 1
        with pytest.raises(httpx.ConnectError):
            await client.get(A)

    assert transport.breaker_for(A).failure_count == 0


@pytest.mark.parametrize("bad", ["raises", "returns a str"])
async def test_broken_classifier_falls_back(
    respx_mock: respx.MockRouter,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    bad: str,
) -> None:
    respx_mock.get(A).respond(503)

    def broken(request: httpx.Request, result: httpx.Response | Exception) -> Outcome:
        if bad == "raises":
            raise RuntimeError("classifier bug")

        return "failure"  # type: ignore[return-value]

    transport = CircuitBreakerTransport(fail_max=1, clock=clock, classifier=broken)
    async with make_client(transport) as client:
        response = await client.get(A)

    assert response.status_code == 503
    assert transport.breaker_for(A).state is CircuitState.OPEN
    assert "using the default classification" in caplog.text
    assert caplog.records[0].levelname == "WARNING"


# -- open host -----------------------------------------------------------------


async def test_open_host_skips_inner_transport(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.get(A).respond(503)
    transport = CircuitBreakerTransport(fail_max=2, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 2)
        for _ in range(5):
            with pytest.raises(CircuitOpenError):
                await client.get(A)

    assert route.call_count == 2


async def test_open_error_is_transport_error(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).respond(500)
    transport = CircuitBreakerTransport(fail_max=1, reset_timeout=30.0, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 1)
        clock.advance(12.5)
        with pytest.raises(httpx.TransportError) as caught:
            await client.get(A)

    error = caught.value
    assert isinstance(error, CircuitOpenTransportError)
    assert isinstance(error, CircuitOpenError)
    assert error.request.url == A
    assert error.name == "https://a.example:443"
    assert error.state is CircuitState.OPEN
    assert error.retry_after == pytest.approx(17.5)
    assert "https://a.example:443" in str(error)
    assert "17.500" in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


async def test_open_error_pickles(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).respond(500)
    transport = CircuitBreakerTransport(fail_max=1, reset_timeout=30.0, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 1)
        with pytest.raises(CircuitOpenTransportError) as caught:
            await client.get(A)

    copy = pickle.loads(pickle.dumps(caught.value))  # noqa: S301 - data made here
    assert type(copy) is CircuitOpenTransportError
    assert copy.name == caught.value.name
    assert copy.state is CircuitState.OPEN
    assert copy.retry_after == caught.value.retry_after
    assert str(copy.request.url) == A
    assert str(copy) == str(caught.value)
    assert repr(copy) == (
        "CircuitOpenTransportError(name='https://a.example:443', state=open, "
        "retry_after=30.000)"
    )


async def test_open_error_without_request() -> None:
    error = CircuitOpenTransportError("https://a.example:443", CircuitState.OPEN, 3.0)
    with pytest.raises(RuntimeError, match="request"):
        error.request  # noqa: B018


@pytest.mark.parametrize(
    ("waited", "header"), [(0.0, "30"), (12.5, "18"), (29.2, "1"), (29.999, "1")]
)
async def test_open_response_mode_returns_503(
    respx_mock: respx.MockRouter, clock: FakeClock, waited: float, header: str
) -> None:
    route = respx_mock.get(A).respond(500)
    transport = CircuitBreakerTransport(
        fail_max=1, reset_timeout=30.0, clock=clock, open_response=True
    )
    async with make_client(transport) as client:
        await fail_times(client, A, 1)
        clock.advance(waited)
        response = await client.get(A)

    assert route.call_count == 1
    assert response.status_code == 503
    assert response.headers["Retry-After"] == header
    assert int(header) == math.ceil(30.0 - waited - 1e-9)
    assert "https://a.example:443" in response.text
    report = response.extensions["circuit_breaker"]
    assert report == CircuitReport("https://a.example:443", CircuitState.OPEN)


async def test_open_response_mode_in_half_open(clock: FakeClock) -> None:
    release = anyio.Event()
    calls = 0

    async def slow_then_fail(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(500)

        await release.wait()
        return httpx.Response(200)

    transport = CircuitBreakerTransport(
        httpx.MockTransport(slow_then_fail),
        fail_max=1,
        reset_timeout=5.0,
        clock=clock,
        open_response=True,
    )
    async with make_client(transport) as client, anyio.create_task_group() as tg:
        await client.get(A)
        clock.advance(5.0)
        tg.start_soon(client.get, A)
        await anyio.wait_all_tasks_blocked()
        response = await client.get(A)
        release.set()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "0"
    report = response.extensions["circuit_breaker"]
    assert report.state is CircuitState.HALF_OPEN


# -- Retry-After ---------------------------------------------------------------


async def test_retry_after_keeps_host_open(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.get(A).respond(503, headers={"Retry-After": "120"})
    transport = CircuitBreakerTransport(fail_max=1, reset_timeout=30.0, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 1)
        clock.advance(30.0)
        with pytest.raises(CircuitOpenError) as caught:
            await client.get(A)

        assert caught.value.retry_after == pytest.approx(90.0)
        clock.advance(89.9)
        with pytest.raises(CircuitOpenError):
            await client.get(A)

        clock.advance(0.1)
        route.respond(200)
        response = await client.get(A)

    assert response.status_code == 200
    assert route.call_count == 2
    assert transport.breaker_for(A).state is CircuitState.CLOSED


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("5", 30.0),
        ("0", 30.0),
        ("100000", 300.0),
        (" 60 ", 60.0),
        ("soon", 30.0),
        ("-5", 30.0),
        ("1.5", 30.0),
    ],
)
async def test_retry_after_is_bounded(
    respx_mock: respx.MockRouter, clock: FakeClock, header: str, expected: float
) -> None:
    respx_mock.get(A).respond(503, headers={"Retry-After": header})
    transport = CircuitBreakerTransport(fail_max=1, reset_timeout=30.0, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 1)
        with pytest.raises(CircuitOpenError) as caught:
            await client.get(A)

    assert caught.value.retry_after == pytest.approx(expected)


async def test_retry_after_cap_is_configurable(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).respond(429, headers={"Retry-After": "3600"})
    transport = CircuitBreakerTransport(
        fail_max=1, reset_timeout=10.0, max_open_duration=600.0, clock=clock
    )
    async with make_client(transport) as client:
        await fail_times(client, A, 1)
        with pytest.raises(CircuitOpenError) as caught:
            await client.get(A)

    assert caught.value.retry_after == pytest.approx(600.0)


async def test_retry_after_ignored_below_fail_max(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "200"}),
            httpx.Response(503),
        ]
    )
    transport = CircuitBreakerTransport(fail_max=2, reset_timeout=30.0, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 2)
        with pytest.raises(CircuitOpenError) as caught:
            await client.get(A)

    assert caught.value.retry_after == pytest.approx(30.0)


async def test_retry_after_reopens_from_trial(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).mock(
        side_effect=[
            httpx.Response(503),
            httpx.Response(503, headers={"Retry-After": "90"}),
        ]
    )
    transport = CircuitBreakerTransport(fail_max=1, reset_timeout=30.0, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 1)
        clock.advance(30.0)
        await fail_times(client, A, 1)
        with pytest.raises(CircuitOpenError) as caught:
            await client.get(A)

    assert caught.value.retry_after == pytest.approx(90.0)


# -- extensions ----------------------------------------------------------------


async def test_request_extension_bypasses_breaker(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    route = respx_mock.get(A).respond(500)
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    async with make_client(transport) as client:
        await fail_times(client, A, 1)
        response = await client.get(A, extensions={"circuit_breaker": False})
        with pytest.raises(CircuitOpenError):
            await client.get(A, extensions={"circuit_breaker": True})

    assert response.status_code == 500
    assert "circuit_breaker" not in response.extensions
    assert route.call_count == 2


async def test_bypassed_failure_is_not_counted(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    respx_mock.get(A).respond(500)
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    async with make_client(transport) as client:
        await client.get(A, extensions={"circuit_breaker": False})

    assert transport.breaker_for(A).state is CircuitState.CLOSED


async def test_request_extension_rejects_other_values(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(A).respond(200)
    async with make_client(CircuitBreakerTransport()) as client:
        with pytest.raises(TypeError, match="must be True or False, got 'off'"):
            await client.get(A, extensions={"circuit_breaker": "off"})


@pytest.mark.parametrize(
    ("statuses", "state"),
    [
        ([200], CircuitState.CLOSED),
        ([500], CircuitState.CLOSED),
        ([500, 500], CircuitState.OPEN),
    ],
)
async def test_response_extension_reports_state(
    respx_mock: respx.MockRouter,
    clock: FakeClock,
    statuses: list[int],
    state: CircuitState,
) -> None:
    respx_mock.get(A).mock(side_effect=[httpx.Response(code) for code in statuses])
    transport = CircuitBreakerTransport(fail_max=2, clock=clock)
    async with make_client(transport) as client:
        for _ in statuses:
            response = await client.get(A)

    report = response.extensions["circuit_breaker"]
    assert isinstance(report, CircuitReport)
    assert report.key == "https://a.example:443"
    assert report.state is state


# -- listeners -----------------------------------------------------------------


async def test_listener_of_one_host(
    respx_mock: respx.MockRouter, recorder: RecordingListener, clock: FakeClock
) -> None:
    respx_mock.route().respond(500)
    transport = CircuitBreakerTransport(fail_max=1, clock=clock)
    transport.breaker_for(A).add_listener(recorder)
    async with make_client(transport) as client:
        await fail_times(client, B, 1)
        assert recorder.events == []
        await fail_times(client, A, 1)

    assert recorder.transitions() == [(CircuitState.CLOSED, CircuitState.OPEN)]
    assert transport.breaker_for(B).listeners == ()
