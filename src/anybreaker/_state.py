from __future__ import annotations

import enum

__all__ = ["CircuitState"]


class CircuitState(enum.Enum):
    """The three states of a circuit breaker."""

    #: Calls run; consecutive failures are counted.
    CLOSED = "closed"
    #: Calls are rejected with `CircuitOpenError` until the reset timeout passes.
    OPEN = "open"
    #: A limited number of trial calls run; the rest are rejected at once.
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value
