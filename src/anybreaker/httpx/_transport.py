from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import NamedTuple, Self, TypeVar

import httpx

from .._breaker import CircuitBreaker
from .._errors import CircuitOpenError
from .._listener import CircuitBreakerListener, make_hooks
from .._settings import Exclude, Settings, check_int, check_seconds
from .._state import CircuitState
from ._classify import FAILING_STATUS_CODES, Classifier, Outcome
from ._errors import CircuitOpenTransportError
from ._outcomes import OutcomePolicy
from ._registry import BreakerRegistry, host_key
from ._stream import GuardedStream

__all__ = ["EXTENSION", "CircuitBreakerTransport", "CircuitReport"]

#: The name of the request extension that can bypass the breaker, and of the
#: response extension that contains the `CircuitReport`.
EXTENSION = "circuit_breaker"

F = TypeVar("F", bound=Callable[..., object])

_SUCCESS = Outcome.SUCCESS


class CircuitReport(NamedTuple):
    """The breaker key and circuit state of one request, set on its response.

    It is stored as ``response.extensions["circuit_breaker"]``. *state* is
    the state when the response was handed to the caller, after a failing
    status was counted. A body still being streamed settles later, so the
    breaker itself may have moved on by the time the body ends.
    """

    #: The breaker key, by default ``scheme://host:port``.
    key: str
    #: The breaker's state after the call.
    state: CircuitState


# Builds a CircuitReport from a (key, state) tuple without the Python-level
# __new__ that NamedTuple generates, which would double the cost.
_new_report = tuple.__new__


class CircuitBreakerTransport(httpx.AsyncBaseTransport):
    """An httpx transport that keeps one circuit breaker per host.

    Every request goes through the breaker of its host key, by default
    ``scheme://host:port`` with the host lower-cased and IDNA-encoded and the
    default port filled in. A host whose circuit is open is rejected at once
    with `CircuitOpenTransportError`, without calling the inner transport,
    while other hosts keep working.

    By default, transport errors and `OSError` count as failures, except
    `httpx.PoolTimeout`, `httpx.LocalProtocolError` and
    `httpx.UnsupportedProtocol`. Status codes 500-599, 408 and 429 count as
    failures, and every other status as a success. Cancellation and any other
    exception are ignored. The response always reaches the caller unchanged.
    An error while the caller reads the body counts like an error before it.
    So a call whose body is still streaming stays open until the body is
    read to the end, which settles the response's outcome, fails, which is
    classified, or is closed early, which is ignored. A half-open trial keeps
    its permit until then.

    ``extensions={"circuit_breaker": False}`` on a request sends it straight
    to the inner transport, uncounted and never rejected. Every other
    response gets a `CircuitReport` in ``response.extensions["circuit_breaker"]``.

    Args:
        transport: The inner transport that sends the requests. A new
            `httpx.AsyncHTTPTransport` is used when it is omitted.
        fail_max: Consecutive failures that open a host's circuit, an
            int >= 1.
        reset_timeout: Seconds a host's circuit stays open before a trial
            request may run, a finite number > 0.
        half_open_max_calls: Trial requests admitted at once per half-open
            host, an int >= 1.
        success_threshold: Trial successes that close a host's circuit, an
            int >= 1.
        exclude: Exception types and predicates whose matches are ignored,
            as for `CircuitBreaker`. A failing status reaches them as an
            `httpx.HTTPStatusError`.
        listeners: `CircuitBreakerListener` instances that every host's
            breaker notifies. The breaker's `name` is the host key. A listener
            added later to one host's breaker (see `breaker_for`) is notified
            of that host only, and is lost if the registry evicts the host.
        clock: A zero-argument callable returning monotonic seconds.
        max_hosts: Breakers kept at most, an int >= 1. Past it, the least
            recently used closed breaker without failures is dropped first.
            An open breaker is dropped before its reset deadline only when
            every kept breaker is open, the earliest deadline first.
        max_open_duration: Seconds a ``Retry-After`` header can keep a host
            open at most, a finite number > 0. A failing response with
            ``Retry-After`` that opens the circuit keeps it open for
            ``max(reset_timeout, min(retry_after, max_open_duration))``.
        key: A function from `httpx.Request` to the str key of the breaker
            to use, replacing `host_key`, for example to add a path prefix
            or a tenant.
        classifier: A function ``(request, response_or_exception) ->
            Outcome`` replacing `default_classifier`. It receives only
            `Exception` instances, because cancellation and other
            `BaseException` types are always ignored. If it raises or returns
            something other than an `Outcome`, the default applies and a
            WARNING is logged.
        open_response: When True, a rejected request gets a synthetic 503
            response with ``Retry-After`` in whole seconds, rounded up,
            instead of `CircuitOpenTransportError`.

    Raises:
        TypeError: *transport* is not an `httpx.AsyncBaseTransport`, or a
            setting has the wrong type.
        ValueError: A setting is out of range.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        /,
        *,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        exclude: Iterable[Exclude] = (),
        listeners: Iterable[CircuitBreakerListener] = (),
        clock: Callable[[], float] = time.monotonic,
        max_hosts: int = 10_000,
        max_open_duration: float = 300.0,
        key: Callable[[httpx.Request], str] | None = None,
        classifier: Classifier | None = None,
        open_response: bool = False,
    ) -> None:
        inner: object = transport
        if inner is None:
            inner = httpx.AsyncHTTPTransport()
        elif not isinstance(inner, httpx.AsyncBaseTransport):
            hint = (
                "; it is a sync transport, use its async counterpart such as "
                "httpx.AsyncHTTPTransport"
                if isinstance(inner, httpx.BaseTransport)
                else ""
            )
            raise TypeError(
                f"transport must be an httpx.AsyncBaseTransport, got "
                f"{inner!r} of type {type(inner).__name__}{hint}"
            )

        self._settings = Settings(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            exclude=exclude,
            clock=clock,
        )
        self._hooks = make_hooks(listeners)
        self._registry = BreakerRegistry(
            check_int("max_hosts", max_hosts, 1), self._new_breaker, clock
        )
        self._recent = self._registry.recent
        self._key = host_key if key is None else _checked_key(_callable("key", key))
        if classifier is not None:
            _callable("classifier", classifier)

        self._default_classifier = classifier is None
        self._outcomes = OutcomePolicy(
            classifier,
            self._settings.reset_timeout,
            check_seconds("max_open_duration", max_open_duration),
        )
        if not isinstance(open_response, bool):
            raise TypeError(
                f"open_response must be True or False, got {open_response!r}"
            )

        self._open_response = open_response
        self._inner: httpx.AsyncBaseTransport = inner

    def __repr__(self) -> str:
        return (
            f"<CircuitBreakerTransport hosts={len(self._registry)} "
            f"inner={self._inner!r}>"
        )

    # -- breakers --------------------------------------------------------------

    def breaker_for(self, target: httpx.URL | str | httpx.Request) -> CircuitBreaker:
        """Return the breaker that requests to *target* go through.

        The breaker is created if the registry has none for its key yet, so
        a caller can inspect it or add a listener before the first request.
        *target* is an absolute URL, or a request when a custom ``key=``
        function reads more than the URL.

        Raises:
            ValueError: *target* is a relative URL.
        """
        if isinstance(target, httpx.Request):
            request = target
        else:
            request = httpx.Request("GET", target)

        if not request.url.is_absolute_url:
            raise ValueError(
                f"breaker_for needs an absolute URL such as "
                f"'https://api.example.com', got {str(request.url)!r}"
            )

        return self._registry.get(self._key(request))

    def breakers(self) -> dict[str, CircuitBreaker]:
        """Return a copy of the registry: each key and its breaker."""
        return self._registry.snapshot()

    def _new_breaker(self, key: str) -> CircuitBreaker:
        return CircuitBreaker._from_settings(self._settings, self._hooks, key)

    # -- requests ----------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send *request* through the inner transport and its host's breaker.

        Raises:
            CircuitOpenTransportError: The host's circuit is open, and
                ``open_response`` is False.
            TypeError: ``request.extensions["circuit_breaker"]`` is neither
                True nor False.
            BaseException: Whatever the inner transport raised, unchanged.
        """
        mode = request.extensions.get(EXTENSION)
        if mode is not None and _bypasses(mode):
            return await self._inner.handle_async_request(request)

        key = self._key(request)
        # BreakerRegistry.get, written out for a hit, because one more call
        # costs as much as the lookup. The same goes for the two breaker
        # methods below: only their CLOSED-state paths are written out.
        breaker = self._recent.get(key)
        if breaker is None:
            breaker = self._registry.get(key)
        else:
            self._recent.move_to_end(key)

        # CircuitBreaker._acquire: _closed_generation is the generation to
        # settle with while CLOSED, and -1 otherwise.
        generation = breaker._closed_generation
        if generation < 0:
            try:
                generation = await breaker._acquire()
            except CircuitOpenError as error:
                return self._reject(request, key, error)

        try:
            response = await self._inner.handle_async_request(request)
        except BaseException as exc:
            await self._outcomes.settle_error(breaker, generation, request, exc)
            raise

        if (
            self._default_classifier
            and response.status_code not in FAILING_STATUS_CODES
        ):
            stream = response.stream
            # body_is_pending, written out so that a body already in memory
            # costs one attribute read.
            if (
                response.is_closed
                or isinstance(stream, httpx.ByteStream)
                or not isinstance(stream, httpx.AsyncByteStream)
            ):
                if breaker._success_needs_work:
                    # CircuitBreaker._settle_success, which has nothing to do
                    # unless _success_needs_work is set.
                    await breaker._settle_success(generation)
            else:
                response.stream = GuardedStream(
                    stream, self._outcomes, breaker, generation, request, _SUCCESS
                )
        else:
            await self._outcomes.settle_response(breaker, generation, request, response)

        response.extensions[EXTENSION] = _new_report(
            CircuitReport, (key, breaker._state)
        )
        return response

    def _reject(
        self, request: httpx.Request, key: str, error: CircuitOpenError
    ) -> httpx.Response:
        if not self._open_response:
            raise CircuitOpenTransportError(
                error.name, error.state, error.retry_after, request=request
            ) from None

        retry_after = math.ceil(error.retry_after)
        return httpx.Response(
            503,
            headers={"Retry-After": str(retry_after)},
            text=f"circuit breaker for {key} is {error.state}; "
            f"retry after {retry_after} s\n",
            request=request,
            extensions={EXTENSION: CircuitReport(key, error.state)},
        )

    # -- lifecycle ---------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the inner transport."""
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self._inner.__aexit__(exc_type, exc_value, traceback)


def _bypasses(mode: object) -> bool:
    """Return whether a request's extension value bypasses the breaker."""
    if mode is False:
        return True

    if mode is True:
        return False

    raise TypeError(
        f'request.extensions["{EXTENSION}"] must be True or False, got {mode!r}; '
        "pass False to send the request without its host's breaker"
    )


def _callable(setting: str, value: F) -> F:
    if not callable(value):
        raise TypeError(f"{setting} must be a callable or None, got {value!r}")

    return value


def _checked_key(
    key: Callable[[httpx.Request], str],
) -> Callable[[httpx.Request], str]:
    def checked(request: httpx.Request) -> str:
        result = key(request)
        if not isinstance(result, str):
            raise TypeError(
                f"key function {key!r} must return a str, got {result!r} "
                f"for {request.method} {request.url}"
            )

        return result

    return checked
