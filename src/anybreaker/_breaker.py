from __future__ import annotations

import inspect
import logging
import math
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar, overload

import anyio

from ._errors import CircuitOpenError
from ._listener import CircuitBreakerListener, _Hooks, make_hooks, notify
from ._settings import Exclude, Settings
from ._state import CircuitState
from ._wrap import make_guarded

__all__ = ["CircuitBreaker"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")

# Builds a CircuitOpenError without running its Python __init__; see there.
_new_error = BaseException.__new__

_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN

# Admissions made by `async with breaker:` blocks that are still open in the
# current task, innermost last, as (breaker, generation, frame id). The value
# is an immutable tuple because a task started inside a block copies the
# context and must not share it.
_entered: ContextVar[tuple[tuple[CircuitBreaker, int, int], ...]] = ContextVar(
    "anybreaker_entered", default=()
)


class CircuitBreaker:
    """Guards async calls to one dependency with a circuit breaker.

    A breaker starts CLOSED and lets calls run. After *fail_max* consecutive
    failures it opens and rejects calls with `CircuitOpenError` without running
    them. Once *reset_timeout* seconds have passed, the next call moves it to
    HALF_OPEN and runs as a trial: *success_threshold* trial successes close
    it again, and any trial failure reopens it for a fresh *reset_timeout*.
    No timer or background task is involved; the clock is read on calls.

    Use it as a decorator, through `call`, or as ``async with breaker:``.

    Args:
        fail_max: Consecutive failures that open the circuit, an int >= 1.
        reset_timeout: Seconds the circuit stays open before a trial may run,
            a finite number > 0.
        half_open_max_calls: Trial calls admitted at once while half-open,
            an int >= 1. Other callers are rejected at once, never queued.
        success_threshold: Trial successes that close the circuit, an
            int >= 1.
        exclude: Exception types (subclasses included) and predicates
            ``exc -> bool`` whose matches are ignored: re-raised, counted
            neither as failure nor success, and any trial permit given back.
        listeners: `CircuitBreakerListener` instances to notify of events.
        clock: A zero-argument callable returning monotonic seconds.
        name: A label for messages, logs and `CircuitOpenError.name`.

    Raises:
        TypeError: A setting has the wrong type.
        ValueError: A setting is out of range.
    """

    __slots__ = (
        "__weakref__",
        "_blocks",
        "_closed_generation",
        "_failures",
        "_generation",
        "_hooks",
        "_lock",
        "_open_until",
        "_settings",
        "_state",
        "_success_needs_work",
        "_trial_successes",
        "_trials",
        "name",
    )

    # Every state change increments _generation. A call remembers the
    # generation it was admitted in, and its outcome counts only while that
    # generation is current. So a call that straddles a state change can
    # neither move the state nor give back a permit it never took.
    _generation: int
    _state: CircuitState
    # The two flags the closed-state path reads. _closed_generation is the
    # generation while CLOSED and -1 otherwise. _success_needs_work is False
    # only while CLOSED with no failures counted and no success listener, when
    # a success changes nothing.
    _closed_generation: int
    _success_needs_work: bool
    # Consecutive failures while CLOSED.
    _failures: int
    # Trial permits taken, and trial successes, while HALF_OPEN.
    _trials: int
    _trial_successes: int
    # Clock reading at which an OPEN circuit admits its next trial.
    _open_until: float
    _lock: anyio.Lock | None
    # Generations admitted by `async with` blocks that have not exited, by
    # the id of the frame running the block. Created on the first block.
    _blocks: dict[int, list[int]] | None

    def __init__(
        self,
        *,
        fail_max: int = 5,
        reset_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        success_threshold: int = 1,
        exclude: Iterable[Exclude] = (),
        listeners: Iterable[CircuitBreakerListener] = (),
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
    ) -> None:
        settings = Settings(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            exclude=exclude,
            clock=clock,
        ).interned()
        self._setup(settings, make_hooks(listeners), name)

    @classmethod
    def _from_settings(
        cls, settings: Settings, hooks: _Hooks, name: str | None
    ) -> CircuitBreaker:
        """Build a breaker that shares already validated settings and hooks."""
        breaker = cls.__new__(cls)
        breaker._setup(settings, hooks, name)
        return breaker

    def _setup(self, settings: Settings, hooks: _Hooks, name: str | None) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {name!r}")

        self.name = name
        self._settings = settings
        self._hooks = hooks
        self._state = _CLOSED
        self._generation = 0
        self._closed_generation = 0
        self._failures = 0
        self._trials = 0
        self._trial_successes = 0
        self._open_until = 0.0
        # Created on the first transition, so an idle breaker stays small.
        self._lock = None
        self._blocks = None
        self._refresh_success_flag()

    def _refresh_success_flag(self) -> None:
        self._success_needs_work = (
            self._state is not _CLOSED
            or self._failures > 0
            or bool(self._hooks.success)
        )

    def __repr__(self) -> str:
        return (
            f"<CircuitBreaker name={self.name!r} state={self._state} "
            f"failures={self._failures}/{self._settings.fail_max}>"
        )

    # -- introspection ---------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state.

        An OPEN circuit whose reset timeout has passed still reads OPEN until
        the next call moves it to HALF_OPEN.
        """
        return self._state

    @property
    def failure_count(self) -> int:
        """Consecutive failures counted since the circuit last closed."""
        return self._failures

    @property
    def fail_max(self) -> int:
        """Consecutive failures that open the circuit."""
        return self._settings.fail_max

    @property
    def reset_timeout(self) -> float:
        """Seconds an opened circuit waits before admitting a trial."""
        return self._settings.reset_timeout

    @property
    def half_open_max_calls(self) -> int:
        """Trial calls admitted at once while half-open."""
        return self._settings.half_open_max_calls

    @property
    def success_threshold(self) -> int:
        """Trial successes that close a half-open circuit."""
        return self._settings.success_threshold

    @property
    def listeners(self) -> tuple[CircuitBreakerListener, ...]:
        """The registered listeners, in the order they are notified."""
        return self._hooks.listeners

    def add_listener(self, listener: CircuitBreakerListener) -> None:
        """Register *listener* to be notified after the current ones."""
        self._hooks = make_hooks((*self._hooks.listeners, listener))
        self._refresh_success_flag()

    def remove_listener(self, listener: CircuitBreakerListener) -> None:
        """Unregister *listener*.

        Raises:
            ValueError: *listener* is not registered.
        """
        listeners = list(self._hooks.listeners)
        try:
            listeners.remove(listener)
        except ValueError:
            raise ValueError(
                f"{listener!r} is not a listener of circuit breaker {self.name!r}"
            ) from None

        self._hooks = make_hooks(listeners)
        self._refresh_success_flag()

    # -- guarding calls ----------------------------------------------------------

    # The guarded path is written out in call, in __aenter__/__aexit__ and in
    # the decorator's template (_wrap.py), because one more coroutine frame
    # would cost about as much as the rest of the closed-state path. When
    # CLOSED it reads two attributes and awaits nothing but the protected
    # call; everything else lives in the _admit*, _count_error and _after_*
    # helpers.

    async def call(
        self, func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``func(*args, **kwargs)`` through the breaker.

        Returns:
            What the call returns.

        Raises:
            CircuitOpenError: The circuit rejected the call; *func* did not run.
            BaseException: Whatever the call raised, unchanged, including the
                failure that opens the circuit.
        """
        generation = self._closed_generation
        if generation < 0:
            generation = self._admit_now()
            if generation < 0:
                generation = await self._admit_slow()

        try:
            awaitable = func(*args, **kwargs)
        except BaseException:
            # Calling an async function runs none of its body, so only a
            # programming error such as a wrong argument lands here.
            self._release(generation)
            raise

        try:
            result = await awaitable
        except BaseException as exc:
            # The annotation promises an awaitable, but call() accepts any
            # callable at run time.
            if exc.__class__ is TypeError and not inspect.isawaitable(awaitable):
                self._release(generation)  # type: ignore[unreachable]
                raise TypeError(
                    f"breaker.call() needs a callable that returns an awaitable, "
                    f"but {func!r} returned {awaitable!r}; pass an async function"
                ) from None

            if self._count_error(exc, generation):
                await self._after_error(exc, generation)

            raise

        if self._success_needs_work:
            await self._after_success(generation)

        return result

    @overload
    def __call__(
        self, func: staticmethod[P, Awaitable[T]]
    ) -> staticmethod[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __call__(
        self, func: classmethod[R, P, Awaitable[T]]
    ) -> classmethod[R, P, Coroutine[Any, Any, T]]: ...

    @overload
    def __call__(
        self, func: Callable[P, Awaitable[T]]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __call__(self, func: Any) -> Any:
        """Decorate an async function so that each call goes through the breaker.

        Static and class methods may be decorated on either side of their
        ``@staticmethod`` or ``@classmethod``.

        Raises:
            TypeError: *func* is not an async function.
        """
        if isinstance(func, staticmethod | classmethod):
            return type(func)(self(func.__func__))

        if not _is_async_callable(func):
            raise TypeError(
                f"CircuitBreaker can only decorate async functions, got {func!r}; "
                "declare it with 'async def'"
            )

        return make_guarded(self, func)

    # NOTE: a block costs about 20x a bare await, against 2.24x for the
    # decorator, because it records its admission both in the task's context
    # and by frame (see _exit_block). Prefer the decorator on hot paths.
    async def __aenter__(self) -> Self:
        generation = self._closed_generation
        if generation < 0:
            generation = self._admit_now()
            if generation < 0:
                generation = await self._admit_slow()

        frame_id = id(sys._getframe(1))
        _entered.set((*_entered.get(), (self, generation, frame_id)))
        blocks = self._blocks
        if blocks is None:
            blocks = self._blocks = {}

        blocks.setdefault(frame_id, []).append(generation)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        generation = self._exit_block(id(sys._getframe(1)))
        if exc is not None:
            if self._count_error(exc, generation):
                await self._after_error(exc, generation)
        elif self._success_needs_work:
            await self._after_success(generation)

    def _exit_block(self, frame_id: int) -> int:
        """Forget the open block that *frame_id* exits; return its generation.

        The frame running ``async with`` enters and exits its blocks, in
        whichever task: trio, for one, closes an abandoned async generator
        from a system task. Only when the exiting frame entered no block of
        this breaker, as with contextlib.AsyncExitStack, does the task's
        context name the block, by the frame that entered it.
        """
        blocks = self._blocks
        generations = None if blocks is None else blocks.get(frame_id)
        if blocks is not None and generations:
            # Blocks of one frame are nested, so the innermost exits first.
            generation = generations.pop()
            self._forget_block(blocks, frame_id, generations)
            _drop_entered(self, generation, frame_id)
            return generation

        stack = _entered.get()
        for index in range(len(stack) - 1, -1, -1):
            breaker, generation, entered_by = stack[index]
            if breaker is not self:
                continue

            # An entry whose block has exited in another task is stale.
            generations = None if blocks is None else blocks.get(entered_by)
            if blocks is not None and generations and generation in generations:
                generations.remove(generation)
                self._forget_block(blocks, entered_by, generations)
                _entered.set(stack[:index] + stack[index + 1 :])
                return generation

        raise RuntimeError(
            f"circuit breaker {self.name!r} was exited by a block that did not "
            "enter it; use 'async with breaker:' to enter and exit it"
        )

    def _forget_block(
        self, blocks: dict[int, list[int]], frame_id: int, generations: list[int]
    ) -> None:
        if not generations:
            del blocks[frame_id]
            if not blocks:
                self._blocks = None

    # -- settling calls by hand -------------------------------------------------

    # For integrations whose call settles later than it returns, such as an
    # HTTP response whose body is still to be read. Each admitted generation
    # must be settled exactly once: nothing checks it, and a second
    # settlement would be counted again.

    async def _acquire(self) -> int:
        """Admit a call and return its generation, or raise CircuitOpenError."""
        generation = self._closed_generation
        if generation < 0:
            generation = self._admit_now()
            if generation < 0:
                generation = await self._admit_slow()

        return generation

    async def _settle_success(self, generation: int) -> None:
        """Record that the call admitted in *generation* succeeded."""
        if self._success_needs_work:
            await self._after_success(generation)

    async def _settle_failure(
        self, generation: int, exc: Exception, open_for: float | None = None
    ) -> None:
        """Record that the call admitted in *generation* failed with *exc*.

        *open_for*, in seconds, replaces the reset timeout if this failure
        opens the circuit. Excluded exceptions are ignored as usual.
        """
        if self._count_error(exc, generation):
            await self._after_error(exc, generation, open_for)

    def _settle_ignored(self, generation: int) -> None:
        """Record that the call admitted in *generation* reflects nothing of health."""
        self._release(generation)

    # -- admission -------------------------------------------------------------

    def _admit_now(self) -> int:
        """Admit or reject a call without awaiting; used when not CLOSED.

        Returns the generation the call is admitted in, or -1 when
        `_admit_slow` must decide: a transition to HALF_OPEN is due, or
        rejection listeners must be notified.

        Raises:
            CircuitOpenError: The call is rejected and no listener overrides
                `rejected`.
        """
        state = self._state
        if state is _OPEN:
            remaining = self._open_until - self._settings.clock()
            if remaining > 0.0 and not self._hooks.rejected:
                raise _new_error(CircuitOpenError, self.name, _OPEN, remaining)

            return -1

        if state is _CLOSED:
            return self._generation

        # HALF_OPEN. No await between the check and the update of _trials:
        # that is what makes the permit exact without a lock or a semaphore.
        if self._trials < self._settings.half_open_max_calls:
            self._trials += 1
            return self._generation

        if self._hooks.rejected:
            return -1

        raise _new_error(CircuitOpenError, self.name, _HALF_OPEN, 0.0)

    async def _admit_slow(self) -> int:
        """Admit a call, committing OPEN -> HALF_OPEN when it is due."""
        if self._state is _OPEN and self._settings.clock() >= self._open_until:
            generation = -1
            async with self._transition_lock():
                # Checked again because another task may have committed a
                # transition while this one waited for the lock.
                if self._state is _OPEN and self._settings.clock() >= self._open_until:
                    self._set_state(_HALF_OPEN)
                    self._trials = 1
                    generation = self._generation

            if generation >= 0:
                try:
                    await notify(
                        self,
                        self._hooks.state_change,
                        "state_change",
                        _OPEN,
                        _HALF_OPEN,
                    )
                except BaseException:
                    self._release(generation)
                    raise

                return generation

        state = self._state
        if state is _CLOSED:
            return self._generation

        if state is _HALF_OPEN and self._trials < self._settings.half_open_max_calls:
            self._trials += 1
            return self._generation

        error = self._rejection()
        await notify(self, self._hooks.rejected, "rejected", error)
        raise error

    def _rejection(self) -> CircuitOpenError:
        if self._state is _HALF_OPEN:
            return _new_error(CircuitOpenError, self.name, _HALF_OPEN, 0.0)

        remaining = self._open_until - self._settings.clock()
        # Written so that a NaN reading gives 0.0, as max() would not.
        return CircuitOpenError(
            self.name, self._state, remaining if remaining > 0.0 else 0.0
        )

    def _release(self, generation: int) -> None:
        """Give back the trial permit of a call admitted in *generation*, if any."""
        if generation == self._generation and self._state is _HALF_OPEN:
            self._trials -= 1

    # -- outcomes ----------------------------------------------------------------

    # Each outcome is counted before the first await, and transitions are
    # committed inside a shielded scope, so a cancellation that arrives while
    # an outcome is recorded can neither lose it nor leak a trial permit.

    def _count_error(self, exc: BaseException, generation: int) -> bool:
        """Count a call that raised *exc*; return whether `_after_error` must run."""
        settings = self._settings
        if not isinstance(exc, Exception) or (
            settings.excludes and settings.is_excluded(exc)
        ):
            # Cancellation, KeyboardInterrupt, SystemExit, GeneratorExit and
            # excluded errors reflect nothing of the dependency's health.
            self._release(generation)
            return False

        # _closed_generation is -1 unless CLOSED, so this one test means
        # "admitted in the current generation, which is CLOSED".
        if generation == self._closed_generation:
            failures = self._failures + 1
            self._failures = failures
            self._success_needs_work = True
            return failures >= settings.fail_max or bool(self._hooks.failure)

        if generation != self._generation:
            return bool(self._hooks.failure)

        # A HALF_OPEN trial failed: its permit stays taken until the reopening
        # transition resets the trial counts.
        return True

    async def _after_error(
        self, exc: BaseException, generation: int, open_for: float | None = None
    ) -> None:
        """Open the circuit if *exc* tripped it, then notify listeners.

        *open_for* overrides the reset timeout for this opening, in seconds.
        """
        old: CircuitState | None = None
        if self._is_tripped_by(generation):
            with anyio.CancelScope(shield=True):
                async with self._transition_lock():
                    # Checked again: another task may have committed first.
                    if self._is_tripped_by(generation):
                        old = self._set_state(_OPEN, open_for)

        # The state change goes first: if a slow async listener is cancelled,
        # the event that is lost is the lesser one.
        if old is not None:
            await notify(self, self._hooks.state_change, "state_change", old, _OPEN)

        await notify(self, self._hooks.failure, "failure", exc)

    def _is_tripped_by(self, generation: int) -> bool:
        """Return whether a failure counted in *generation* must open the circuit."""
        if generation != self._generation:
            return False

        return self._state is _HALF_OPEN or (
            self._state is _CLOSED and self._failures >= self._settings.fail_max
        )

    async def _after_success(self, generation: int) -> None:
        """Count a success beyond the plain CLOSED case, then notify listeners."""
        closed = False
        if generation == self._generation:
            if self._state is _CLOSED:
                self._failures = 0
                self._refresh_success_flag()
            elif self._state is _HALF_OPEN:
                self._trials -= 1
                self._trial_successes += 1
                if self._trial_successes >= self._settings.success_threshold:
                    with anyio.CancelScope(shield=True):
                        async with self._transition_lock():
                            if generation == self._generation:
                                self._set_state(_CLOSED)
                                closed = True

        if closed:
            await notify(
                self, self._hooks.state_change, "state_change", _HALF_OPEN, _CLOSED
            )

        await notify(self, self._hooks.success, "success")

    # -- transitions -------------------------------------------------------------

    def _transition_lock(self) -> anyio.Lock:
        # An anyio lock belongs to the event loop that first used it. One that
        # no task has acquired has no waiters either, so replacing it loses nothing
        # and keeps the breaker usable across anyio.run() calls and backends.
        # fast_acquire skips the checkpoint of an uncontended acquire: the
        # critical sections never await, so there is nothing to yield for.
        lock = self._lock
        if lock is None or not lock.locked():
            lock = self._lock = anyio.Lock(fast_acquire=True)

        return lock

    def _set_state(
        self, new: CircuitState, open_for: float | None = None
    ) -> CircuitState:
        """Commit a transition to *new*; the caller holds the transition lock.

        Raises:
            ValueError: The clock returned NaN or infinity when opening, which
                would keep the circuit open for ever. Nothing is changed.
        """
        if new is _OPEN:
            now = self._settings.clock()
            if not math.isfinite(now):
                raise ValueError(
                    f"clock {self._settings.clock!r} returned {now!r}; it must "
                    "return finite monotonic seconds, such as time.monotonic()"
                )

            duration = self._settings.reset_timeout if open_for is None else open_for
            self._open_until = now + duration

        old = self._state
        self._state = new
        self._generation += 1
        self._failures = 0
        self._trials = 0
        self._trial_successes = 0
        self._closed_generation = self._generation if new is _CLOSED else -1
        self._refresh_success_flag()
        logger.info("circuit breaker %r: %s -> %s", self.name, old, new)
        return old


def _drop_entered(breaker: CircuitBreaker, generation: int, frame_id: int) -> None:
    """Remove the innermost matching block from the task's context, if there."""
    stack = _entered.get()
    for index in range(len(stack) - 1, -1, -1):
        entry = stack[index]
        if entry[0] is breaker and entry[1] == generation and entry[2] == frame_id:
            _entered.set(stack[:index] + stack[index + 1 :])
            return


def _is_async_callable(func: object) -> bool:
    if inspect.iscoroutinefunction(func):
        return True

    # A class whose instances have an async __call__ is itself a plain callable
    # that returns an instance, not an awaitable.
    if inspect.isfunction(func) or isinstance(func, type):
        return False

    call = getattr(func, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(call)
