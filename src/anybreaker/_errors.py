from __future__ import annotations

from ._state import CircuitState

__all__ = ["CircuitOpenError"]


class CircuitOpenError(Exception):
    """A call was rejected because its circuit is open or its trial slots are taken.

    The protected function did not run. Each rejection raises a fresh instance.

    Attributes:
        name: The breaker's name, or ``None`` when it has none.
        state: `CircuitState.OPEN`, or `CircuitState.HALF_OPEN` when every
            trial permit is taken.
        retry_after: Seconds until a trial call may run, never negative.
            It is 0.0 while a trial runs, because the trial's outcome decides
            what happens next.
    """

    # Slots keep the attributes out of a per-instance __dict__, which would be
    # created on the first assignment and double the cost of building the error.
    __slots__ = ("name", "retry_after", "state")

    # The message is built on demand: rejections are a hot path, and most of
    # them are caught without ever being printed.
    def __init__(
        self, name: str | None, state: CircuitState, retry_after: float
    ) -> None:
        self.name = name
        self.state = state
        self.retry_after = retry_after

    def __str__(self) -> str:
        who = "circuit" if self.name is None else f"circuit {self.name!r}"
        detail = " with every trial permit taken" if self.state is _HALF_OPEN else ""
        return f"{who} is {self.state}{detail}; retry after {self.retry_after:.3f} s"


_HALF_OPEN = CircuitState.HALF_OPEN
