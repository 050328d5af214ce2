"""The broadcaster fans candles and trades out to WebSocket clients by subscription.

Each message is encoded once and offered to every interested client's outbox; ``offer``
never blocks, so one slow client never delays the others. A client whose outbox stays full
is dropped with close code 1008 after ``max_consecutive_drops`` lost messages.
"""

from __future__ import annotations

from typing import Any

import msgspec

from candlecast import subscriptions, wire
from candlecast.actors.base import Actor
from candlecast.messages import (
    Candle,
    ChangeSubscriptions,
    ClientConnected,
    ClientDisconnected,
    DisconnectAll,
    GapEvent,
    GetBroadcastStats,
    TradeBatch,
)

SLOW_CLIENT_CLOSE_CODE = 1008
_REPLY_TYPES = {"subscribe": "subscribed", "unsubscribe": "unsubscribed", "list": "subscriptions"}


class _Client(msgspec.Struct):
    session: Any
    subscriptions: subscriptions.Pairs
    explicit: bool
    consecutive_drops: int = 0
    dropped: int = 0


class BroadcasterActor(Actor):
    def __init__(self, max_consecutive_drops: int = 256) -> None:
        super().__init__(actor="broadcaster")
        self._clients: dict[int, _Client] = {}
        self._max_consecutive_drops = max_consecutive_drops
        self._delivered = 0
        self._dropped = 0
        self._evicted = 0

    def handle(self, message: Any) -> Any:
        match message:
            case Candle(symbol=symbol):
                self._fan_out(symbol, subscriptions.CANDLE, wire.candle_event(message))
            case GapEvent(symbol=symbol):
                self._fan_out(symbol, subscriptions.CANDLE, wire.gap_event(message))
            case TradeBatch(symbol=symbol, trades=trades):
                if trades:
                    self._fan_out(symbol, subscriptions.TRADE, wire.trades_event(symbol, trades))
            case ClientConnected(client_id=client_id, session=session, subscriptions=subs):
                explicit = subs != subscriptions.DEFAULT
                self._clients[client_id] = _Client(session, subs, explicit)
            case ClientDisconnected(client_id=client_id):
                self._clients.pop(client_id, None)
            case ChangeSubscriptions():
                self._change(message)
            case DisconnectAll(code=code, reason=reason):
                for client in self._clients.values():
                    client.session.close(code, reason)
                self._clients.clear()
            case GetBroadcastStats():
                return {
                    "clients": len(self._clients),
                    "delivered": self._delivered,
                    "dropped": self._dropped,
                    "evicted_slow_clients": self._evicted,
                }
        return None

    def _fan_out(self, symbol: str, channel: str, text: str) -> None:
        slow: list[int] = []
        for client_id, client in self._clients.items():
            if not subscriptions.wants(client.subscriptions, symbol, channel):
                continue
            if client.session.offer(text):
                client.consecutive_drops = 0
                self._delivered += 1
                continue
            client.consecutive_drops += 1
            client.dropped += 1
            self._dropped += 1
            if client.consecutive_drops >= self._max_consecutive_drops:
                slow.append(client_id)
        for client_id in slow:
            client = self._clients.pop(client_id)
            client.session.close(SLOW_CLIENT_CLOSE_CODE, "consumer too slow")
            self._evicted += 1
            self.log.warning("slow client dropped", client_id=client_id, dropped=client.dropped)

    def _change(self, command: ChangeSubscriptions) -> None:
        client = self._clients.get(command.client_id)
        if client is None:
            return
        if command.op == "subscribe":
            current = client.subscriptions if client.explicit else frozenset()
            client.subscriptions = current | command.pairs
            client.explicit = True
        elif command.op == "unsubscribe":
            client.subscriptions = client.subscriptions - command.pairs
            client.explicit = True
        reply = {
            "type": _REPLY_TYPES[command.op],
            "id": command.request_id,
            "subscriptions": subscriptions.describe(client.subscriptions),
        }
        client.session.offer(wire.encode(reply).decode())
