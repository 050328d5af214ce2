"""What the fan-out answers a client's subscription commands with: an acknowledgement naming
its subscriptions now, or an error, each as the text of one WebSocket message."""

from __future__ import annotations

from typing import Any

from candlecast.fanout.subscriptions import Pairs, SubscriptionOp, describe
from candlecast.http import encoding

_REPLY_TYPES: dict[SubscriptionOp, str] = {
    "subscribe": "subscribed",
    "unsubscribe": "unsubscribed",
    "list": "subscriptions",
}


def acknowledgement(op: SubscriptionOp, request_id: Any, subscriptions: Pairs) -> str:
    return _text({"type": _REPLY_TYPES[op], "id": request_id, "subscriptions": describe(subscriptions)})


def too_many_subscriptions(request_id: Any, limit: int) -> str:
    return _text(
        {
            "type": "error",
            "error": "too_many_subscriptions",
            "id": request_id,
            "detail": f"at most {limit} (symbol, channel) subscriptions per connection",
        }
    )


def replay_too_large(request_id: Any, since: int | None, most: int) -> str:
    return _text(
        {
            "type": "error",
            "error": "replay_too_large",
            "id": request_id,
            "detail": f"since={since} would replay more than {most} candles at once: "
            "ask for fewer symbols or a later since; the live stream goes on",
        }
    )


def history_unavailable(request_id: Any, since: int | None) -> str:
    return _text(
        {
            "type": "error",
            "error": "history_unavailable",
            "id": request_id,
            "detail": f"since={since} reaches before the candles kept in memory and the candle store "
            "cannot be read now: ask again later; the live stream goes on",
        }
    )


def _text(reply: dict[str, Any]) -> str:
    return encoding.encode(reply).decode()
