from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._breaker import CircuitBreaker
    from ._errors import CircuitOpenError
    from ._state import CircuitState

__all__ = ["CircuitBreakerListener"]

logger = logging.getLogger(__name__)


class CircuitBreakerListener:
    """Receives a breaker's events; override the methods you need.

    Each method may be a plain function or an ``async def``. A breaker calls
    them in the task whose call produced the event, after any state change is
    committed and never while it holds its lock. An exception raised by a
    listener is logged at WARNING with its traceback and otherwise ignored:
    it changes neither the breaker's state nor the caller's result.
    Cancellation raised inside an ``async`` listener propagates to the caller.
    """

    def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> Awaitable[None] | None:
        """Handle a committed transition from *old* to *new*."""

    def failure(
        self, breaker: CircuitBreaker, exc: BaseException
    ) -> Awaitable[None] | None:
        """Handle a call that failed with *exc*, counted or stale."""

    def success(self, breaker: CircuitBreaker) -> Awaitable[None] | None:
        """Handle a call that succeeded, counted or stale."""

    def rejected(
        self, breaker: CircuitBreaker, error: CircuitOpenError
    ) -> Awaitable[None] | None:
        """Handle a call rejected with *error* before it ran."""


class _Hooks:
    """The listeners of a breaker, pre-sorted by the events they override.

    Breakers built from the same settings share one instance until a listener
    is added to or removed from one of them, so an idle breaker costs a
    pointer here, and an event that no listener overrides costs one truth test.
    """

    __slots__ = ("failure", "listeners", "rejected", "state_change", "success")

    failure: tuple[CircuitBreakerListener, ...]
    rejected: tuple[CircuitBreakerListener, ...]
    state_change: tuple[CircuitBreakerListener, ...]
    success: tuple[CircuitBreakerListener, ...]

    def __init__(self, listeners: Iterable[CircuitBreakerListener]) -> None:
        if isinstance(listeners, CircuitBreakerListener) or not isinstance(
            listeners, Iterable
        ):
            raise TypeError(
                "listeners must be an iterable of CircuitBreakerListener "
                f"instances, got {listeners!r}; wrap a single listener in a list"
            )

        self.listeners = tuple(listeners)
        for listener in self.listeners:
            if not isinstance(listener, CircuitBreakerListener):
                raise TypeError(
                    "listeners must be CircuitBreakerListener instances, "
                    f"got {listener!r}; subclass CircuitBreakerListener and "
                    "override the events you need"
                )

        self.state_change = self._overrides("state_change")
        self.failure = self._overrides("failure")
        self.success = self._overrides("success")
        self.rejected = self._overrides("rejected")

    def _overrides(self, event: str) -> tuple[CircuitBreakerListener, ...]:
        # Read from the instance, so that a method set on the instance or a
        # mock made with spec=CircuitBreakerListener counts as an override.
        base = getattr(CircuitBreakerListener, event)
        return tuple(
            listener
            for listener in self.listeners
            if getattr(getattr(listener, event, None), "__func__", None) is not base
        )


def make_hooks(listeners: Iterable[CircuitBreakerListener]) -> _Hooks:
    """Return the hooks of *listeners*, shared by every breaker with none."""
    hooks = _Hooks(listeners)
    return NO_HOOKS if not hooks.listeners else hooks


NO_HOOKS = _Hooks(())


async def notify(
    breaker: CircuitBreaker,
    listeners: tuple[CircuitBreakerListener, ...],
    event: str,
    *args: Any,
) -> None:
    """Call each listener's *event* method with the breaker and *args*.

    The method is looked up at each event, so patching it on a listener that
    overrides the event takes effect at once. What it raises is logged.
    """
    for listener in listeners:
        hook = getattr(listener, event)
        try:
            result = hook(breaker, *args)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.warning(
                "listener %r of circuit breaker %r raised; ignoring it",
                hook,
                breaker.name,
                exc_info=True,
            )
