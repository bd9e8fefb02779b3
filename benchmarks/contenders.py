"""The circuit breakers under comparison, each driven through its async API.

Every contender builds a breaker from the same two settings, a count of
failures that opens the circuit (*fail_max*) and the seconds it stays open
(*reset_timeout*), and guards a zero-argument coroutine function the way its
documentation shows. Libraries whose model differs are mapped onto those
settings as closely as they allow; each mapping is described in `notes`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from harness import Runner

#: A zero-argument coroutine function, the shape of every guarded call here.
AsyncFunction = Callable[[], Awaitable[Any]]


def awaiting_loop(func: AsyncFunction) -> Runner:
    """Return a loop that awaits ``func()`` *count* times."""

    async def run(count: int) -> None:
        for _ in range(count):
            await func()

    return run


def catching_loop(func: AsyncFunction, error: type[BaseException]) -> Runner:
    """Return a loop that awaits ``func()`` *count* times, catching *error*."""

    async def run(count: int) -> None:
        for _ in range(count):
            # contextlib.suppress would time a context manager as well.
            try:  # noqa: SIM105
                await func()
            except error:
                pass

    return run


class Contender:
    """One library, or one API of anybreaker, as measured by every row."""

    #: Key in the JSON output.
    key: str
    #: Label in the Markdown tables.
    label: str
    #: Distribution name whose version is reported.
    distribution: str
    #: The form of the guarded call that is measured.
    api: str
    #: How the library's model maps onto fail_max and reset_timeout, if at all.
    notes: str = ""
    #: Why a rejection keeps memory, for libraries whose rejections do.
    rejection_notes: str = ""
    #: The exception raised when the breaker rejects a call.
    open_error: type[BaseException] = Exception
    #: Why the contender cannot run, or "" when it can.
    unavailable: str = ""

    def make(self, *, fail_max: int, reset_timeout: float, name: str) -> Any:
        """Build a closed breaker."""
        raise NotImplementedError

    def make_default(self, name: str) -> Any:
        """Build a breaker with the library's default settings."""
        raise NotImplementedError

    def guard(self, breaker: Any, func: AsyncFunction) -> AsyncFunction:
        """Return a zero-argument coroutine function calling *func* via *breaker*."""
        raise NotImplementedError

    def success_loop(self, breaker: Any, func: AsyncFunction) -> Runner:
        return awaiting_loop(self.guard(breaker, func))

    def catching_loop(
        self, breaker: Any, func: AsyncFunction, error: type[BaseException]
    ) -> Runner:
        return catching_loop(self.guard(breaker, func), error)

    async def make_idle(self, names: list[str]) -> list[Any]:
        """Build one breaker with default settings per name, for memory rows."""
        return [self.make_default(name) for name in names]

    def version(self) -> str:
        return importlib.metadata.version(self.distribution)


# -- anybreaker ------------------------------------------------------------------


class AnybreakerDecorator(Contender):
    key = "anybreaker-decorator"
    label = "anybreaker `@breaker`"
    distribution = "anybreaker"
    api = "`@breaker` on the async function"

    def __init__(self) -> None:
        self._module = importlib.import_module("anybreaker")
        self.open_error = self._module.CircuitOpenError

    def make(self, *, fail_max: int, reset_timeout: float, name: str) -> Any:
        return self._module.CircuitBreaker(
            fail_max=fail_max, reset_timeout=reset_timeout, name=name
        )

    def make_default(self, name: str) -> Any:
        return self._module.CircuitBreaker(name=name)

    def guard(self, breaker: Any, func: AsyncFunction) -> AsyncFunction:
        return breaker(func)  # type: ignore[no-any-return]


class AnybreakerCall(AnybreakerDecorator):
    key = "anybreaker-call"
    label = "anybreaker `call()`"
    api = "`await breaker.call(f)`"

    def guard(self, breaker: Any, func: AsyncFunction) -> AsyncFunction:
        return functools.partial(breaker.call, func)

    def success_loop(self, breaker: Any, func: AsyncFunction) -> Runner:
        call = breaker.call

        async def run(count: int) -> None:
            for _ in range(count):
                await call(func)

        return run

    def catching_loop(
        self, breaker: Any, func: AsyncFunction, error: type[BaseException]
    ) -> Runner:
        call = breaker.call

        async def run(count: int) -> None:
            for _ in range(count):
                try:  # noqa: SIM105
                    await call(func)
                except error:
                    pass

        return run


class AnybreakerAsyncWith(AnybreakerDecorator):
    key = "anybreaker-async-with"
    label = "anybreaker `async with`"
    api = "`async with breaker: await f()`"

    def guard(self, breaker: Any, func: AsyncFunction) -> AsyncFunction:
        async def guarded() -> Any:
            async with breaker:
                return await func()

        return guarded

    def success_loop(self, breaker: Any, func: AsyncFunction) -> Runner:
        async def run(count: int) -> None:
            for _ in range(count):
                async with breaker:
                    await func()

        return run

    def catching_loop(
        self, breaker: Any, func: AsyncFunction, error: type[BaseException]
    ) -> Runner:
        async def run(count: int) -> None:
            for _ in range(count):
                try:
                    async with breaker:
                        await func()
                except error:
                    pass

        return run


# -- peers -----------------------------------------------------------------------


class Pybreaker(Contender):
    key = "pybreaker"
    label = "pybreaker"
    distribution = "pybreaker"
    api = "`with breaker.calling(): await f()`"
    notes = (
        "pybreaker has no asyncio API: its `call_async` needs Tornado, and its "
        "decorator on an `async def` returns the coroutine unawaited, counting "
        "a success before the call has run. It is measured through its "
        "`calling()` context manager written inline around the `await`, which "
        "counts the outcome when the block exits. It has no limit on "
        "concurrent half-open trials."
    )

    def __init__(self) -> None:
        self._module = importlib.import_module("pybreaker")
        self.open_error = self._module.CircuitBreakerError

    def make(self, *, fail_max: int, reset_timeout: float, name: str) -> Any:
        return self._module.CircuitBreaker(
            fail_max=fail_max, reset_timeout=reset_timeout, name=name
        )

    def make_default(self, name: str) -> Any:
        return self._module.CircuitBreaker(name=name)

    def guard(self, breaker: Any, func: AsyncFunction) -> AsyncFunction:
        async def guarded() -> Any:
            with breaker.calling():
                return await func()

        return guarded

    def success_loop(self, breaker: Any, func: AsyncFunction) -> Runner:
        async def run(count: int) -> None:
            for _ in range(count):
                with breaker.calling():
                    await func()

        return run

    def catching_loop(
        self, breaker: Any, func: AsyncFunction, error: type[BaseException]
    ) -> Runner:
        async def run(count: int) -> None:
            for _ in range(count):
                try:
                    with breaker.calling():
                        await func()
                except error:
                    pass

        return run


class Aiobreaker(Contender):
    key = "aiobreaker"
    label = "aiobreaker"
    distribution = "aiobreaker"
    api = "`@breaker` on the async function"
    notes = "aiobreaker has no limit on concurrent half-open trials."

    def __init__(self) -> None:
        self._module = importlib.import_module("aiobreaker")
        self.open_error = self._module.CircuitBreakerError

    def make(self, *, fail_max: int, reset_timeout: float, name: str) -> Any:
        return self._module.CircuitBreaker(
            fail_max=fail_max,
            timeout_duration=timedelta(seconds=reset_timeout),
            name=name,
        )

    def make_default(self, name: str) -> Any:
        return self._module.CircuitBreaker(name=name)

    def guard(self, breaker: Any, func: AsyncFunction) -> AsyncFunction:
        return breaker(func)  # type: ignore[no-any-return]


class _PurgatoryCircuit:
    """A purgatory factory and the name of the one circuit used from it."""

    def __init__(self, factory: Any, name: str) -> None:
        self.factory = factory
        self.name = name


class Purgatory(Contender):
    key = "purgatory"
    label = "purgatory"
    distribution = "purgatory"
    api = "`@factory(name)` on the async function"
    notes = (
        "purgatory keeps its circuits in a factory by name; its decorator looks "
        "the circuit up in the factory's in-memory store on every call. An idle "
        "breaker here is one circuit registered in a factory. It has no limit "
        "on concurrent half-open trials."
    )
    rejection_notes = (
        "purgatory raises one exception instance, the circuit's open-state "
        "object, for every rejection. Each raise adds the frames it passes "
        "through to that instance's traceback, which keeps them alive, so its "
        "memory and its rejection time grow with the number of rejections."
    )

    def __init__(self) -> None:
        self._module = importlib.import_module("purgatory")
        self.open_error = importlib.import_module("purgatory.domain.model").OpenedState

    def make(self, *, fail_max: int, reset_timeout: float, name: str) -> Any:
        factory = self._module.AsyncCircuitBreakerFactory(
            default_threshold=fail_max, default_ttl=reset_timeout
        )
        return _PurgatoryCircuit(factory, name)

    def guard(self, breaker: Any, func: AsyncFunction) -> AsyncFunction:
        return breaker.factory(breaker.name)(func)  # type: ignore[no-any-return]

    async def make_idle(self, names: list[str]) -> list[Any]:
        factory = self._module.AsyncCircuitBreakerFactory()
        for name in names:
            await factory.get_breaker(name)

        return [factory]


class Circuitbreaker(Contender):
    key = "circuitbreaker"
    label = "circuitbreaker"
    distribution = "circuitbreaker"
    api = "`@breaker` on the async function"
    notes = (
        "circuitbreaker reports HALF_OPEN once the recovery timeout has passed "
        "and admits every call in that state."
    )

    def __init__(self) -> None:
        self._module = importlib.import_module("circuitbreaker")
        self.open_error = self._module.CircuitBreakerError

    def make(self, *, fail_max: int, reset_timeout: float, name: str) -> Any:
        return self._module.CircuitBreaker(
            failure_threshold=fail_max, recovery_timeout=reset_timeout, name=name
        )

    def make_default(self, name: str) -> Any:
        return self._module.CircuitBreaker(name=name)

    def guard(self, breaker: Any, func: AsyncFunction) -> AsyncFunction:
        return breaker(func)  # type: ignore[no-any-return]


class Aiocircuitbreaker(Circuitbreaker):
    key = "aiocircuitbreaker"
    label = "aiocircuitbreaker"
    distribution = "aiocircuitbreaker"
    notes = (
        "aiocircuitbreaker reports HALF_OPEN once the recovery timeout has "
        "passed and admits every call in that state."
    )

    def __init__(self) -> None:
        self._module = importlib.import_module("aiocircuitbreaker")
        self.open_error = self._module.CircuitBreakerError


class Interlock(Contender):
    key = "interlock-cb"
    label = "interlock-cb"
    distribution = "interlock-cb"
    api = "`@breaker` on the async function"
    notes = (
        "interlock-cb opens on a failure rate over a sliding window rather than "
        "on consecutive failures. It is configured to open at a 100% failure "
        "rate once `fail_max` calls are in a count window of `fail_max` calls "
        "(at most 100 slots), with one half-open trial at a time; the memory "
        "row uses its defaults, a 100-call window."
    )

    def __init__(self) -> None:
        self._module = importlib.import_module("interlock")
        self.open_error = self._module.CircuitOpenError

    def make(self, *, fail_max: int, reset_timeout: float, name: str) -> Any:
        config = self._module.Config(
            failure_rate_threshold=1.0,
            minimum_number_of_calls=fail_max,
            window_size=min(fail_max, 100),
            wait_duration_in_open=reset_timeout,
            permitted_calls_in_half_open=1,
            max_concurrent_probes=1,
        )
        return self._module.CircuitBreaker(name=name, config=config)

    def make_default(self, name: str) -> Any:
        return self._module.CircuitBreaker(name=name)

    def guard(self, breaker: Any, func: AsyncFunction) -> AsyncFunction:
        return breaker(func)  # type: ignore[no-any-return]


class _Unavailable(Contender):
    """A peer that could not be imported; every row prints n/a for it."""

    def __init__(self, template: type[Contender], reason: str) -> None:
        self.key = template.key
        self.label = template.label
        self.distribution = template.distribution
        self.api = template.api
        self.unavailable = reason

    def version(self) -> str:
        return "not installed"


PEERS: tuple[type[Contender], ...] = (
    Pybreaker,
    Aiobreaker,
    Purgatory,
    Circuitbreaker,
    Aiocircuitbreaker,
    Interlock,
)
ANYBREAKER: tuple[type[Contender], ...] = (
    AnybreakerDecorator,
    AnybreakerCall,
    AnybreakerAsyncWith,
)


def load_contenders() -> list[Contender]:
    """Instantiate anybreaker's APIs and every peer that can be imported."""
    contenders: list[Contender] = [cls() for cls in ANYBREAKER]
    for cls in PEERS:
        try:
            contenders.append(cls())
        except ImportError as exc:
            contenders.append(_Unavailable(cls, f"not installed ({exc})"))

    return contenders


# -- shared set-up steps ---------------------------------------------------------


class Boom(Exception):
    """The failure raised by the protected function in failure rows."""


async def trivial() -> None:
    """The protected function of the closed-state rows: returns at once."""


async def failing() -> None:
    """Raise a fresh `Boom`, as a failing dependency call would."""
    raise Boom


async def trip(contender: Contender, breaker: Any, fail_max: int) -> None:
    """Fail *fail_max* calls through *breaker* so that it opens."""
    guarded = contender.guard(breaker, failing)
    for _ in range(fail_max):
        try:
            await guarded()
        except Exception as exc:
            # Some libraries raise their own error from the call that trips.
            if not isinstance(exc, Boom | contender.open_error):
                raise


async def admits(contender: Contender, breaker: Any) -> bool:
    """Return whether *breaker* runs the next call rather than rejecting it."""
    ran = False

    async def probe() -> None:
        nonlocal ran
        ran = True

    try:
        await contender.guard(breaker, probe)()
    except contender.open_error:
        return False

    return ran
