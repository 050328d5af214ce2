"""The clock's timer thread outliving its actor (the actor stops first) ends quietly."""

from __future__ import annotations

import threading
from typing import Any

import pykka

from candlecast.actors.clock import SecondTimer


class Stopped(pykka.ThreadingActor):
    """Any actor: it is stopped before the timer starts."""


def test_a_timer_whose_clock_stopped_ends_without_an_error(monkeypatch: Any) -> None:
    failures: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    clock = Stopped.start()
    clock.stop()
    timer = SecondTimer(clock, grace_ms=0, now_ms=lambda: 10_500)
    timer.start()
    timer.join(timeout=5)
    assert not timer.is_alive() and failures == []

