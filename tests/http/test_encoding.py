"""candlecast's candle JSON, byte for byte as the README shows it: fields in order, prices and
volumes as exact numbers, then the ISO timestamp; the WebSocket event leads with its type."""

from __future__ import annotations

import json
from decimal import Decimal

import msgspec

from candlecast.http import encoding
from candlecast.market_data import Candle

README_CANDLE = (
    b'{"symbol":"BTCUSDT","open_time":1795836601000,"close_time":1795836601999,"open":43012.15,'
    b'"high":43013.02,"low":43011.90,"close":43012.88,"volume":0.41230000,"quote_volume":17733.9528713,'
    b'"trades":9,"taker_buy_volume":0.20010000,"taker_buy_quote_volume":8606.78131,"first_trade_id":3900012,'
    b'"last_trade_id":3900020,"revision":0,"complete":true,"timestamp":"2026-11-28T03:30:01.000Z"}'
)

CANDLE = Candle(
    symbol="BTCUSDT",
    open_time=1_795_836_601_000,
    close_time=1_795_836_601_999,
    open=Decimal("43012.15"),
    high=Decimal("43013.02"),
    low=Decimal("43011.90"),
    close=Decimal("43012.88"),
    volume=Decimal("0.41230000"),
    quote_volume=Decimal("17733.9528713"),
    trades=9,
    taker_buy_volume=Decimal("0.20010000"),
    taker_buy_quote_volume=Decimal("8606.78131"),
    first_trade_id=3_900_012,
    last_trade_id=3_900_020,
)


def test_candle_json_is_the_readme_example() -> None:
    assert encoding.candle_json(CANDLE) == README_CANDLE


def test_candle_event_leads_with_its_type() -> None:
    event = encoding.candle_event(msgspec.structs.replace(CANDLE, revision=2, complete=False))
    assert event.startswith('{"type":"candle","symbol":"BTCUSDT",')
    body = json.loads(event, parse_float=Decimal)
    assert (body["revision"], body["complete"], body["low"]) == (2, False, Decimal("43011.90"))


def test_candles_embed_as_they_are() -> None:
    later = msgspec.structs.replace(CANDLE, open_time=CANDLE.open_time + 1000, close_time=CANDLE.close_time + 1000)
    body = encoding.encode({"count": 2, "candles": encoding.candles_json([CANDLE, later])})
    assert body == b'{"count":2,"candles":[%s,%s]}' % (README_CANDLE, encoding.candle_json(later))
    assert json.loads(body)["candles"][1]["timestamp"] == "2026-11-28T03:30:02.000Z"


def test_timestamps_keep_their_milliseconds() -> None:
    assert encoding.iso_timestamp(1_795_836_601_007) == "2026-11-28T03:30:01.007Z"
    assert encoding.iso_timestamp(0) == "1970-01-01T00:00:00.000Z"


def test_a_candle_not_from_the_live_stream_names_its_source_and_a_live_one_stays_as_it_was() -> None:
    """The usual source is left out, so live candles keep the README's shape."""
    assert b'"source"' not in encoding.candle_json(CANDLE)
    for source in ("trades", "klines"):
        body = json.loads(encoding.candle_event(msgspec.structs.replace(CANDLE, source=source)))
        assert body["source"] == source
        assert list(body)[-2:] == ["source", "timestamp"]
