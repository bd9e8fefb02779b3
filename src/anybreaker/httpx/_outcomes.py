from __future__ import annotations

import logging
from typing import TypeGuard

import anyio
import httpx

from .._breaker import CircuitBreaker
from ._classify import (
    Classifier,
    Outcome,
    default_classifier,
    parse_retry_after,
    utc_now,
)
from ._stream import GuardedStream

__all__ = ["OutcomePolicy", "body_is_pending"]

logger = logging.getLogger(__name__)

_SUCCESS = Outcome.SUCCESS
_FAILURE = Outcome.FAILURE


class OutcomePolicy:
    """Classifies the results of requests and settles their breaker calls.

    The transport's closed-state fast path settles plain successes itself.
    Everything else comes here: failing statuses, bodies still to be read,
    exceptions, and every result when a custom classifier is set.
    """

    __slots__ = ("_classifier", "_max_open_duration", "_reset_timeout")

    def __init__(
        self,
        classifier: Classifier | None,
        reset_timeout: float,
        max_open_duration: float,
    ) -> None:
        self._classifier = classifier
        self._reset_timeout = reset_timeout
        self._max_open_duration = max_open_duration

    def classify(
        self, request: httpx.Request, result: httpx.Response | Exception
    ) -> Outcome:
        """Return the outcome of *result*, falling back to the default rules.

        A custom classifier that raises, or returns something other than an
        `Outcome`, is logged at WARNING and the default rules apply.
        """
        classifier = self._classifier
        if classifier is None:
            return default_classifier(request, result)

        try:
            outcome: object = classifier(request, result)
        except Exception:
            logger.warning(
                "classifier %r raised on %s %s; using the default classification",
                classifier,
                request.method,
                request.url,
                exc_info=True,
            )
            return default_classifier(request, result)

        if not isinstance(outcome, Outcome):
            logger.warning(
                "classifier %r returned %r, not an Outcome, on %s %s; "
                "using the default classification",
                classifier,
                outcome,
                request.method,
                request.url,
            )
            return default_classifier(request, result)

        return outcome

    async def settle_response(
        self,
        breaker: CircuitBreaker,
        generation: int,
        request: httpx.Request,
        response: httpx.Response,
    ) -> None:
        """Settle the call now, or wrap its body to settle when the body ends."""
        try:
            outcome = self.classify(request, response)
            stream = response.stream
            if outcome is _FAILURE:
                await self._settle_status_failure(
                    breaker, generation, request, response
                )
            elif body_is_pending(stream, response):
                response.stream = GuardedStream(
                    stream, self, breaker, generation, request, outcome
                )
            else:
                await self.settle(breaker, generation, outcome, None)
        except BaseException:
            # A listener notification was cancelled. The caller never gets
            # the response, so release its connection here.
            with anyio.CancelScope(shield=True):
                await response.aclose()

            raise

    async def settle_error(
        self,
        breaker: CircuitBreaker,
        generation: int,
        request: httpx.Request,
        exc: BaseException,
    ) -> None:
        """Settle a call that raised *exc*, before or after its response."""
        if isinstance(exc, Exception):
            outcome = self.classify(request, exc)
            await self.settle(breaker, generation, outcome, exc)
        else:
            breaker._settle_ignored(generation)

    async def settle(
        self,
        breaker: CircuitBreaker,
        generation: int,
        outcome: Outcome,
        error: Exception | None,
    ) -> None:
        """Settle a call with *outcome*. A failure needs its *error*."""
        if outcome is _SUCCESS:
            await breaker._settle_success(generation)
        elif outcome is _FAILURE and error is not None:
            await breaker._settle_failure(generation, error)
        else:
            breaker._settle_ignored(generation)

    async def _settle_status_failure(
        self,
        breaker: CircuitBreaker,
        generation: int,
        request: httpx.Request,
        response: httpx.Response,
    ) -> None:
        error = httpx.HTTPStatusError(
            f"{request.method} {request.url} returned "
            f"{response.status_code} {response.reason_phrase}",
            request=request,
            response=response,
        )
        await breaker._settle_failure(generation, error, self.open_for(response))

    def open_for(self, response: httpx.Response) -> float | None:
        """Return how long ``Retry-After`` keeps a failing *response*'s host open.

        The header's delay is clamped to at least the reset timeout and at
        most the maximum open duration. Returns None when the header is
        missing or invalid, so that the reset timeout applies.
        """
        value = response.headers.get("Retry-After")
        if value is None:
            return None

        seconds = parse_retry_after(value, utc_now())
        if seconds is None:
            return None

        return max(self._reset_timeout, min(seconds, self._max_open_duration))


def body_is_pending(
    stream: object, response: httpx.Response
) -> TypeGuard[httpx.AsyncByteStream]:
    """Return whether *stream*, the body of *response*, is still to be read.

    A body that is already in memory cannot fail while it is read. A body
    that is not an async stream is never read by an async client, because
    ``httpx.Response.aiter_raw`` raises RuntimeError on it, so it has no
    reading phase to wait for either.
    """
    return (
        not response.is_closed
        and not isinstance(stream, httpx.ByteStream)
        and isinstance(stream, httpx.AsyncByteStream)
    )
