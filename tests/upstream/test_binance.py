"""Parsing Binance's wire format, checked against real recorded frames."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from candlecast.market_data import Trade
from candlecast.upstream import binance
from tests.conftest import shared_data


def test_real_recorded_trade_frame_parses_exactly() -> None:
    raw = shared_data("ws/nautilus_ws_spot_trade_ethusdt_2021-12-12.json").read_bytes()
    trade = binance.parse_frame(raw)
    assert trade == Trade(
        symbol="ETHUSDT",
        trade_id=705291099,
        price=Decimal("4149.74000000"),
        quantity=Decimal("0.43870000"),
        time=1639351062243,
        buyer_is_maker=True,
    )


def test_every_recorded_frame_parses_or_is_another_event() -> None:
    lines = shared_data("ws/cryptofeed_spot_binance_com_2021-10-12.frames.jsonl").read_text().splitlines()
    parsed = [binance.parse_frame(line) for line in lines]
    assert len(parsed) == 265
    assert all(isinstance(p, binance.OtherEvent) for p in parsed)


def test_trade_event_round_trips() -> None:
    trade = Trade("BTCUSDT", 12, Decimal("43012.15000000"), Decimal("0.00100000"), 1_700_000_000_123, False)
    frame = json.dumps({"stream": "btcusdt@trade", "data": binance.trade_event(trade, 1_700_000_000_125)})
    assert binance.parse_frame(frame) == trade


def test_rest_trade_rows_match_binance_byte_for_byte() -> None:
    rows = json.loads(shared_data("rest/nautilus_spot_trades_btcusdt_2021-10-22.json").read_text())
    trades = [
        Trade("BTCUSDT", r["id"], Decimal(r["price"]), Decimal(r["qty"]), r["time"], r["isBuyerMaker"]) for r in rows
    ]
    assert [binance.rest_trade(t) for t in trades] == rows


@pytest.mark.parametrize(
    "frame",
    [
        b"not json",
        b"{}",
        b'{"stream": "btcusdt@trade"}',
        b'{"stream": "btcusdt@trade", "data": {"e": "trade", "s": "BTCUSDT"}}',
        b'{"stream": "btcusdt@trade", "data": {"e":"trade","s":"BTCUSDT","t":1,"p":"abc","q":"1","T":1,"m":true}}',
        b'{"stream": "btcusdt@trade", "data": {"e":"trade","s":"BTCUSDT","t":1,"p":"-1","q":"1","T":1,"m":true}}',
        b'{"stream": "btcusdt@trade", "data": {"e":"kline","s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}',
        b'{"stream": "btcusdt@trade", "data": {"e":"trade","s":"BTC\xffUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}',
        b'{"stream": "btc\xc3@trade", "data": {"e":"trade","s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}',
        b'{"result": null, "id": "\xed\xa0\x80"}',
    ],
)
def test_malformed_frames_raise_one_exception_type(frame: bytes) -> None:
    with pytest.raises(binance.MalformedFrame):
        binance.parse_frame(frame)


def test_replies_and_requests() -> None:
    assert binance.parse_frame(b'{"result": null, "id": 3}') == binance.ControlReply(3, None, None)
    error = binance.parse_frame(b'{"error": {"code": 2, "msg": "Invalid request"}, "id": 4}')
    assert isinstance(error, binance.ControlReply) and error.error.code == 2
    assert json.loads(binance.control_request("SUBSCRIBE", ["btcusdt@trade"], 5)) == {
        "method": "SUBSCRIBE",
        "params": ["btcusdt@trade"],
        "id": 5,
    }
    assert (
        binance.combined_stream_url("wss://x/", ["ETHUSDT", "BTCUSDT"])
        == "wss://x/stream?streams=btcusdt@trade/ethusdt@trade"
    )


def test_a_trade_frame_with_anything_more_takes_the_full_path() -> None:
    data = '{"e":"trade","E":5,"s":"BTCUSDT","t":1,"p":"1.5","q":"2","T":3,"m":false}'
    assert binance.parse_frame(f'{{"stream":"btcusdt@trade","data":{data}}}') == Trade(
        "BTCUSDT", 1, Decimal("1.5"), Decimal("2"), 3, False
    )
    shutdown = f'{{"stream":"btcusdt@trade","data":{data},"e":"serverShutdown","E":9}}'
    assert binance.parse_frame(shutdown) == binance.ShutdownNotice(event_time=9)
    assert binance.parse_frame(f'{{"stream":"btcusdt@aggTrade","data":{data}}}') == binance.OtherEvent(
        "btcusdt@aggTrade"
    )
