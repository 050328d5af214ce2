"""The client reader survives faults: one client's failure lets that client go with 1011 and
the others are still served; a failing turn of its loop is logged and the loop goes on."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pykka
import pytest
from structlog.testing import capture_logs
from wsproto.connection import Connection, ConnectionType
from wsproto.frame_protocol import FrameProtocol

from candlecast.http.client_reader import ClientReader
from candlecast.messages.fanout import ChangeSubscriptions, ClientGone
from candlecast.messages.supervision import ThreadEnded
from tests.clients import wait_for


class Recorder(pykka.ThreadingActor):
    """Stands in for the broadcaster: keeps what the reader tells it."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "told":
            return list(self.told)
        self.told.append(message)
        return None


class BrokenConnection(Connection):
    """A connection that fails on the data it receives, as a bug in handling it would."""

    def receive_data(self, data: bytes | None) -> None:
        if data:
            raise RuntimeError("injected")
        super().receive_data(data)


class FailingMonotonic:
    """The reader's monotonic clock, failing ``failures`` times once armed."""

    def __init__(self) -> None:
        self.failures = 0

    def __call__(self) -> float:
        if self.failures:
            self.failures -= 1
            raise ArithmeticError("injected")
        return time.monotonic()


class Peer:
    """A client's end of a loopback connection the reader reads the other end of."""

    def __init__(self, reader: ClientReader, client_id: int, connection: Connection) -> None:
        self.sock, server = socket.socketpair()
        server.setblocking(False)
        self._server = server
        self._frames = FrameProtocol(client=True, extensions=[])
        reader.add(client_id, server, connection)

    def send(self, text: str) -> None:
        self.sock.sendall(bytes(self._frames.send_data(text)))

    def close(self) -> None:
        self.sock.close()
        self._server.close()


@pytest.fixture
def recorder() -> Iterator[pykka.ActorRef[Any]]:
    ref = Recorder.start()
    yield ref
    ref.stop()


def reader_for(recorder: pykka.ActorRef[Any], **options: Any) -> ClientReader:
    settings: dict[str, Any] = {"ping_interval_s": 30.0, "max_message_bytes": 4096, "max_message_frames": 16}
    return ClientReader(broadcaster=recorder, **{**settings, **options})


def told(recorder: pykka.ActorRef[Any], kind: type) -> list[Any]:
    return [m for m in recorder.ask("told", timeout=2) if isinstance(m, kind)]


def answered(recorder: pykka.ActorRef[Any], client_id: int, request_id: int) -> bool:
    return any(m.client_id == client_id and m.request_id == request_id for m in told(recorder, ChangeSubscriptions))


def test_a_client_that_fails_is_let_go_with_1011_and_the_others_are_served(recorder: pykka.ActorRef[Any]) -> None:
    reader = reader_for(recorder)
    reader.start()
    broken = Peer(reader, 1, BrokenConnection(ConnectionType.SERVER))
    healthy = Peer(reader, 2, Connection(ConnectionType.SERVER))
    try:
        with capture_logs() as logs:
            broken.send('{"op": "list", "id": 1}')
            wait_for(lambda: told(recorder, ClientGone))
        gone = told(recorder, ClientGone)
        assert [(g.client_id, g.reason) for g in gone] == [(1, "internal error")]
        assert gone[0].farewell[2:4] == (1011).to_bytes(2, "big") and gone[0].farewell.endswith(b"internal error")
        assert [(e["event"], e.get("exc_info"), e["client_id"]) for e in logs] == [("websocket client failed", True, 1)]
        healthy.send('{"op": "list", "id": 2}')
        wait_for(lambda: answered(recorder, 2, 2))
        assert reader.is_alive()
    finally:
        reader.stop()
        broken.close()
        healthy.close()


def test_a_failing_turn_is_logged_and_the_loop_goes_on(recorder: pykka.ActorRef[Any]) -> None:
    monotonic = FailingMonotonic()
    reader = reader_for(recorder, ping_interval_s=0.2, monotonic=monotonic)
    reader.start()
    try:
        with capture_logs() as logs:
            monotonic.failures = 5  # no client yet: the loop's own reading of the time fails
            wait_for(lambda: monotonic.failures == 0 and len(logs) == 3)
        assert [(e["event"], e["log_level"], e.get("times")) for e in logs] == [
            ("websocket reader turn failed", "error", None),
            ("websocket reader turn failed", "warning", 2),
            ("websocket reader turn failed", "warning", 4),
        ], "the first with its traceback, then counted"
        client = Peer(reader, 1, Connection(ConnectionType.SERVER))
        try:
            client.send('{"op": "list", "id": 1}')
            wait_for(lambda: answered(recorder, 1, 1))
        finally:
            client.close()
        assert reader.is_alive()
    finally:
        reader.stop()


def test_a_reader_whose_broadcaster_is_gone_reports_its_end() -> None:
    recorder = Recorder.start()
    ended: list[ThreadEnded] = []
    reader = reader_for(recorder, on_ended=ended.append)
    reader.start()
    client = Peer(reader, 1, Connection(ConnectionType.SERVER))
    try:
        recorder.stop()
        client.send('{"op": "list", "id": 1}')
        wait_for(lambda: ended)
        assert ended == [ThreadEnded(thread="websocket-reader", cause="its loop returned")]
    finally:
        reader.stop()
        client.close()
