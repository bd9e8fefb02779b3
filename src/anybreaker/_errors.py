from __future__ import annotations

from ._state import CircuitState

__all__ = ["CircuitOpenError"]


class CircuitOpenError(Exception):
    """A call was rejected because its circuit is open or its trial slots are taken.

    The protected function did not run. Each rejection raises a fresh instance.
    Its attributes are read-only.

    Attributes:
        name: The breaker's name, or ``None`` when it has none.
        state: `CircuitState.OPEN`, or `CircuitState.HALF_OPEN` when every
            trial permit is taken.
        retry_after: Seconds until a trial call may run, never negative.
            It is 0.0 while a trial runs, because the trial's outcome decides
            what happens next.
    """

    # The breaker builds its rejections with BaseException.__new__ alone,
    # which stores the fields in args without running this __init__, because
    # a rejection is a hot path. The message is built on demand.
    __slots__ = ()

    def __init__(
        self, name: str | None, state: CircuitState, retry_after: float
    ) -> None:
        # Exception's own __init__, not super(): in a subclass that also
        # derives from another library's error, the next class in the MRO
        # may take different arguments.
        Exception.__init__(self, name, state, retry_after)

    @property
    def name(self) -> str | None:
        """The breaker's name, or None."""
        return self.args[0]  # type: ignore[no-any-return]

    @property
    def state(self) -> CircuitState:
        """OPEN, or HALF_OPEN when every trial permit is taken."""
        return self.args[1]  # type: ignore[no-any-return]

    @property
    def retry_after(self) -> float:
        """Seconds until a trial call may run, never negative."""
        return self.args[2]  # type: ignore[no-any-return]

    def __str__(self) -> str:
        circuit = "circuit" if self.name is None else f"circuit {self.name!r}"
        detail = " with every trial permit taken" if self.state is _HALF_OPEN else ""
        return (
            f"{circuit} is {self.state}{detail}; retry after {self.retry_after:.3f} s"
        )


_HALF_OPEN = CircuitState.HALF_OPEN
