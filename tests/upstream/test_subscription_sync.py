"""Pure pieces of the connection layer: subscription reconciliation, the request budget and
the serverShutdown event in its three shapes."""

from __future__ import annotations

import pytest

from candlecast.upstream import binance
from candlecast.upstream.request_budget import WINDOW_MARGIN_S, RequestBudget
from candlecast.upstream.subscription_sync import SubscriptionSync


def test_changes_are_batched_then_listed_and_a_lost_stream_is_requested_again() -> None:
    sync = SubscriptionSync()
    sync.connected({"BTCUSDT", "XRPUSDT"})
    wanted = frozenset({"BTCUSDT", "ETHUSDT", "SOLUSDT"})
    assert sync.next_request(wanted, 1) == ("SUBSCRIBE", ["ETHUSDT", "SOLUSDT"])
    assert sync.next_request(wanted, 2) == ("UNSUBSCRIBE", ["XRPUSDT"])
    assert sync.next_request(wanted, 3) == ("LIST_SUBSCRIPTIONS", [])
    assert sync.next_request(wanted, 4) is None and not sync.has_work(wanted)
    assert sync.listed(99, ["btcusdt@trade"]) == 0, "a reply to another request changes nothing"
    assert sync.listed(3, ["btcusdt@trade", "ethusdt@trade"]) == 1
    assert sync.next_request(wanted, 5) == ("SUBSCRIBE", ["SOLUSDT"])
    assert sync.next_request(wanted, 6) == ("LIST_SUBSCRIPTIONS", [])
    assert sync.listed(6, ["btcusdt@trade", "ethusdt@trade", "solusdt@trade"]) == 0
    assert not sync.has_work(wanted)


def test_a_failed_list_is_asked_again() -> None:
    sync = SubscriptionSync()
    sync.connected(set())
    assert sync.next_request(frozenset(), 1) == ("LIST_SUBSCRIPTIONS", [])
    sync.failed(1)
    assert sync.next_request(frozenset(), 2) == ("LIST_SUBSCRIPTIONS", [])


def test_a_subscribes_success_reply_confirms_its_symbols_once_and_an_error_confirms_none() -> None:
    sync = SubscriptionSync()
    sync.connected({"BTCUSDT"})
    assert sync.next_request(frozenset({"BTCUSDT", "ETHUSDT"}), 1) == ("SUBSCRIBE", ["ETHUSDT"])
    assert sync.next_request(frozenset({"BTCUSDT", "ETHUSDT", "SOLUSDT"}), 2) == ("SUBSCRIBE", ["SOLUSDT"])
    assert sync.subscribed(1) == ("ETHUSDT",)
    assert sync.subscribed(1) == ()
    sync.failed(2)
    assert sync.subscribed(2) == ()
    assert sync.next_request(frozenset({"XRPUSDT"}), 3) == ("SUBSCRIBE", ["XRPUSDT"])
    sync.connected({"XRPUSDT"})  # a new socket: its URL confirms what it streams
    assert sync.subscribed(3) == ()


@pytest.mark.parametrize(("per_second", "limit", "window_s"), [(4.0, 4, 1.0), (0.5, 1, 2.0)])
def test_request_budget(per_second: float, limit: int, window_s: float) -> None:
    budget = RequestBudget(per_second)
    assert all(budget.take(10.0) for _ in range(limit))
    assert not budget.take(10.0)
    assert budget.wait_s(10.0) == pytest.approx(window_s + WINDOW_MARGIN_S)
    assert budget.take(10.0 + window_s + WINDOW_MARGIN_S)
    budget.reset()
    assert budget.take(10.0)


@pytest.mark.parametrize(
    "frame",
    [
        '{"e":"serverShutdown","E":1700000000000}',
        '{"stream":"serverShutdown","data":{"e":"serverShutdown","E":1700000000000}}',
        '{"event":{"e":"serverShutdown","E":1700000000000}}',
    ],
)
def test_server_shutdown_in_every_shape(frame: str) -> None:
    assert binance.parse_frame(frame) == binance.ShutdownNotice(event_time=1700000000000)


def test_list_reply_keeps_its_result() -> None:
    reply = binance.parse_frame('{"result":["btcusdt@trade"],"id":7}')
    assert reply == binance.ControlReply(request_id=7, result=["btcusdt@trade"], error=None)
