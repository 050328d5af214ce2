"""Owned threads: a loop that ends unexpectedly is reported to its owner, which restarts it
up to a limit and reports it failed beyond; a stop is never reported."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from candlecast.actors.base import Actor, tell_if_alive
from candlecast.messages.supervision import ComponentHealth, GetComponents, ThreadEnded
from candlecast.runtime.poller import Poller
from candlecast.runtime.supervision import FAILED, RUNNING, Supervisor
from candlecast.runtime.threads import StoppableThread
from candlecast.runtime.ticker import Ticker
from tests.clients import wait_for


class Owner(Actor):
    """Owns one thread made by ``make(owner, on_ended)`` and restarts it as the system's actors do."""

    def __init__(self, make: Callable[[Any, Callable[[ThreadEnded], object]], StoppableThread], restarts: int) -> None:
        super().__init__(actor="owner")
        self.supervisor = Supervisor(max_restarts=restarts)
        self._make = make
        self.made = 0
        self._thread = self._new()

    def _new(self) -> StoppableThread:
        self.made += 1
        return self._make(self.actor_ref, lambda ended: tell_if_alive(self.actor_ref, ended))

    def on_start(self) -> None:
        self.supervisor.start(self._thread)

    def on_stop(self) -> None:
        self._thread.stop()

    def handle(self, message: Any) -> Any:
        match message:
            case ThreadEnded():
                self._thread = self.supervisor.restart(message, self._thread, self._new)
            case "made":
                return self.made
        return None


def _failing_ticker(owner: Any, on_ended: Callable[[ThreadEnded], object]) -> Ticker:
    def message() -> Any:
        raise ZeroDivisionError("injected")

    return Ticker("ticker", 0.001, owner, message, on_ended=on_ended)


def _failing_poller(owner: Any, on_ended: Callable[[ThreadEnded], object]) -> Poller[int]:
    def deliver(value: int) -> None:
        raise RuntimeError("injected")  # delivery failing is outside the per-fetch guard

    return Poller("poller", lambda: 1, deliver, interval_s=0.001, retry_cap_s=0.01, on_ended=on_ended)


def _components(owner: Any) -> dict[str, ComponentHealth]:
    return owner.ask(GetComponents(), timeout=2)


def test_a_ticker_that_fails_is_restarted_then_reported_failed() -> None:
    owner = Owner.start(_failing_ticker, restarts=3)
    try:
        wait_for(lambda: _components(owner)["ticker"].state == FAILED, timeout=10)
        health = _components(owner)["ticker"]
        assert health.restarts == 3 and "ZeroDivisionError: injected" in health.last_error
        assert owner.ask("made") == 4
    finally:
        owner.stop()


def test_a_poller_whose_loop_ends_is_restarted() -> None:
    owner = Owner.start(_failing_poller, restarts=1000)
    try:
        wait_for(lambda: _components(owner)["poller"].restarts >= 2, timeout=10)
        assert _components(owner)["poller"].state == RUNNING
        assert "RuntimeError: injected" in _components(owner)["poller"].last_error
    finally:
        owner.stop()


def test_a_poller_survives_an_answer_it_cannot_use() -> None:
    fetched = threading.Event()
    calls = [0]

    def fetch() -> int:
        calls[0] += 1
        if calls[0] < 3:
            raise KeyError("serverTime")  # a malformed answer, not a network failure
        fetched.set()
        return 1

    delivered: list[int] = []
    poller: Poller[int] = Poller("poller", fetch, delivered.append, interval_s=10, retry_cap_s=0.01)
    poller.start()
    try:
        assert fetched.wait(10) and wait_for(lambda: delivered == [1], timeout=5)
        assert poller.failures == 2 and poller.is_alive()
    finally:
        poller.stop()


def test_a_thread_stopped_by_its_owner_is_not_reported() -> None:
    ended: list[ThreadEnded] = []
    quiet = Ticker("quiet", 10, None, lambda: None, on_ended=ended.append)
    quiet.start()
    quiet.stop()
    assert ended == [] and not quiet.is_alive()
