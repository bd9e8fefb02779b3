from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from anybreaker import CircuitBreaker, CircuitBreakerListener


def test_settings_defaults() -> None:
    breaker = CircuitBreaker()

    assert breaker.fail_max == 5
    assert breaker.reset_timeout == 30.0
    assert breaker.half_open_max_calls == 1
    assert breaker.success_threshold == 1
    assert breaker.listeners == ()
    assert breaker.name is None


def test_settings_read_back() -> None:
    breaker = CircuitBreaker(
        fail_max=3,
        reset_timeout=2,
        half_open_max_calls=4,
        success_threshold=2,
        name="payments",
    )

    assert breaker.fail_max == 3
    assert breaker.reset_timeout == 2.0
    assert isinstance(breaker.reset_timeout, float)
    assert breaker.half_open_max_calls == 4
    assert breaker.success_threshold == 2
    assert breaker.name == "payments"


def test_settings_accept_iterables() -> None:
    breaker = CircuitBreaker(
        exclude=(error for error in [KeyError, ValueError]),
        listeners=iter([CircuitBreakerListener()]),
    )

    assert len(breaker.listeners) == 1


def test_repr_shows_state_and_count() -> None:
    breaker = CircuitBreaker(fail_max=3, name="payments")

    assert repr(breaker) == "<CircuitBreaker name='payments' state=closed failures=0/3>"


def never_excluded(exc: BaseException) -> bool:
    return False


INVALID_SETTINGS: list[tuple[dict[str, Any], type[Exception], str]] = [
    (
        {"fail_max": 2.0},
        TypeError,
        "fail_max must be an int >= 1, got 2.0 of type float",
    ),
    (
        {"fail_max": True},
        TypeError,
        "fail_max must be an int >= 1, got True of type bool",
    ),
    (
        {"fail_max": "3"},
        TypeError,
        "fail_max must be an int >= 1, got '3' of type str",
    ),
    ({"fail_max": 0}, ValueError, "fail_max must be an int >= 1, got 0"),
    ({"fail_max": -1}, ValueError, "fail_max must be an int >= 1, got -1"),
    (
        {"reset_timeout": 0},
        ValueError,
        "reset_timeout must be a finite number of seconds > 0, got 0",
    ),
    (
        {"reset_timeout": -1.5},
        ValueError,
        "reset_timeout must be a finite number of seconds > 0, got -1.5",
    ),
    (
        {"reset_timeout": math.nan},
        ValueError,
        "reset_timeout must be a finite number of seconds > 0, got nan",
    ),
    (
        {"reset_timeout": math.inf},
        ValueError,
        "reset_timeout must be a finite number of seconds > 0, got inf",
    ),
    (
        {"reset_timeout": "3"},
        TypeError,
        "reset_timeout must be a number of seconds > 0, got '3' of type str",
    ),
    (
        {"reset_timeout": True},
        TypeError,
        "reset_timeout must be a number of seconds > 0, got True of type bool",
    ),
    (
        {"half_open_max_calls": 0},
        ValueError,
        "half_open_max_calls must be an int >= 1, got 0",
    ),
    (
        {"half_open_max_calls": 1.5},
        TypeError,
        "half_open_max_calls must be an int >= 1, got 1.5 of type float",
    ),
    (
        {"success_threshold": 0},
        ValueError,
        "success_threshold must be an int >= 1, got 0",
    ),
    (
        {"success_threshold": None},
        TypeError,
        "success_threshold must be an int >= 1, got None of type NoneType",
    ),
    (
        {"exclude": (int,)},
        TypeError,
        "exclude entries must be exception types or predicates, "
        "got the class int, which is not an exception",
    ),
    (
        {"exclude": ("ValueError",)},
        TypeError,
        "exclude entries must be exception types or predicates, "
        "got 'ValueError' of type str",
    ),
    (
        {"exclude": ValueError},
        TypeError,
        "exclude must be an iterable of exception types and predicates, "
        "got <class 'ValueError'>; wrap a single entry in a tuple",
    ),
    (
        {"exclude": "ValueError"},
        TypeError,
        "exclude must be an iterable of exception types and predicates, "
        "got 'ValueError'; wrap a single entry in a tuple",
    ),
    (
        {"exclude": 5},
        TypeError,
        "exclude must be an iterable of exception types and predicates, "
        "got 5; wrap a single entry in a tuple",
    ),
    (
        {"clock": 5.0},
        TypeError,
        "clock must be a callable returning monotonic seconds, got 5.0",
    ),
    (
        {"listeners": [None]},
        TypeError,
        "listeners must be CircuitBreakerListener instances, got None; "
        "subclass CircuitBreakerListener and override the events you need",
    ),
    (
        {"listeners": 5},
        TypeError,
        "listeners must be an iterable of CircuitBreakerListener instances, "
        "got 5; wrap a single listener in a list",
    ),
    ({"name": 5}, TypeError, "name must be a str or None, got 5"),
]


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    INVALID_SETTINGS,
    ids=[
        ",".join(f"{key}={value!r}" for key, value in settings.items())
        for settings, _, _ in INVALID_SETTINGS
    ],
)
def test_invalid_setting_raises(
    settings: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        CircuitBreaker(**settings)

    assert type(caught.value) is error
    assert str(caught.value) == message


def test_single_listener_raises() -> None:
    listener = CircuitBreakerListener()

    with pytest.raises(TypeError) as caught:
        CircuitBreaker(listeners=listener)  # type: ignore[arg-type]

    assert "wrap a single listener in a list" in str(caught.value)


def test_exclude_predicate_accepted() -> None:
    CircuitBreaker(exclude=[never_excluded, functools.partial(never_excluded)])


def plain_function() -> None:
    pass


class SyncCallable:
    def __call__(self) -> None:
        pass


class AsyncCallable:
    async def __call__(self) -> None:
        pass


async def async_generator() -> AsyncIterator[int]:
    yield 1


@pytest.mark.parametrize(
    "target",
    [
        plain_function,
        lambda: None,
        SyncCallable(),
        staticmethod(plain_function),
        classmethod(plain_function),
        functools.partial(plain_function),
        AsyncCallable,
        async_generator,
        5,
    ],
    ids=[
        "function",
        "lambda",
        "sync_callable",
        "staticmethod",
        "classmethod",
        "partial",
        "class_with_async_call",
        "async_generator",
        "int",
    ],
)
def test_decorate_non_async_raises(target: Any) -> None:
    breaker = CircuitBreaker()

    with pytest.raises(TypeError) as caught:
        breaker(target)

    assert str(caught.value).startswith(
        "CircuitBreaker can only decorate async functions, got "
    )
    assert str(caught.value).endswith("; declare it with 'async def'")


# -- sharing between breakers ------------------------------------------------------


def test_equal_settings_shared() -> None:
    first = CircuitBreaker(fail_max=3, reset_timeout=7.0)
    second = CircuitBreaker(fail_max=3, reset_timeout=7.0)
    other = CircuitBreaker(fail_max=4, reset_timeout=7.0)

    assert first._settings is second._settings
    assert first._settings is not other._settings
    assert other.fail_max == 4


def test_unhashable_clock_not_shared() -> None:
    class ListClock(list[float]):
        def __call__(self) -> float:
            return self[0]

    clock = ListClock([0.0])
    breaker = CircuitBreaker(clock=clock)

    assert breaker._settings.clock is clock


def test_no_listeners_share_hooks() -> None:
    class Listener(CircuitBreakerListener):
        def success(self, breaker: CircuitBreaker) -> None:
            pass

    first = CircuitBreaker()
    second = CircuitBreaker()
    listener = Listener()
    first.add_listener(listener)

    assert first._hooks is not second._hooks
    assert second.listeners == ()
    assert first.listeners == (listener,)

    first.remove_listener(listener)

    assert first._hooks is second._hooks
