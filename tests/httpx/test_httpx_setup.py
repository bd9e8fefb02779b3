"""Construction, lifecycle, mounting and the public surface of anybreaker.httpx."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import respx

import anybreaker.httpx
from anybreaker import CircuitOpenError, CircuitState
from anybreaker.httpx import (
    FAILING_STATUS_CODES,
    CircuitBreakerTransport,
    Outcome,
    default_classifier,
    host_key,
)
from anybreaker.httpx._classify import parse_retry_after
from anybreaker.httpx._registry import _url_parts_are_usable

if TYPE_CHECKING:
    from conftest import FakeClock


# -- construction --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fail_max": 0}, ValueError, "fail_max must be an int >= 1, got 0"),
        ({"fail_max": 2.0}, TypeError, "fail_max must be an int"),
        ({"reset_timeout": -1}, ValueError, "reset_timeout"),
        ({"half_open_max_calls": 0}, ValueError, "half_open_max_calls"),
        ({"success_threshold": 0}, ValueError, "success_threshold"),
        ({"max_hosts": 0}, ValueError, "max_hosts must be an int >= 1, got 0"),
        ({"max_hosts": "many"}, TypeError, "max_hosts must be an int"),
        ({"max_open_duration": 0}, ValueError, "max_open_duration"),
        ({"max_open_duration": float("inf")}, ValueError, "max_open_duration"),
        ({"exclude": [42]}, TypeError, "exclude entries"),
        ({"listeners": [object()]}, TypeError, "CircuitBreakerListener"),
        ({"clock": 1.0}, TypeError, "clock must be a callable"),
        ({"key": "host"}, TypeError, "key must be a callable or None"),
        ({"classifier": 3}, TypeError, "classifier must be a callable or None"),
        ({"open_response": 1}, TypeError, "open_response must be True or False"),
    ],
)
def test_bad_setting_raises_at_construction(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        CircuitBreakerTransport(
            httpx.MockTransport(lambda r: httpx.Response(200)), **kwargs
        )


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        (object(), "transport must be an httpx.AsyncBaseTransport, got <object"),
        (httpx.HTTPTransport(), "it is a sync transport"),
        ("https://api.example.com", "got 'https://api.example.com' of type str"),
    ],
)
def test_inner_must_be_async_transport(inner: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        CircuitBreakerTransport(inner)  # type: ignore[arg-type]


def test_default_inner_is_http_transport() -> None:
    transport = CircuitBreakerTransport()
    assert isinstance(transport._inner, httpx.AsyncHTTPTransport)
    assert "hosts=0" in repr(transport)


def test_breaker_settings_apply_to_every_host(clock: FakeClock) -> None:
    transport = CircuitBreakerTransport(
        fail_max=7,
        reset_timeout=12.0,
        half_open_max_calls=2,
        success_threshold=3,
        clock=clock,
    )
    for url in ("https://a.example", "http://b.example:8080"):
        breaker = transport.breaker_for(url)
        assert breaker.fail_max == 7
        assert breaker.reset_timeout == 12.0
        assert breaker.half_open_max_calls == 2
        assert breaker.success_threshold == 3


def test_breaker_for_needs_absolute_url() -> None:
    transport = CircuitBreakerTransport()
    with pytest.raises(ValueError, match="needs an absolute URL"):
        transport.breaker_for("/items")


def test_breaker_for_accepts_url_and_request() -> None:
    transport = CircuitBreakerTransport()
    breaker = transport.breaker_for("https://api.example.com/items")
    assert transport.breaker_for(httpx.URL("https://API.example.com")) is breaker
    request = httpx.Request("POST", "https://api.example.com:443/other")
    assert transport.breaker_for(request) is breaker


# -- lifecycle -----------------------------------------------------------------


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200)

    async def __aenter__(self) -> RecordingTransport:
        self.calls.append("enter")
        return self

    async def __aexit__(self, *args: object) -> None:
        self.calls.append("exit")

    async def aclose(self) -> None:
        self.calls.append("close")


@pytest.mark.anyio
async def test_aclose_reaches_inner() -> None:
    inner = RecordingTransport()
    await CircuitBreakerTransport(inner).aclose()
    assert inner.calls == ["close"]


@pytest.mark.anyio
async def test_async_with_reaches_inner() -> None:
    inner = RecordingTransport()
    transport = CircuitBreakerTransport(inner)
    async with transport as entered:
        assert entered is transport
        assert inner.calls == ["enter"]

    assert inner.calls == ["enter", "exit"]


@pytest.mark.anyio
async def test_client_closes_inner() -> None:
    inner = RecordingTransport()
    async with httpx.AsyncClient(transport=CircuitBreakerTransport(inner)):
        pass

    assert inner.calls == ["enter", "exit"]


@pytest.mark.anyio
async def test_works_as_mount(respx_mock: respx.MockRouter, clock: FakeClock) -> None:
    respx_mock.get("https://flaky.example/").respond(503)
    respx_mock.get("https://other.example/").respond(503)
    guarded = CircuitBreakerTransport(fail_max=1, clock=clock)
    mounts: dict[str, httpx.AsyncBaseTransport] = {"https://flaky.example": guarded}
    async with httpx.AsyncClient(mounts=mounts, trust_env=False) as client:
        await client.get("https://flaky.example/")
        with pytest.raises(CircuitOpenError):
            await client.get("https://flaky.example/")

        for _ in range(3):
            response = await client.get("https://other.example/")
            assert response.status_code == 503

    assert set(guarded.breakers()) == {"https://flaky.example:443"}
    assert guarded.breaker_for("https://flaky.example").state is CircuitState.OPEN


# -- host keys -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("HTTP://Example.COM/path?q=1", "http://example.com:80"),
        ("http://example.com:80/", "http://example.com:80"),
        ("http://example.com:8080/", "http://example.com:8080"),
        ("https://example.com/", "https://example.com:443"),
        ("https://example.com:8443/", "https://example.com:8443"),
        ("wss://example.com/socket", "wss://example.com:443"),
        ("https://user:secret@example.com/", "https://example.com:443"),
        ("https://Bücher.example/", "https://xn--bcher-kva.example:443"),
        ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example:443"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("http://[::1]/", "http://[::1]:80"),
        ("http://[0:0:0:0:0:0:0:1]:8000/", "http://[::1]:8000"),
        ("http://[FE80::1]/", "http://[fe80::1]:80"),
        ("http://[fe80:0::1]/", "http://[fe80::1]:80"),
        ("http://[FE80::1%25ETH0]/", "http://[fe80::1%25eth0]:80"),
        ("http://[fe80::1%eth0]/", "http://[fe80::1%eth0]:80"),
        ("https://example.com./", "https://example.com:443"),
        ("https://Example.COM.:8443/", "https://example.com:8443"),
        ("http://./", "http://.:80"),
        ("/relative", "://"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9"),
        ("unix://socket/", "unix://socket"),
    ],
)
def test_host_key_normalises(
    url: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = httpx.Request("GET", url)
    assert host_key(request) == key
    # The same key through httpx's public URL properties only.
    monkeypatch.setattr(anybreaker.httpx._registry, "_READ_PARTS", False)
    assert host_key(request) == key


@pytest.mark.parametrize(
    ("url", "same_host"),
    [
        ("http://[FE80::1]/", "http://[fe80::1]/"),
        ("http://[0:0:0:0:0:0:0:1]/", "http://[::1]/"),
        ("https://example.com./", "https://example.com/"),
    ],
)
def test_breaker_shared_by_host_spellings(url: str, same_host: str) -> None:
    transport = CircuitBreakerTransport()
    assert transport.breaker_for(url) is transport.breaker_for(same_host)
    assert len(transport.breakers()) == 1


def test_host_key_reads_url_parts_on_this_httpx() -> None:
    assert _url_parts_are_usable()


# -- classification ------------------------------------------------------------

REQUEST = httpx.Request("GET", "https://a.example/")


@pytest.mark.parametrize(
    ("result", "outcome"),
    [
        (httpx.Response(200), Outcome.SUCCESS),
        (httpx.Response(302), Outcome.SUCCESS),
        (httpx.Response(404), Outcome.SUCCESS),
        (httpx.Response(407), Outcome.SUCCESS),
        (httpx.Response(408), Outcome.FAILURE),
        (httpx.Response(429), Outcome.FAILURE),
        (httpx.Response(499), Outcome.SUCCESS),
        (httpx.Response(500), Outcome.FAILURE),
        (httpx.Response(599), Outcome.FAILURE),
        (httpx.ConnectError("x"), Outcome.FAILURE),
        (httpx.ReadTimeout("x"), Outcome.FAILURE),
        (httpx.WriteTimeout("x"), Outcome.FAILURE),
        (httpx.ProxyError("x"), Outcome.FAILURE),
        (httpx.RemoteProtocolError("x"), Outcome.FAILURE),
        (ConnectionRefusedError(), Outcome.FAILURE),
        (httpx.PoolTimeout("x"), Outcome.IGNORED),
        (httpx.LocalProtocolError("x"), Outcome.IGNORED),
        (httpx.UnsupportedProtocol("x"), Outcome.IGNORED),
        (httpx.DecodingError("x"), Outcome.IGNORED),
        (httpx.StreamClosed(), Outcome.IGNORED),
        (RuntimeError("bug"), Outcome.IGNORED),
    ],
    ids=repr,
)
def test_default_classifier(
    result: httpx.Response | Exception, outcome: Outcome
) -> None:
    assert default_classifier(REQUEST, result) is outcome


def test_failing_status_codes() -> None:
    assert sorted(FAILING_STATUS_CODES) == [408, 429, *range(500, 600)]


NOW = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        ("Tue, 01 Jan 2030 12:02:00 GMT", 120.0),
        ("Tue, 01 Jan 2030 12:02:00 -0000", 120.0),
        ("Tue, 01 Jan 2030 13:02:00 +0100", 120.0),
        ("Tue, 01 Jan 2030 11:00:00 GMT", 0.0),
        ("tomorrow", None),
        ("", None),
        ("-1", None),
        ("1.5", None),
        ("١٢", None),
        ("Tue, 01 Jan 99999 12:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_parse_retry_after_huge_number() -> None:
    assert parse_retry_after("9" * 400, NOW) == float("inf")


@pytest.mark.anyio
async def test_retry_after_date_keeps_host_open(
    respx_mock: respx.MockRouter, clock: FakeClock
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=200)
    header = format_datetime(later, usegmt=True)
    respx_mock.get("https://a.example/").respond(503, headers={"Retry-After": header})
    transport = CircuitBreakerTransport(fail_max=1, reset_timeout=30.0, clock=clock)
    async with httpx.AsyncClient(transport=transport, trust_env=False) as client:
        await client.get("https://a.example/")
        with pytest.raises(CircuitOpenError) as caught:
            await client.get("https://a.example/")

    # The header has whole seconds, and the wall clock moves during the test.
    assert 197.0 <= caught.value.retry_after <= 200.0


# -- package -------------------------------------------------------------------


def test_public_names() -> None:
    assert anybreaker.httpx.__all__ == [
        "EXTENSION",
        "FAILING_STATUS_CODES",
        "CircuitBreakerTransport",
        "CircuitOpenTransportError",
        "CircuitReport",
        "Classifier",
        "Outcome",
        "default_classifier",
        "host_key",
    ]
    for name in anybreaker.httpx.__all__:
        assert hasattr(anybreaker.httpx, name)


def test_importing_anybreaker_skips_httpx() -> None:
    code = "import sys, anybreaker; print('httpx' in sys.modules)"
    # The command line is fixed: this interpreter and a constant script.
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
