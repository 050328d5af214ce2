"""permessage-deflate is negotiated only when ``--ws-compression`` is on; each compressing
client's frames come from its own compression context and decode in sequence."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage
from wsproto.extensions import PerMessageDeflate

from candlecast.sim import Simulator
from candlecast.system import RunningSystem, start_system
from tests.conftest import settings_for


class DeflateClient:
    """A wsproto client that offers permessage-deflate."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.connection = WSConnection(ConnectionType.CLIENT)
        self.sock.sendall(self.connection.send(Request(host="127.0.0.1", target="/", extensions=[PerMessageDeflate()])))
        self.accepted: AcceptConnection | None = None
        self.texts: list[str] = []
        self._parts: list[str] = []

    def read(self, messages: int, seconds: float) -> None:
        """Until ``messages`` text messages have arrived, or ``seconds`` have passed."""
        deadline = time.monotonic() + seconds
        while len(self.texts) < messages and (remaining := deadline - time.monotonic()) > 0:
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return
            self.connection.receive_data(data or None)
            for event in self.connection.events():
                if isinstance(event, AcceptConnection):
                    self.accepted = event
                elif isinstance(event, TextMessage):
                    self._parts.append(event.data)
                    if event.message_finished:
                        self.texts.append("".join(self._parts))
                        self._parts = []
            if not data:
                return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=[True, False], ids=["compression-on", "compression-off"])
def compressing(simulator: Simulator, request: pytest.FixtureRequest) -> Iterator[tuple[RunningSystem, bool]]:
    running = start_system(settings_for(simulator, ws_compression=request.param))
    yield running, request.param
    running.stop()


def test_compression_is_negotiated_only_when_enabled(compressing: tuple[RunningSystem, bool]) -> None:
    system, enabled = compressing
    clients = [DeflateClient(system.ws_port) for _ in range(2)]  # two contexts, one after the other
    try:
        for client in clients:
            client.read(4, 10.0)
    finally:
        for client in clients:
            client.close()
    for client in clients:
        assert client.accepted is not None
        negotiated = [e.name for e in client.accepted.extensions]
        assert negotiated == (["permessage-deflate"] if enabled else [])
        candles = [json.loads(t) for t in client.texts]
        assert len(candles) >= 4 and all(c["type"] == "candle" for c in candles), "every frame decodes in sequence"
