"""A held replay takes the answer to its newest read only, keeps the client's messages in order
until it is released, and is gone with its client."""

from __future__ import annotations

from decimal import Decimal

from candlecast.candles.series import empty_candle
from candlecast.fanout import subscriptions
from candlecast.fanout.held_replays import HeldReplays
from candlecast.messages.fanout import ChangeSubscriptions, ClientConnected, ClientNotice
from candlecast.messages.history import CandleRange, CandlesRead

PAIRS = subscriptions.pairs(["BTCUSDT"], [subscriptions.CANDLE])
RANGE = CandleRange("BTCUSDT", 0, 9_999)


def connected(client_id: int) -> ClientConnected:
    return ClientConnected(client_id, None, "127.0.0.1", PAIRS, since=0)


def test_the_answers_add_up_and_an_earlier_read_is_stale() -> None:
    held = HeldReplays()
    replay = held.hold(1, connected(1))
    first = held.ask(replay, (RANGE,))
    candle = empty_candle("BTCUSDT", 1, Decimal(1))
    assert held.answered(CandlesRead(first, (RANGE,), (candle,))) is replay
    second = held.ask(replay, (CandleRange("BTCUSDT", 10_000, 11_999),))
    assert held.answered(CandlesRead(first, (RANGE,), (candle,))) is None, "answered already"
    assert held.answered(CandlesRead(second, (), (candle,))) is replay
    assert replay.stored == [candle, candle]


def test_messages_wait_in_order_until_release_and_a_gone_client_takes_nothing() -> None:
    held = HeldReplays()
    replay = held.hold(1, connected(1))
    request = held.ask(replay, (RANGE,))
    command = ChangeSubscriptions(1, "list", frozenset())
    notice = ClientNotice(1, "slow down")
    assert held.queue(1, command) and held.queue(1, notice)
    assert not held.queue(2, command), "client 2 is not held"
    assert 1 in held and held.release(1) is replay and 1 not in held
    assert replay.queued == [command, notice]
    assert held.answered(CandlesRead(request, (RANGE,), ())) is None, "its client is gone"
