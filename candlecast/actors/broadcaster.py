"""The broadcaster fans candles, gap events and trades out to WebSocket clients by subscription.

Each message is encoded once and offered to every interested client's outbox; ``offer``
never blocks, so one slow client never delays the others. A client whose outbox stays full
is dropped with close code 1008 after ``max_consecutive_drops`` lost messages.

It keeps the recent closed candles of every symbol (newest revision of each second), so a
client that subscribes gets the latest candle at once, and one that reconnects with
``since`` gets every candle it missed, in order, before the live ones: replay and live
stream come from the same mailbox, so nothing falls between them.

Trades of a symbol are sent at most every ``trade_interval_s``; trades arriving sooner are
held and sent together on the next tick of a ticker thread.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import msgspec

from candlecast import subscriptions, wire
from candlecast.actors.base import Actor
from candlecast.actors.ticker import Ticker
from candlecast.messages import (
    Candle,
    ChangeSubscriptions,
    ClientConnected,
    ClientDisconnected,
    DisconnectAll,
    FlushTrades,
    GapEvent,
    GetBroadcastStats,
    SymbolDeactivated,
    Trade,
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
    def __init__(
        self,
        max_consecutive_drops: int = 256,
        history_seconds: int = 3600,
        trade_interval_s: float = 0.05,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(actor="broadcaster")
        self._clients: dict[int, _Client] = {}
        self._max_consecutive_drops = max_consecutive_drops
        self._history_seconds = history_seconds
        self._recent: dict[str, dict[int, Candle]] = {}
        self._held_trades: dict[str, list[Trade]] = {}
        self._trades_sent_at: dict[str, float] = {}
        self._trade_interval_s = trade_interval_s
        self._monotonic = monotonic
        self._ticker = Ticker("trade-pacer", trade_interval_s, self.actor_ref, FlushTrades) if trade_interval_s else None
        self._delivered = 0
        self._dropped = 0
        self._evicted = 0
        self._replayed = 0

    def on_start(self) -> None:
        if self._ticker is not None:
            self._ticker.start()

    def on_stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()

    def handle(self, message: Any) -> Any:
        match message:
            case Candle(symbol=symbol):
                self._remember(message)
                self._fan_out(symbol, subscriptions.CANDLE, wire.candle_event(message))
            case GapEvent(symbol=symbol):
                # Clients on the implicit default expect candles only; revised candles reach them.
                self._fan_out(symbol, subscriptions.CANDLE, wire.gap_event(message), explicit_only=True)
            case TradeBatch(symbol=symbol, trades=trades):
                self._pace_trades(symbol, trades)
            case FlushTrades():
                self._flush_trades()
            case ClientConnected(client_id=client_id, session=session, subscriptions=subs, since=since):
                explicit = subs != subscriptions.DEFAULT
                self._clients[client_id] = _Client(session, subs, explicit)
                self._replay(self._clients[client_id], subs, since)
            case ClientDisconnected(client_id=client_id):
                self._clients.pop(client_id, None)
            case ChangeSubscriptions():
                self._change(message)
            case SymbolDeactivated(symbol=symbol):
                self._recent.pop(symbol, None)
                self._held_trades.pop(symbol, None)
                self._trades_sent_at.pop(symbol, None)
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
                    "replayed": self._replayed,
                }
        return None

    # --- candles kept for replay -----------------------------------------------------------

    def _remember(self, candle: Candle) -> None:
        kept = self._recent.setdefault(candle.symbol, {})
        kept[candle.open_time] = candle
        while len(kept) > self._history_seconds:
            del kept[next(iter(kept))]

    def _replay(self, client: _Client, pairs: subscriptions.Pairs, since: int | None) -> None:
        """The latest closed candle of each symbol in ``pairs`` (or all since ``since``)."""
        wanted = {symbol for symbol, channel in pairs if channel == subscriptions.CANDLE}
        symbols = sorted(self._recent) if subscriptions.ALL_SYMBOLS in wanted else sorted(wanted & set(self._recent))
        for symbol in symbols:
            kept = self._recent[symbol]
            if since is None:
                candles = [kept[next(reversed(kept))]]
            else:
                candles = sorted((c for t, c in kept.items() if t >= since), key=lambda c: c.open_time)
            for candle in candles:
                if client.session.offer(wire.candle_event(candle)):
                    self._replayed += 1

    # --- trades ------------------------------------------------------------------------------

    def _pace_trades(self, symbol: str, trades: tuple[Trade, ...]) -> None:
        if not any(subscriptions.wants(c.subscriptions, symbol, subscriptions.TRADE) for c in self._clients.values()):
            return
        held = self._held_trades.get(symbol)
        if held is not None:
            held.extend(trades)
            return
        now = self._monotonic()
        if now - self._trades_sent_at.get(symbol, -1e9) >= self._trade_interval_s:
            self._send_trades(symbol, trades, now)
        else:
            self._held_trades[symbol] = list(trades)

    def _flush_trades(self) -> None:
        now = self._monotonic()
        for symbol in [s for s in self._held_trades if now - self._trades_sent_at[s] >= self._trade_interval_s]:
            self._send_trades(symbol, tuple(self._held_trades.pop(symbol)), now)

    def _send_trades(self, symbol: str, trades: tuple[Trade, ...], now: float) -> None:
        if trades:
            self._trades_sent_at[symbol] = now
            self._fan_out(symbol, subscriptions.TRADE, wire.trades_event(symbol, trades))

    # --- delivery ----------------------------------------------------------------------------

    def _fan_out(self, symbol: str, channel: str, text: str, explicit_only: bool = False) -> None:
        slow: list[int] = []
        for client_id, client in self._clients.items():
            if not subscriptions.wants(client.subscriptions, symbol, channel) or (explicit_only and not client.explicit):
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
        added: subscriptions.Pairs = frozenset()
        if command.op == "subscribe":
            current = client.subscriptions if client.explicit else frozenset()
            added = command.pairs - current
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
        if added or command.since is not None:
            self._replay(client, added if command.since is None else command.pairs, command.since)
