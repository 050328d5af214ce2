"""Acknowledgements name the client's subscriptions by channel and echo the command's id;
errors name what was refused and why."""

from __future__ import annotations

import json

from candlecast.fanout import replies
from candlecast.fanout.subscriptions import ALL_SYMBOLS, CANDLE, TRADE


def test_an_acknowledgement_names_the_subscriptions_by_channel() -> None:
    pairs = frozenset({("ETHUSDT", CANDLE), ("BTCUSDT", CANDLE), (ALL_SYMBOLS, TRADE)})
    assert json.loads(replies.acknowledgement("unsubscribe", 7, pairs)) == {
        "type": "unsubscribed",
        "id": 7,
        "subscriptions": {"candle": ["BTCUSDT", "ETHUSDT"], "trade": ["*"]},
    }
    assert json.loads(replies.acknowledgement("list", None, frozenset()))["type"] == "subscriptions"


def test_errors_say_what_was_refused() -> None:
    assert json.loads(replies.too_many_subscriptions("a", 10)) == {
        "type": "error",
        "error": "too_many_subscriptions",
        "id": "a",
        "detail": "at most 10 (symbol, channel) subscriptions per connection",
    }
    too_large = json.loads(replies.replay_too_large(None, 1_795_836_601_000, 500))
    assert too_large["error"] == "replay_too_large" and too_large["id"] is None
    assert too_large["detail"].startswith("since=1795836601000 would replay more than 500 candles at once")
