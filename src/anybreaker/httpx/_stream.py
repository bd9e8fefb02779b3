from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx

from .._breaker import CircuitBreaker
from ._classify import Outcome

if TYPE_CHECKING:
    from ._outcomes import OutcomePolicy

__all__ = ["GuardedStream"]

_SUCCESS = Outcome.SUCCESS


class GuardedStream(httpx.AsyncByteStream):
    """A response body that settles its request's breaker call when it ends.

    Reading to the end settles the call with the outcome the response was
    classified as. An exception while reading is classified like one raised
    before the response arrived. Closing before the end, and cancellation
    or any other `BaseException` that is not an `Exception`, settle the call
    as ignored, and so does collecting a stream that was never closed. The
    call is settled once, by whichever of these comes first.
    """

    # NOTE: wrapping a streamed body costs about 1.3 µs per response on
    # CPython 3.11 (benchmarks/README.md, row 7). A wrapper that only forwards
    # chunks already costs about 0.45 µs of that.
    __slots__ = (
        "_breaker",
        "_generation",
        "_inner",
        "_iterator",
        "_outcome",
        "_policy",
        "_request",
        "_settled",
    )

    # Positional parameters, because one is created per streamed response
    # and keywords cost more to pass.
    def __init__(  # noqa: PLR0917
        self,
        inner: httpx.AsyncByteStream,
        policy: OutcomePolicy,
        breaker: CircuitBreaker,
        generation: int,
        request: httpx.Request,
        outcome: Outcome,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._breaker = breaker
        self._generation = generation
        self._request = request
        self._outcome = outcome
        self._iterator: AsyncIterator[bytes] | None = None
        self._settled = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._iterator = self._inner.__aiter__()
        return self

    async def __anext__(self) -> bytes:
        if self._iterator is None:
            self._iterator = self._inner.__aiter__()

        try:
            return await self._iterator.__anext__()
        except StopAsyncIteration:
            if not self._settled:
                self._settled = True
                breaker = self._breaker
                if self._outcome is not _SUCCESS:
                    breaker._settle_ignored(self._generation)
                elif breaker._success_needs_work:
                    # CircuitBreaker._settle_success has nothing to do unless
                    # _success_needs_work is set.
                    await breaker._settle_success(self._generation)

            raise
        except Exception as exc:
            if not self._settled:
                self._settled = True
                await self._policy.settle_error(
                    self._breaker, self._generation, self._request, exc
                )

            raise
        except BaseException:
            self._settle_ignored()
            raise

    async def aclose(self) -> None:
        self._settle_ignored()
        await self._inner.aclose()

    def __del__(self) -> None:
        # A response dropped without being closed must not keep a half-open
        # trial permit for ever. Settling as ignored awaits nothing, so it
        # is safe in a finalizer.
        if not getattr(self, "_settled", True):
            self._settle_ignored()

    def _settle_ignored(self) -> None:
        if not self._settled:
            self._settled = True
            self._breaker._settle_ignored(self._generation)
