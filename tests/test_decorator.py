from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import pytest

from anybreaker import CircuitBreaker, CircuitState
from support import UpstreamError

SENTINEL = object()


async def fetch(
    url: str,
    /,
    retries: int = 2,
    *args: int,
    deadline: float,
    tag: object = SENTINEL,
    **headers: str,
) -> tuple[Any, ...]:
    """Fetch a resource."""
    return (url, retries, args, deadline, tag, headers)


# -- metadata -----------------------------------------------------------------------


def test_decorator_keeps_metadata() -> None:
    guarded = CircuitBreaker()(fetch)

    assert guarded.__name__ == "fetch"
    assert guarded.__qualname__ == "fetch"
    assert guarded.__doc__ == "Fetch a resource."
    assert guarded.__module__ == __name__
    assert guarded.__wrapped__ is fetch  # type: ignore[attr-defined]


def test_decorator_keeps_signature() -> None:
    guarded = CircuitBreaker()(fetch)

    assert inspect.signature(guarded) == inspect.signature(fetch)


def test_decorator_own_signature_matches() -> None:
    guarded = CircuitBreaker()(fetch)

    assert inspect.signature(guarded, follow_wrapped=False) == inspect.signature(fetch)


def test_decorator_returns_coroutine_function() -> None:
    guarded = CircuitBreaker()(fetch)

    assert inspect.iscoroutinefunction(guarded)


# -- parameters ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_decorator_passes_every_kind() -> None:
    guarded = CircuitBreaker()(fetch)

    result = await guarded("u", 5, 6, 7, deadline=1.5, tag="t", accept="json")

    assert result == ("u", 5, (6, 7), 1.5, "t", {"accept": "json"})


@pytest.mark.anyio
async def test_decorator_keeps_default_objects() -> None:
    guarded = CircuitBreaker()(fetch)

    result = await guarded("u", deadline=1.0)

    assert result[1] == 2
    assert result[4] is SENTINEL


@pytest.mark.anyio
async def test_decorator_mutable_default_shared() -> None:
    async def append(item: int, items: list[int] = []) -> list[int]:  # noqa: B006
        items.append(item)
        return items

    guarded = CircuitBreaker()(append)

    first = await guarded(1)
    second = await guarded(2)

    assert first is second
    assert second == [1, 2]


@pytest.mark.anyio
async def test_decorator_positional_only_rejects_keyword() -> None:
    breaker = CircuitBreaker(fail_max=1)
    guarded = breaker(fetch)

    with pytest.raises(TypeError):
        await guarded(url="u", deadline=1.0)  # type: ignore[call-arg]

    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_decorator_keyword_only_required() -> None:
    breaker = CircuitBreaker(fail_max=1)
    guarded = breaker(fetch)

    with pytest.raises(TypeError):
        await guarded("u")  # type: ignore[call-arg]

    assert breaker.state is CircuitState.CLOSED


@pytest.mark.anyio
async def test_decorator_var_arguments_only() -> None:
    async def collect(*args: int, **kwargs: int) -> tuple[Any, ...]:
        return (args, kwargs)

    guarded = CircuitBreaker()(collect)

    assert await guarded(1, 2, a=3) == ((1, 2), {"a": 3})


@pytest.mark.anyio
async def test_decorator_keyword_only_without_varargs() -> None:
    async def configure(*, level: int = 1, name: str) -> tuple[int, str]:
        return (level, name)

    guarded = CircuitBreaker()(configure)

    assert await guarded(name="n") == (1, "n")
    assert inspect.signature(guarded, follow_wrapped=False) == inspect.signature(
        configure
    )


@pytest.mark.anyio
async def test_decorator_positional_only_with_varargs() -> None:
    async def head(first: int, /, *rest: int) -> tuple[int, tuple[int, ...]]:
        return (first, rest)

    guarded = CircuitBreaker()(head)

    assert await guarded(1, 2, 3) == (1, (2, 3))
    assert inspect.signature(guarded, follow_wrapped=False) == inspect.signature(head)


@pytest.mark.anyio
async def test_decorator_no_parameters() -> None:
    async def ping() -> str:
        return "pong"

    assert await CircuitBreaker()(ping)() == "pong"


@pytest.mark.anyio
async def test_decorator_reserved_parameter_name() -> None:
    async def echo(_anybreaker_func: int, _anybreaker_breaker: int = 2) -> int:
        return _anybreaker_func + _anybreaker_breaker

    guarded = CircuitBreaker()(echo)

    assert await guarded(1) == 3
    assert inspect.signature(guarded) == inspect.signature(echo)


@pytest.mark.anyio
async def test_decorator_parameter_named_like_function() -> None:
    async def item(item: int) -> int:
        return item * 2

    assert await CircuitBreaker()(item)(4) == 8


@pytest.mark.anyio
async def test_decorator_keyword_function_name() -> None:
    async def renamed() -> str:
        return "ok"

    renamed.__name__ = "class"
    guarded = CircuitBreaker()(renamed)

    assert await guarded() == "ok"
    assert guarded.__name__ == "class"


# -- what can be decorated -------------------------------------------------------------


@pytest.mark.anyio
async def test_decorator_counts_failures() -> None:
    breaker = CircuitBreaker(fail_max=2)

    @breaker
    async def broken() -> None:
        raise UpstreamError("upstream failed")

    for _ in range(2):
        with pytest.raises(UpstreamError):
            await broken()

    assert breaker.state is CircuitState.OPEN


@pytest.mark.anyio
async def test_decorator_on_async_callable() -> None:
    class Client:
        async def __call__(self, value: int) -> int:
            return value + 1

    guarded = CircuitBreaker()(Client())

    assert await guarded(1) == 2


@pytest.mark.anyio
async def test_decorator_on_partial() -> None:
    guarded = CircuitBreaker()(functools.partial(fetch, "u", deadline=2.0))

    result = await guarded(3)

    assert result[:2] == ("u", 3)


@pytest.mark.anyio
async def test_decorator_on_wrapped_function() -> None:
    def traced(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return ("traced", await func(*args, **kwargs))

        return wrapper

    guarded = CircuitBreaker()(traced(fetch))

    result = await guarded("u", deadline=1.0)

    assert result[0] == "traced"
    assert inspect.signature(guarded) == inspect.signature(fetch)


breaker_for_methods = CircuitBreaker(fail_max=2)


class Service:
    """Methods decorated in every supported order."""

    def __init__(self, base: int) -> None:
        self.base = base

    @breaker_for_methods
    async def method(self, value: int, *, scale: int = 1) -> int:
        return (self.base + value) * scale

    @breaker_for_methods
    @staticmethod
    async def static_outside(value: int) -> int:
        return value

    @staticmethod
    @breaker_for_methods
    async def static_inside(value: int) -> int:
        return value

    @breaker_for_methods
    @classmethod
    async def class_outside(cls, value: int) -> tuple[type, int]:
        return (cls, value)

    @classmethod
    @breaker_for_methods
    async def class_inside(cls, value: int) -> tuple[type, int]:
        return (cls, value)

    @breaker_for_methods
    async def broken(self) -> None:
        raise UpstreamError("upstream failed")


class SubService(Service):
    pass


@pytest.mark.anyio
async def test_method_binds_self() -> None:
    assert await Service(10).method(1, scale=2) == 22


@pytest.mark.anyio
async def test_method_through_class() -> None:
    service = Service(10)

    assert await Service.method(service, 1) == 11


@pytest.mark.parametrize("name", ["static_outside", "static_inside"])
@pytest.mark.anyio
async def test_staticmethod_either_side(name: str) -> None:
    assert await getattr(Service, name)(3) == 3
    assert await getattr(Service(0), name)(4) == 4
    assert isinstance(inspect.getattr_static(Service, name), staticmethod)


@pytest.mark.parametrize("name", ["class_outside", "class_inside"])
@pytest.mark.anyio
async def test_classmethod_either_side(name: str) -> None:
    assert await getattr(SubService, name)(3) == (SubService, 3)
    assert await getattr(Service(0), name)(4) == (Service, 4)
    assert isinstance(inspect.getattr_static(Service, name), classmethod)


@pytest.mark.parametrize(
    "name",
    ["method", "static_outside", "static_inside", "class_outside", "class_inside"],
)
def test_method_keeps_signature(name: str) -> None:
    attribute = inspect.getattr_static(Service, name)
    guarded = getattr(attribute, "__func__", attribute)
    original = guarded.__wrapped__

    assert inspect.signature(guarded, follow_wrapped=False) == inspect.signature(
        original
    )
    assert guarded.__name__ == name


@pytest.mark.anyio
async def test_method_failures_share_breaker() -> None:
    breaker = CircuitBreaker(fail_max=2)

    class Client:
        @breaker
        async def broken(self) -> None:
            raise UpstreamError("upstream failed")

    for client in (Client(), Client()):
        with pytest.raises(UpstreamError):
            await client.broken()

    assert breaker.state is CircuitState.OPEN
