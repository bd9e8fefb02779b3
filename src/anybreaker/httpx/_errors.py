from __future__ import annotations

import httpx

from .._errors import CircuitOpenError
from .._state import CircuitState

__all__ = ["CircuitOpenTransportError"]


class CircuitOpenTransportError(CircuitOpenError, httpx.TransportError):
    """A request was rejected because its host's circuit is open.

    The inner transport was not called. Code that handles httpx errors
    catches it as `httpx.TransportError`, and code that handles breakers
    catches it as `anybreaker.CircuitOpenError`.

    Attributes:
        name: The host key, such as ``https://api.example.com:443``.
        state: `CircuitState.OPEN`, or `CircuitState.HALF_OPEN` when every
            trial permit is taken.
        retry_after: Seconds until a trial request may run, never negative.
        request: The rejected `httpx.Request`.
    """

    # httpx.HTTPError.__init__ is skipped, because it would build a message
    # on every rejection: Exception.__init__ stores the arguments that
    # CircuitOpenError's attributes read, and httpx's `request` property
    # reads _request.
    def __init__(
        self,
        name: str | None,
        state: CircuitState,
        retry_after: float,
        *,
        request: httpx.Request | None = None,
    ) -> None:
        Exception.__init__(self, name, state, retry_after)
        self._request = request

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, state={self.state}, "
            f"retry_after={self.retry_after:.3f})"
        )
