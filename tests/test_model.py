"""A stateful test that checks the breaker against a sequential reference model.

Hypothesis starts calls, finishes them in any order with any outcome, and
moves the clock. Calls stay inside the protected function until finished, so
outcomes from earlier generations (stale calls) arise naturally. Every step
runs on one asyncio event loop per example.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from anybreaker import (
    CircuitBreaker,
    CircuitBreakerListener,
    CircuitOpenError,
    CircuitState,
)
from support import UpstreamError

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN

RESET_TIMEOUT = 4.0
OUTCOMES = ("success", "failure", "excluded", "cancel")
# Seconds the clock moves before a call starts. The reset timeout is listed
# twice so that an open circuit often admits a trial at the next call.
WAITS = st.sampled_from([RESET_TIMEOUT, 0.0, 2.5, RESET_TIMEOUT])
GUARDS = ("call", "decorator", "async_with")


class IgnoredError(Exception):
    pass


@dataclass
class Reference:
    """The breaker's rules written as plain sequential code."""

    fail_max: int
    half_open_max_calls: int
    success_threshold: int
    state: CircuitState = CLOSED
    generation: int = 0
    failures: int = 0
    trials: int = 0
    trial_successes: int = 0
    open_until: float = 0.0
    transitions: list[tuple[CircuitState, CircuitState]] = field(default_factory=list)

    def admit(self, now: float) -> int | None:
        """Return the generation a new call is admitted in, or None if rejected."""
        if self.state is OPEN and now >= self.open_until:
            self._move(HALF_OPEN, now)

        if self.state is CLOSED:
            return self.generation

        if self.state is HALF_OPEN and self.trials < self.half_open_max_calls:
            self.trials += 1
            return self.generation

        return None

    def retry_after(self, now: float) -> float:
        return 0.0 if self.state is HALF_OPEN else self.open_until - now

    def settle(self, generation: int, outcome: str, now: float) -> None:
        """Record the outcome of a call admitted in *generation*."""
        if generation != self.generation:
            return

        if outcome in ("excluded", "cancel"):
            if self.state is HALF_OPEN:
                self.trials -= 1
        elif outcome == "failure":
            if self.state is CLOSED:
                self.failures += 1
                if self.failures >= self.fail_max:
                    self._move(OPEN, now)
            else:
                self._move(OPEN, now)
        elif self.state is CLOSED:
            self.failures = 0
        else:
            self.trials -= 1
            self.trial_successes += 1
            if self.trial_successes >= self.success_threshold:
                self._move(CLOSED, now)

    def _move(self, new: CircuitState, now: float) -> None:
        self.transitions.append((self.state, new))
        self.state = new
        self.generation += 1
        self.failures = 0
        self.trials = 0
        self.trial_successes = 0
        if new is OPEN:
            self.open_until = now + RESET_TIMEOUT


class EventCounter(CircuitBreakerListener):
    def __init__(self) -> None:
        self.transitions: list[tuple[CircuitState, CircuitState]] = []
        self.failures = 0
        self.successes = 0
        self.rejections = 0

    def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> None:
        self.transitions.append((old, new))

    def failure(self, breaker: CircuitBreaker, exc: BaseException) -> None:
        self.failures += 1

    def success(self, breaker: CircuitBreaker) -> None:
        self.successes += 1

    def rejected(self, breaker: CircuitBreaker, error: CircuitOpenError) -> None:
        self.rejections += 1


class Call:
    """One call through the breaker, held inside the protected function."""

    def __init__(self, guard: str) -> None:
        self.guard = guard
        self.generation = -1
        self.admitted = False
        self.error: BaseException | None = None
        self.result: object = None
        self.raised: BaseException | None = None
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.scope: anyio.CancelScope | None = None
        self.task: asyncio.Task[None] | None = None

    async def protected(self) -> str:
        self.admitted = True
        self.entered.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error

        return "ok"


async def guarded(
    breaker: CircuitBreaker, guard: str, func: Callable[[], Awaitable[Any]]
) -> Any:
    if guard == "call":
        return await breaker.call(func)

    if guard == "decorator":
        return await breaker(func)()

    async with breaker:
        return await func()


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.now = 100.0
        self.in_flight: list[Call] = []
        self.counter = EventCounter()
        self.listening = False
        self.expected_failures = 0
        self.expected_successes = 0
        self.expected_rejections = 0

    @initialize(
        fail_max=st.integers(1, 3),
        half_open_max_calls=st.integers(1, 3),
        success_threshold=st.integers(1, 3),
        listening=st.sampled_from([True, False, True]),
    )
    def build(
        self,
        fail_max: int,
        half_open_max_calls: int,
        success_threshold: int,
        listening: bool,
    ) -> None:
        self.listening = listening
        self.model = Reference(fail_max, half_open_max_calls, success_threshold)
        self.breaker = CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=RESET_TIMEOUT,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            exclude=(IgnoredError,),
            listeners=[self.counter] if listening else [],
            clock=lambda: self.now,
        )

    # -- driving calls on the event loop ------------------------------------------

    async def _run(self, call: Call) -> None:
        with anyio.CancelScope() as call.scope:
            try:
                call.result = await guarded(self.breaker, call.guard, call.protected)
            except Exception as exc:
                call.raised = exc

    async def _start(self, call: Call) -> None:
        call.task = asyncio.create_task(self._run(call))
        entered = asyncio.create_task(call.entered.wait())
        await asyncio.wait({call.task, entered}, return_when=asyncio.FIRST_COMPLETED)
        entered.cancel()

    async def _finish(self, call: Call, outcome: str) -> None:
        assert call.task is not None
        if outcome == "cancel":
            assert call.scope is not None
            call.scope.cancel()
        else:
            if outcome == "failure":
                call.error = UpstreamError("upstream failed")
            elif outcome == "excluded":
                call.error = IgnoredError("ignored")

            call.release.set()

        await call.task

    def start(self, guard: str) -> Call | None:
        """Start a call and check its admission; return it if it was admitted."""
        generation = self.model.admit(self.now)
        call = Call(guard)
        self.runner.run(self._start(call))
        if generation is None:
            assert not call.admitted
            assert isinstance(call.raised, CircuitOpenError)
            assert call.raised.state is self.model.state
            assert call.raised.retry_after == self.model.retry_after(self.now)
            assert call.raised.retry_after >= 0.0
            self.expected_rejections += 1
            return None

        assert call.admitted
        call.generation = generation
        return call

    def finish(self, call: Call, outcome: str) -> None:
        """Finish a held call with *outcome* and check what its caller saw."""
        self.runner.run(self._finish(call, outcome))
        self.model.settle(call.generation, outcome, self.now)
        if outcome == "success":
            assert call.result == "ok"
            self.expected_successes += 1
        elif outcome == "cancel":
            assert call.scope is not None
            assert call.scope.cancelled_caught
        else:
            assert call.raised is call.error
            if outcome == "failure":
                self.expected_failures += 1

    # -- rules ------------------------------------------------------------------------

    @rule(
        guard=st.sampled_from(GUARDS),
        wait=WAITS,
        outcome=st.sampled_from(OUTCOMES),
        held=st.sampled_from([True, False, True]),
    )
    def make_call(self, guard: str, wait: float, outcome: str, held: bool) -> None:
        """Start a call after *wait* seconds; hold it, or finish it with *outcome*."""
        self.now += wait
        call = self.start(guard)
        if call is None:
            return

        if held:
            self.in_flight.append(call)
        else:
            self.finish(call, outcome)

    @precondition(lambda self: self.in_flight)
    @rule(index=st.integers(0, 9), outcome=st.sampled_from(OUTCOMES))
    def finish_held_call(self, index: int, outcome: str) -> None:
        call = self.in_flight.pop(index % len(self.in_flight))
        self.finish(call, outcome)

    @precondition(lambda self: self.model.state is CLOSED)
    @rule(guard=st.sampled_from(GUARDS), hold_one=st.booleans())
    def trip_circuit(self, guard: str, hold_one: bool) -> None:
        """Fail quick calls until the circuit opens, a shortcut to OPEN.

        With *hold_one*, a call admitted just before is left held, so that
        it finishes later as a stale call.
        """
        if hold_one:
            call = self.start(guard)
            assert call is not None
            self.in_flight.append(call)

        while self.model.state is CLOSED:
            call = self.start(guard)
            assert call is not None
            self.finish(call, "failure")

    @precondition(lambda self: not self.in_flight)
    @rule()
    def probe_permits(self) -> None:
        """With every call settled, check that each trial permit can be taken."""
        due = self.model.state is OPEN and self.now >= self.model.open_until
        if self.model.state is not HALF_OPEN and not due:
            return

        probes = [self.start("call") for _ in range(self.model.half_open_max_calls)]
        extra = self.start("call")

        assert all(probe is not None for probe in probes)
        assert extra is None
        for probe in probes:
            assert probe is not None
            self.finish(probe, "cancel")

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def state_matches(self) -> None:
        assert self.breaker.state is self.model.state

    @invariant()
    def failure_count_matches(self) -> None:
        assert self.breaker.failure_count == self.model.failures

    @invariant()
    def events_match(self) -> None:
        if not self.listening:
            return

        assert self.counter.transitions == self.model.transitions
        assert self.counter.failures == self.expected_failures
        assert self.counter.successes == self.expected_successes
        assert self.counter.rejections == self.expected_rejections

    def teardown(self) -> None:
        # Closing the runner cancels the calls that are still held.
        self.runner.close()


BreakerMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
TestBreakerModel = BreakerMachine.TestCase
