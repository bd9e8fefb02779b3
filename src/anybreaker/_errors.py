from __future__ import annotations

from typing import TYPE_CHECKING

from ._state import CircuitState

__all__ = ["CircuitOpenError"]


class CircuitOpenError(Exception):
    """A call was rejected because its circuit is open or its trial slots are taken.

    The protected function did not run. Each rejection raises a fresh instance.
    It is built with positional arguments, ``CircuitOpenError(name, state,
    retry_after)``, and its attributes are read-only.

    Attributes:
        name: The breaker's name, or ``None`` when it has none.
        state: `CircuitState.OPEN`, or `CircuitState.HALF_OPEN` when every
            trial permit is taken.
        retry_after: Seconds until a trial call may run, never negative.
            It is 0.0 while a trial runs, because the trial's outcome decides
            what happens next.
    """

    # The constructor is BaseException's own, which stores the arguments in
    # args without running any Python code, and the attributes read them
    # back: a rejection is a hot path, and most rejections are caught without
    # their attributes ever being read. The message is built on demand too.
    __slots__ = ()

    if TYPE_CHECKING:
        # Positional only, as BaseException's constructor takes no keywords.
        def __init__(
            self, name: str | None, state: CircuitState, retry_after: float, /
        ) -> None: ...

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
        who = "circuit" if self.name is None else f"circuit {self.name!r}"
        detail = " with every trial permit taken" if self.state is _HALF_OPEN else ""
        return f"{who} is {self.state}{detail}; retry after {self.retry_after:.3f} s"


_HALF_OPEN = CircuitState.HALF_OPEN
