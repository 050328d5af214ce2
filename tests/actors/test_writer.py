"""A writer tells the broadcaster at once when a client of its falls behind, so that it gets
every tick to retry it, and when none is behind any more, so that an idle writer is woken
only to report its counters."""

from __future__ import annotations

import socket
import time

from candlecast.actors.writer import WriterActor
from candlecast.fanout.frames import Outbound
from candlecast.messages.fanout import ClientConnected, GroupFrames, Publish, Regroup, WriterCounters, WriterTick
from tests.clients import wait_for
from tests.recorder import Recorder

GROUP = 0


def test_a_writer_says_at_once_when_a_client_falls_behind_and_when_it_caught_up(
    late_reader: tuple[socket.socket, socket.socket],
) -> None:
    server, client = late_reader
    broadcaster = Recorder.start(WriterCounters)  # the broadcaster as a writer sees it: told its counters
    writer = WriterActor.start(0, broadcaster, backlog_bytes=1 << 20, stall_timeout_s=60.0)
    try:
        writer.tell(ClientConnected(1, server, "127.0.0.1", frozenset()))
        writer.tell(Regroup(1, GROUP))
        writer.ask(WriterTick(report=True))
        assert [r.busy for r in broadcaster.ask("reports")] == [False]

        frame = Outbound(b"\x81\x7e\x10\x00" + b"x" * 4096, "x" * 4096, "candle", "BTCUSDT")
        for _ in range(64):  # 256 KiB: more than the socket buffers hold
            writer.tell(Publish((GroupFrames(GROUP, (frame,), frame.frame),)))
        wait_for(lambda: broadcaster.ask("reports")[-1].busy, timeout=5)
        reports = broadcaster.ask("reports")
        assert reports[-1].backlogged_clients == 1, "told without waiting for a reporting tick"

        client.settimeout(5)
        received = 0
        while received < 64 * len(frame.frame):
            writer.tell(WriterTick(report=False))  # the ticks a busy writer gets: retry the backlog
            received += len(client.recv(1 << 20))
            time.sleep(0.005)
        writer.ask(WriterTick(report=False))
        assert broadcaster.ask("reports")[-1].busy is False, "caught up: told at once, with no reporting tick"
    finally:
        writer.stop()
        broadcaster.stop()
