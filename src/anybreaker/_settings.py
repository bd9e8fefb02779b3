from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TypeAlias

__all__ = ["Exclude", "Settings"]

logger = logging.getLogger(__name__)

#: An exception type whose instances (subclasses included) are ignored, or a
#: predicate that returns True for an exception to ignore.
Exclude: TypeAlias = type[BaseException] | Callable[[BaseException], bool]


def check_int(setting: str, value: object, minimum: int) -> int:
    """Return *value* if it is an int of at least *minimum*, or raise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(
            f"{setting} must be an int >= {minimum}, got {value!r} "
            f"of type {type(value).__name__}"
        )

    if value < minimum:
        raise ValueError(f"{setting} must be an int >= {minimum}, got {value!r}")

    return value


def check_seconds(setting: str, value: object) -> float:
    """Return *value* as float seconds if it is a finite number above 0, or raise."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(
            f"{setting} must be a number of seconds > 0, got {value!r} "
            f"of type {type(value).__name__}"
        )

    seconds = float(value)
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(
            f"{setting} must be a finite number of seconds > 0, got {value!r}"
        )

    return seconds


def split_exclude(
    exclude: Iterable[Exclude],
) -> tuple[
    tuple[type[BaseException], ...], tuple[Callable[[BaseException], bool], ...]
]:
    """Split *exclude* into exception types and predicates, or raise TypeError."""
    if (
        isinstance(exclude, type | str)
        or callable(exclude)
        or not isinstance(exclude, Iterable)
    ):
        raise TypeError(
            f"exclude must be an iterable of exception types and predicates, "
            f"got {exclude!r}; wrap a single entry in a tuple"
        )

    types: list[type[BaseException]] = []
    predicates: list[Callable[[BaseException], bool]] = []
    for entry in exclude:
        if isinstance(entry, type):
            if not issubclass(entry, BaseException):
                raise TypeError(
                    f"exclude entries must be exception types or predicates, "
                    f"got the class {entry.__qualname__}, which is not an exception"
                )

            types.append(entry)
        elif callable(entry):
            predicates.append(entry)
        else:
            raise TypeError(
                f"exclude entries must be exception types or predicates, "
                f"got {entry!r} of type {type(entry).__name__}"
            )

    return tuple(types), tuple(predicates)


class Settings:
    """Validated breaker settings, shared by every breaker built from them."""

    __slots__ = (
        "__weakref__",
        "clock",
        "exclude_predicates",
        "exclude_types",
        "excludes",
        "fail_max",
        "half_open_max_calls",
        "reset_timeout",
        "success_threshold",
    )

    def __init__(
        self,
        *,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        exclude: Iterable[Exclude] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fail_max = check_int("fail_max", fail_max, 1)
        self.reset_timeout = check_seconds("reset_timeout", reset_timeout)
        self.half_open_max_calls = check_int(
            "half_open_max_calls", half_open_max_calls, 1
        )
        self.success_threshold = check_int("success_threshold", success_threshold, 1)
        self.exclude_types, self.exclude_predicates = split_exclude(exclude)
        # Read on every failure, to skip is_excluded when nothing is excluded.
        self.excludes = bool(self.exclude_types or self.exclude_predicates)
        if not callable(clock):
            raise TypeError(
                f"clock must be a callable returning monotonic seconds, got {clock!r}"
            )

        self.clock = clock

    def interned(self) -> Settings:
        """Return an equal instance that is already in use, or this one.

        Breakers keep a reference to their settings, so sharing equal ones
        saves each breaker about 90 bytes. The table references its values
        weakly and keeps nothing alive.
        """
        key = (
            self.fail_max,
            self.reset_timeout,
            self.half_open_max_calls,
            self.success_threshold,
            self.exclude_types,
            self.exclude_predicates,
            self.clock,
        )
        try:
            return _interned.setdefault(key, self)
        except TypeError:
            # A clock or predicate that cannot be hashed is simply not shared.
            return self

    def is_excluded(self, exc: BaseException) -> bool:
        """Return whether *exc* matches an exclude type or predicate.

        A predicate that raises is logged at WARNING and treated as returning
        False, so the caller still sees its own exception, counted as a failure.
        An exception group that no entry matches as a whole is excluded when
        every exception in it is, as happens when a task group wraps one.
        """
        if isinstance(exc, self.exclude_types):
            return True

        for predicate in self.exclude_predicates:
            try:
                if predicate(exc):
                    return True
            except Exception:
                logger.warning(
                    "exclude predicate %r raised on %r; counting it as a failure",
                    predicate,
                    exc,
                    exc_info=True,
                )

        if isinstance(exc, BaseExceptionGroup):
            return all(self.is_excluded(inner) for inner in exc.exceptions)

        return False


_interned: weakref.WeakValueDictionary[tuple[object, ...], Settings] = (
    weakref.WeakValueDictionary()
)
