from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from anybreaker import (
    CircuitBreaker,
    CircuitBreakerListener,
    CircuitOpenError,
    CircuitState,
)
from support import UpstreamError, fail, succeed

if TYPE_CHECKING:
    from conftest import FakeClock, Guard, RecordingListener

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN


@pytest.fixture(params=["sync", "async"])
def any_recorder(request: pytest.FixtureRequest) -> RecordingListener:
    """A recording listener with plain methods, or one with ``async def`` ones."""
    name = "recorder" if request.param == "sync" else "async_recorder"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


class StateReader(CircuitBreakerListener):
    """Stores the breaker's state as each event sees it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, CircuitState]] = []

    def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> None:
        self.seen.append((f"{old} -> {new}", breaker.state))

    def failure(self, breaker: CircuitBreaker, exc: BaseException) -> None:
        self.seen.append(("failure", breaker.state))

    def success(self, breaker: CircuitBreaker) -> None:
        self.seen.append(("success", breaker.state))


class RaisingListener(CircuitBreakerListener):
    """Raises from the one event it is built for, plainly or from a coroutine."""

    def __init__(self, event: str, *, is_async: bool) -> None:
        self.event = event
        self.is_async = is_async

    def _raise(self, event: str) -> Any:
        if event != self.event:
            return None

        if not self.is_async:
            raise RuntimeError(f"listener bug in {event}")

        async def raise_later() -> None:
            await anyio.lowlevel.checkpoint()
            raise RuntimeError(f"listener bug in {event}")

        return raise_later()

    def state_change(
        self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
    ) -> Any:
        return self._raise("state_change")

    def failure(self, breaker: CircuitBreaker, exc: BaseException) -> Any:
        return self._raise("failure")

    def success(self, breaker: CircuitBreaker) -> Any:
        return self._raise("success")

    def rejected(self, breaker: CircuitBreaker, error: CircuitOpenError) -> Any:
        return self._raise("rejected")


async def run_cycle(
    breaker: CircuitBreaker, guard: Guard, clock: FakeClock
) -> list[object]:
    """Drive a fail_max=1 breaker through open, a rejection and a closing trial.

    Returns what each of the three calls returned or raised.
    """
    outcomes: list[object] = []
    for func in (fail, succeed):
        try:
            outcomes.append(await guard(breaker, func))
        except Exception as exc:
            outcomes.append(exc)

    clock.advance(breaker.reset_timeout)
    outcomes.append(await guard(breaker, succeed))
    return outcomes


# -- each event, from plain and async listeners --------------------------------


@pytest.mark.anyio
async def test_listener_gets_failure(
    guard: Guard, any_recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(fail_max=2, listeners=[any_recorder])

    with pytest.raises(UpstreamError) as caught:
        await guard(breaker, fail)

    assert any_recorder.events == [("failure", caught.value)]


@pytest.mark.anyio
async def test_listener_gets_success(
    guard: Guard, any_recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(listeners=[any_recorder])

    await guard(breaker, succeed)

    assert any_recorder.events == [("success",)]


@pytest.mark.anyio
async def test_listener_gets_rejected(
    guard: Guard, clock: FakeClock, any_recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(fail_max=1, clock=clock)
    with pytest.raises(UpstreamError):
        await guard(breaker, fail)

    breaker.add_listener(any_recorder)

    with pytest.raises(CircuitOpenError) as caught:
        await guard(breaker, succeed)

    assert any_recorder.events == [("rejected", caught.value)]


@pytest.mark.anyio
async def test_listener_gets_every_transition(
    guard: Guard, clock: FakeClock, any_recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(
        fail_max=1, reset_timeout=3.0, clock=clock, listeners=[any_recorder]
    )

    outcomes = await run_cycle(breaker, guard, clock)

    assert any_recorder.events == [
        ("state_change", CLOSED, OPEN),
        ("failure", outcomes[0]),
        ("rejected", outcomes[1]),
        ("state_change", OPEN, HALF_OPEN),
        ("state_change", HALF_OPEN, CLOSED),
        ("success",),
    ]


@pytest.mark.anyio
async def test_listener_gets_reopen(
    guard: Guard, clock: FakeClock, any_recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker(fail_max=1, reset_timeout=3.0, clock=clock)
    with pytest.raises(UpstreamError):
        await guard(breaker, fail)

    clock.advance(3.0)
    breaker.add_listener(any_recorder)

    with pytest.raises(UpstreamError) as caught:
        await guard(breaker, fail)

    assert any_recorder.events == [
        ("state_change", OPEN, HALF_OPEN),
        ("state_change", HALF_OPEN, OPEN),
        ("failure", caught.value),
    ]


@pytest.mark.anyio
async def test_listeners_notified_in_order(guard: Guard) -> None:
    calls: list[str] = []

    class Named(CircuitBreakerListener):
        def __init__(self, name: str) -> None:
            self.name = name

        def success(self, breaker: CircuitBreaker) -> None:
            calls.append(self.name)

    breaker = CircuitBreaker(listeners=[Named("first"), Named("second")])
    breaker.add_listener(Named("third"))

    await guard(breaker, succeed)

    assert calls == ["first", "second", "third"]


@pytest.mark.anyio
async def test_base_listener_ignores_events(guard: Guard, clock: FakeClock) -> None:
    breaker = CircuitBreaker(
        fail_max=1, clock=clock, listeners=[CircuitBreakerListener()]
    )

    outcomes = await run_cycle(breaker, guard, clock)

    assert outcomes[2] == "ok"
    assert breaker.state is CLOSED


# -- after the commit and outside the lock ---------------------------------------


@pytest.mark.anyio
async def test_listener_sees_committed_state(guard: Guard, clock: FakeClock) -> None:
    reader = StateReader()
    breaker = CircuitBreaker(fail_max=1, clock=clock, listeners=[reader])

    await run_cycle(breaker, guard, clock)

    assert reader.seen == [
        ("closed -> open", OPEN),
        ("failure", OPEN),
        ("open -> half_open", HALF_OPEN),
        ("half_open -> closed", CLOSED),
        ("success", CLOSED),
    ]


@pytest.mark.anyio
async def test_listener_may_call_breaker(guard: Guard, clock: FakeClock) -> None:
    nested: list[object] = []

    class Reentrant(CircuitBreakerListener):
        async def state_change(
            self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState
        ) -> None:
            if new is OPEN:
                clock.advance(breaker.reset_timeout)
                nested.append(await guard(breaker, succeed))

    breaker = CircuitBreaker(fail_max=1, clock=clock, listeners=[Reentrant()])

    with pytest.raises(UpstreamError):
        await guard(breaker, fail)

    assert nested == ["ok"]
    assert breaker.state is CLOSED


# -- a listener that raises --------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "raising",
    [
        RaisingListener(event, is_async=is_async)
        for event in ("state_change", "failure", "success", "rejected")
        for is_async in (False, True)
    ],
    ids=lambda listener: f"{listener.event}-{'async' if listener.is_async else 'sync'}",
)
async def test_raising_listener_changes_nothing(
    guard: Guard,
    clock: FakeClock,
    recorder: RecordingListener,
    caplog: pytest.LogCaptureFixture,
    raising: RaisingListener,
) -> None:
    event = raising.event
    breaker = CircuitBreaker(
        fail_max=1, clock=clock, listeners=[raising, recorder], name="payments"
    )

    with caplog.at_level(logging.WARNING, logger="anybreaker"):
        outcomes = await run_cycle(breaker, guard, clock)

    assert isinstance(outcomes[0], UpstreamError)
    assert isinstance(outcomes[1], CircuitOpenError)
    assert outcomes[2] == "ok"
    assert breaker.state is CLOSED
    assert recorder.transitions() == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    expected = {"state_change": 3, "failure": 1, "success": 1, "rejected": 1}[event]
    assert len(warnings) == expected
    assert "'payments'" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None
    assert str(warnings[0].exc_info[1]) == f"listener bug in {event}"


# -- registering and unregistering ------------------------------------------------


@pytest.mark.anyio
async def test_add_listener_gets_later_events(
    guard: Guard, recorder: RecordingListener
) -> None:
    breaker = CircuitBreaker()
    await guard(breaker, succeed)

    breaker.add_listener(recorder)
    await guard(breaker, succeed)

    assert breaker.listeners == (recorder,)
    assert recorder.events == [("success",)]


@pytest.mark.anyio
async def test_remove_listener_stops_events(
    guard: Guard, recorder: RecordingListener
) -> None:
    other = CircuitBreakerListener()
    breaker = CircuitBreaker(listeners=[recorder, other])

    breaker.remove_listener(recorder)
    await guard(breaker, succeed)

    assert breaker.listeners == (other,)
    assert recorder.events == []


def test_remove_unknown_listener_raises(recorder: RecordingListener) -> None:
    breaker = CircuitBreaker(name="payments")

    with pytest.raises(
        ValueError, match="is not a listener of circuit breaker 'payments'"
    ):
        breaker.remove_listener(recorder)


def test_add_non_listener_raises() -> None:
    breaker = CircuitBreaker()

    with pytest.raises(TypeError, match="listeners must be CircuitBreakerListener"):
        breaker.add_listener(print)  # type: ignore[arg-type]

    assert breaker.listeners == ()
