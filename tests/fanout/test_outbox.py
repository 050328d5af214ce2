"""An Outbox over a real loopback TCP connection whose client reads late: a replay far larger
than the backlog limit waits as candles and is encoded a chunk at a time as the client reads,
and what was sent behind it follows it, in order, compressed or not."""

from __future__ import annotations

import json
import socket
import time
from decimal import Decimal

import pytest
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol, Opcode

from candlecast.fanout.outbox import (
    HARD_LIMIT_FACTOR,
    REPLAY_CANDLE_BYTES,
    REPLAY_CHUNK,
    WRITE_BYTES,
    DeliveryCounters,
    Outbox,
)
from candlecast.http import encoding
from candlecast.market_data import Candle

REPLAYED = 5000
BACKLOG_LIMIT = 16384  # the hard limit is four times this, about a 25th of the replay encoded


def candle(second: int) -> Candle:
    price = Decimal("43012.90")
    return Candle(
        symbol="BTCUSDT",
        open_time=second * 1000,
        close_time=second * 1000 + 999,
        open=price,
        high=price,
        low=price,
        close=price,
        volume=Decimal("0.001"),
        quote_volume=Decimal("43.0129"),
        trades=1,
        taker_buy_volume=Decimal("0"),
        taker_buy_quote_volume=Decimal("0"),
        first_trade_id=second,
        last_trade_id=second,
    )


def encoders(compressed: bool) -> tuple[FrameProtocol, FrameProtocol]:
    """The server's encoder and the client's decoder, with permessage-deflate agreed or not."""
    if not compressed:
        return FrameProtocol(client=False, extensions=[]), FrameProtocol(client=True, extensions=[])
    server_side, client_side = PerMessageDeflate(), PerMessageDeflate()
    client_side.finalize(server_side.accept(PerMessageDeflate.name))
    return FrameProtocol(client=False, extensions=[server_side]), FrameProtocol(client=True, extensions=[client_side])


def read_everything(client: socket.socket, decoder: FrameProtocol, outbox: Outbox, messages: int) -> list[str]:
    """Read until ``messages`` texts arrived, letting the outbox write on as a writer's ticks would."""
    texts: list[str] = []
    parts: list[str] = []  # wsproto hands over a frame's payload as it arrives
    deadline = time.monotonic() + 20
    client.settimeout(0.05)
    while len(texts) < messages and time.monotonic() < deadline:
        outbox.flush()
        try:
            decoder.receive_bytes(client.recv(65536))
        except TimeoutError:
            continue
        for frame in decoder.received_frames():
            if frame.opcode in (Opcode.TEXT, Opcode.CONTINUATION):
                parts.append(frame.payload)
                if frame.message_finished:
                    texts.append("".join(parts))
                    parts = []
    return texts


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "compressed"])
def test_a_long_replay_is_written_as_the_client_reads_and_what_follows_keeps_its_place(
    late_reader: tuple[socket.socket, socket.socket], compressed: bool
) -> None:
    server, client = late_reader
    encoder, decoder = encoders(compressed)
    counters = DeliveryCounters()
    outbox = Outbox(
        client_id=1,
        sock=server,
        peer="127.0.0.1",
        encoder=encoder,
        compressed=compressed,
        backlog_limit=BACKLOG_LIMIT,
        stall_timeout_s=10.0,
        counters=counters,
        monotonic=time.monotonic,
    )
    outbox.replay(tuple(candle(second) for second in range(REPLAYED)))
    live = encoding.candle_event(candle(REPLAYED))
    outbox.send(live if compressed else outbox.encode(live), "candle", "BTCUSDT")

    encoded = REPLAYED * len(live)
    assert encoded > 25 * HARD_LIMIT_FACTOR * BACKLOG_LIMIT
    assert outbox.backlogged
    assert (
        outbox.backlog_bytes <= REPLAYED * REPLAY_CANDLE_BYTES + WRITE_BYTES + REPLAY_CHUNK * len(live) < encoded / 10
    )
    assert outbox.overdue(time.monotonic()) is None, "a waiting replay counts a reference per candle"

    texts = read_everything(client, decoder, outbox, REPLAYED + 1)
    assert [json.loads(text)["open_time"] for text in texts] == [second * 1000 for second in range(REPLAYED + 1)]
    assert counters.delivered == REPLAYED + 1
    assert not outbox.backlogged and outbox.backlog_bytes == 0
