from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeAlias

import httpx

__all__ = [
    "FAILING_STATUS_CODES",
    "Classifier",
    "Outcome",
    "default_classifier",
    "parse_retry_after",
]


class Outcome(enum.Enum):
    """The effect of one request's result on the health of its host."""

    #: The host responded correctly. While closed, this resets the failure count.
    SUCCESS = "success"
    #: The host failed, which counts toward opening its circuit.
    FAILURE = "failure"
    #: The result does not reflect the host's health. It is not counted, and
    #: any trial permit is given back.
    IGNORED = "ignored"


#: A function that maps a request and its response, or the exception raised
#: while sending it or reading its body, to an `Outcome`.
Classifier: TypeAlias = Callable[[httpx.Request, httpx.Response | Exception], Outcome]

#: Status codes that count as failures by default: every 5xx, 408 Request
#: Timeout and 429 Too Many Requests.
FAILING_STATUS_CODES = frozenset((*range(500, 600), 408, 429))

# Transport errors that describe the client's own side: an exhausted
# connection pool, a request that httpx could not encode, a URL scheme that
# no transport handles. They do not reflect the host's health.
_CLIENT_SIDE_ERRORS = (
    httpx.PoolTimeout,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
)


def default_classifier(
    request: httpx.Request, result: httpx.Response | Exception
) -> Outcome:
    """Classify a response or exception the way the transport does by default.

    A response is a failure when its status code is in `FAILING_STATUS_CODES`
    and a success otherwise. An exception is a failure when it is an
    `httpx.TransportError` or an `OSError`, except `httpx.PoolTimeout`,
    `httpx.LocalProtocolError` and `httpx.UnsupportedProtocol`, which are
    ignored. Every other exception is ignored as well, because a bug in an
    inner transport reflects nothing of the host's health.

    A custom classifier can call this function for the cases it does not
    handle itself.
    """
    if isinstance(result, httpx.Response):
        if result.status_code in FAILING_STATUS_CODES:
            return Outcome.FAILURE

        return Outcome.SUCCESS

    if isinstance(result, _CLIENT_SIDE_ERRORS):
        return Outcome.IGNORED

    if isinstance(result, httpx.TransportError | OSError):
        return Outcome.FAILURE

    return Outcome.IGNORED


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Return the delay in seconds that a ``Retry-After`` header value requests.

    *value* is either a whole number of seconds or an HTTP date. A date is
    measured from *now*, an aware datetime, and a date in the past gives 0.0.
    A number too large for a float gives infinity. Returns None for a value
    that is neither a number nor a date.
    """
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)

    try:
        date = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None

    if date.tzinfo is None:
        # parsedate_to_datetime returns a naive datetime for "-0000", which
        # RFC 5322 uses for UTC with an unknown local offset.
        date = date.replace(tzinfo=UTC)

    return max((date - now).total_seconds(), 0.0)


def utc_now() -> datetime:
    """Return the current wall-clock time as an aware UTC datetime."""
    return datetime.now(UTC)
