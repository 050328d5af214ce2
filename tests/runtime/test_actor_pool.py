"""Pooled actors behave as pykka actors (order, on_start/on_stop, ask, stop, failures) while a
few threads run any number of them, one turn at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from candlecast.runtime.actor_pool import TURN, ActorPool, PooledActor

ASK_TIMEOUT_S = 5.0


class Recorder(PooledActor):
    """Keeps what it was told; answers ``"seen"`` with it. ``on_running`` sees every message
    as it is handled, from the pool thread (tests use it to look inside a turn)."""

    def __init__(self, pool: ActorPool, name: str, on_running: Any = None) -> None:
        super().__init__(pool, actor=name)
        self.name = name
        self.seen: list[Any] = []
        self.events: list[str] = []
        self._on_running = on_running
        self._running = False

    def on_start(self) -> None:
        self.events.append("started")

    def handle(self, message: Any) -> Any:
        if message == "seen":
            return list(self.seen)
        if message == "events":
            return list(self.events)
        if message == "fail":
            raise ValueError("a bad message")
        assert not self._running, "an actor ran on two threads at once"
        self._running = True
        try:
            if self._on_running is not None:
                self._on_running(self.name, message)
            self.seen.append(message)
        finally:
            self._running = False
        return None


@pytest.fixture
def make_pool() -> Iterator[Any]:
    pools: list[ActorPool] = []

    def make(threads: int) -> ActorPool:
        pool = ActorPool("test-pool", threads)
        pool.start()
        pools.append(pool)
        return pool

    yield make
    pykka.ActorRegistry.stop_all(timeout=5)
    for pool in pools:
        pool.stop()


def test_every_message_arrives_once_and_in_order_with_many_actors_on_two_threads(make_pool: Any) -> None:
    pool = make_pool(2)
    actors = [Recorder.start(pool, f"a{index}", on_running=lambda *_: None) for index in range(200)]
    threads_before = threading.active_count()

    def produce(share: list[Any]) -> None:
        for number in range(300):
            for actor in share:
                actor.tell(number)

    producers = [threading.Thread(target=produce, args=(actors[index::4],)) for index in range(4)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    for actor in actors:
        assert actor.ask("seen", timeout=ASK_TIMEOUT_S) == list(range(300))
    assert threading.active_count() == threads_before, "the actors added no threads"


def test_lifecycle_ask_failure_and_stop(make_pool: Any) -> None:
    actor = Recorder.start(make_pool(2), "lifecycle")
    actor.tell("fail")
    actor.tell("after the failure")
    assert actor.ask("seen", timeout=ASK_TIMEOUT_S) == ["after the failure"]
    assert actor.ask("events", timeout=ASK_TIMEOUT_S) == ["started"]
    assert actor.stop(timeout=ASK_TIMEOUT_S)
    assert not actor.is_alive()
    with pytest.raises(pykka.ActorDeadError):
        actor.tell("too late")


def test_mail_left_at_stop_is_answered_as_dead(make_pool: Any) -> None:
    gate = threading.Event()
    actor = Recorder.start(make_pool(1), "stopping", on_running=lambda *_: gate.wait(ASK_TIMEOUT_S))
    actor.tell("holds the thread")
    stopped = actor.stop(block=False)
    pending = actor.ask("seen", block=False)
    gate.set()
    stopped.get(timeout=ASK_TIMEOUT_S)
    with pytest.raises(pykka.ActorDeadError):
        pending.get(timeout=ASK_TIMEOUT_S)


def test_a_flooded_actor_lets_the_others_have_their_turn(make_pool: Any) -> None:
    pool = make_pool(1)
    holding, gate = threading.Event(), threading.Event()
    handled: list[str] = []
    held = Recorder.start(pool, "gate", on_running=lambda *_: holding.set() or gate.wait(ASK_TIMEOUT_S))
    flooded = Recorder.start(pool, "flooded", on_running=lambda name, _: handled.append(name))
    quiet = Recorder.start(pool, "quiet", on_running=lambda name, _: handled.append(name))
    held.tell("hold the only thread")
    # Else the thread may reach the quiet actor's first turn (its start) after its message came
    # and before the flood's: the flood must be queued while the thread is held.
    assert holding.wait(ASK_TIMEOUT_S)
    for number in range(10 * TURN):
        flooded.tell(number)
    quiet.tell("one message")
    gate.set()
    assert len(flooded.ask("seen", timeout=ASK_TIMEOUT_S)) == 10 * TURN
    assert handled.index("quiet") == TURN, "the quiet actor ran after the flooded one's first turn"
