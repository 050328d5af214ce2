"""Clients whose ``since`` reaches before what memory holds. The broadcaster holds each one's
subscription, and every later command of it, until the stored candles it asked for arrive; then
the stored and the remembered candles go as one replay and the live stream follows, with no
candle twice and none missing between them."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Literal

from candlecast.market_data import Candle
from candlecast.messages.fanout import ChangeSubscriptions, ClientConnected
from candlecast.messages.history import CandleRange, CandlesRead

# Why a held replay is not sent: more than a replay may hold, or the store could not be read.
Refusal = Literal["replay_too_large", "history_unavailable"]


@dataclasses.dataclass
class HeldReplay:
    """``resume`` is what is carried out once the stored candles are in; ``queued`` the
    client's messages that came meanwhile, handled after it in order."""

    client_id: int
    resume: ClientConnected | ChangeSubscriptions
    request: int = 0
    asked: tuple[CandleRange, ...] = ()
    stored: list[Candle] = dataclasses.field(default_factory=list)
    queued: list[Any] = dataclasses.field(default_factory=list)


class HeldReplays:
    def __init__(self) -> None:
        self._by_client: dict[int, HeldReplay] = {}
        self._client_of: dict[int, int] = {}  # request -> client
        self._requests = itertools.count(1)

    def __contains__(self, client_id: int) -> bool:
        return client_id in self._by_client

    def hold(self, client_id: int, resume: ClientConnected | ChangeSubscriptions) -> HeldReplay:
        held = HeldReplay(client_id, resume)
        self._by_client[client_id] = held
        return held

    def ask(self, held: HeldReplay, ranges: tuple[CandleRange, ...]) -> int:
        """A new read for ``held``: its request number; an answer to an earlier one is stale."""
        self._client_of.pop(held.request, None)
        held.request = next(self._requests)
        held.asked = ranges
        self._client_of[held.request] = held.client_id
        return held.request

    def queue(self, client_id: int, message: Any) -> bool:
        """Keep ``message`` for later if the client is held; whether it was."""
        held = self._by_client.get(client_id)
        if held is not None:
            held.queued.append(message)
        return held is not None

    def answered(self, read: CandlesRead) -> HeldReplay | None:
        """The held replay ``read`` answers, with its candles added; None once its client is
        gone."""
        client_id = self._client_of.pop(read.request, None)
        held = None if client_id is None else self._by_client.get(client_id)
        if held is not None:
            held.stored += read.candles
        return held

    def release(self, client_id: int) -> HeldReplay | None:
        """The client's held replay, no longer held (None if it had none)."""
        held = self._by_client.pop(client_id, None)
        if held is not None:
            self._client_of.pop(held.request, None)
        return held
