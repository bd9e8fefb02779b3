"""Static checks of the public signatures, run by ``mypy --strict``, never executed.

Each ``assert_type`` pins the type that a caller gets. Each ``type: ignore[code]``
pins an error that mypy must report: with ``warn_unused_ignores`` on, the
check fails if the error goes away.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

from anybreaker import (
    CircuitBreaker,
    CircuitBreakerListener,
    CircuitOpenError,
    CircuitState,
)

breaker = CircuitBreaker(fail_max=2, reset_timeout=3.0, name="payments")


@breaker
async def charge(order_id: str, amount: int = 0, *, currency: str = "EUR") -> float:
    return float(amount)


@breaker
async def log_all(*args: int, **kwargs: str) -> None:
    pass


@breaker
async def first(value: int, /) -> int:
    return value


async def fetch(url: str, *, timeout_seconds: float = 5.0) -> bytes:
    return url.encode()


class Client:
    @breaker
    async def get(self, path: str) -> bytes:
        return path.encode()

    @breaker
    @staticmethod
    async def static_outside(value: int) -> str:
        return str(value)

    @staticmethod
    @breaker
    async def static_inside(value: int) -> str:
        return str(value)

    @breaker
    @classmethod
    async def class_outside(cls, value: int) -> str:
        return cls.__name__ + str(value)

    @classmethod
    @breaker
    async def class_inside(cls, value: int) -> str:
        return cls.__name__ + str(value)


class AuditListener(CircuitBreakerListener):
    async def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> None:
        pass

    def failure(self, breaker: CircuitBreaker, exc: BaseException) -> None:
        pass

    async def rejected(self, breaker: CircuitBreaker, error: CircuitOpenError) -> None:
        assert_type(error.retry_after, float)


async def check_decorator() -> None:
    pending = assert_type(charge("o-1"), Coroutine[Any, Any, float])
    assert_type(await pending, float)
    assert_type(await charge("o-1", 5, currency="USD"), float)
    assert_type(await log_all(1, 2, key="value"), None)
    assert_type(await first(1), int)

    await charge(1)  # type: ignore[arg-type]
    await charge("o-1", currency=3)  # type: ignore[arg-type]
    await charge()  # type: ignore[call-arg]
    await first(value=1)  # type: ignore[call-arg]
    await log_all("not an int")  # type: ignore[arg-type]


async def check_methods() -> None:
    client = Client()

    assert_type(await client.get("/status"), bytes)
    assert_type(await Client.static_outside(1), str)
    assert_type(await Client.static_inside(1), str)
    assert_type(await client.static_outside(1), str)
    assert_type(await Client.class_outside(1), str)
    assert_type(await Client.class_inside(1), str)
    assert_type(await client.class_inside(1), str)

    await client.get(1)  # type: ignore[arg-type]
    await Client.static_outside("1")  # type: ignore[arg-type]
    await Client.class_outside("1")  # type: ignore[arg-type]


async def check_call() -> None:
    assert_type(await breaker.call(fetch, "https://example.test"), bytes)
    assert_type(await breaker.call(fetch, "u", timeout_seconds=1.0), bytes)
    assert_type(await breaker.call(charge, "o-1", 5), float)

    await breaker.call(fetch, 1)  # type: ignore[arg-type]
    await breaker.call(fetch, "u", retries=2)  # type: ignore[call-arg]


async def check_block() -> None:
    async with breaker as entered:
        assert_type(entered, CircuitBreaker)


def check_introspection() -> None:
    assert_type(breaker.state, CircuitState)
    assert_type(breaker.failure_count, int)
    assert_type(breaker.fail_max, int)
    assert_type(breaker.reset_timeout, float)
    assert_type(breaker.half_open_max_calls, int)
    assert_type(breaker.success_threshold, int)
    assert_type(breaker.name, str | None)
    assert_type(breaker.listeners, tuple[CircuitBreakerListener, ...])
    breaker.add_listener(AuditListener())
    breaker.add_listener(object())  # type: ignore[arg-type]


def check_settings() -> None:
    CircuitBreaker(
        fail_max=3,
        reset_timeout=2,
        half_open_max_calls=2,
        success_threshold=2,
        exclude=[KeyError, lambda exc: isinstance(exc, ValueError)],
        listeners=[AuditListener()],
        clock=lambda: 0.0,
        name="inventory",
    )
    CircuitBreaker(fail_max="3")  # type: ignore[arg-type]
    CircuitBreaker(clock=0.0)  # type: ignore[arg-type]
    CircuitBreaker(3)  # type: ignore[call-arg]


def check_decorating_plain_function() -> None:
    def plain(value: int) -> int:
        return value

    breaker(plain)  # type: ignore[arg-type]


def check_error(error: CircuitOpenError) -> None:
    assert_type(error.name, str | None)
    assert_type(error.state, CircuitState)
    assert_type(error.retry_after, float)
