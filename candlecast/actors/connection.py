"""One actor per upstream WebSocket connection: which symbols it streams, and keeping the
server's subscriptions equal to that set with live SUBSCRIBE/UNSUBSCRIBE (no reconnect).
The socket itself belongs to an ``UpstreamReader`` thread; this actor only sends requests."""

from __future__ import annotations

import itertools
from types import MappingProxyType
from typing import Any, Iterable

import websocket

from candlecast import binance
from candlecast.actors.base import Actor
from candlecast.actors.upstream_reader import UpstreamReader
from candlecast.messages import (
    ConnectionStateChanged,
    FrameRejected,
    Unwatch,
    UpstreamConnected,
    UpstreamDisconnected,
    Watch,
)


class ConnectionActor(Actor):
    def __init__(self, connection_id: int, stream_url: str, reconnect_cap_s: float, registry: Any) -> None:
        super().__init__(actor="connection", connection=connection_id)
        self._id = connection_id
        self._stream_url = stream_url
        self._reconnect_cap_s = reconnect_cap_s
        self._registry = registry
        self._routes: dict[str, Any] = {}
        self._reader: UpstreamReader | None = None
        self._socket: websocket.WebSocket | None = None
        self._request_ids = itertools.count(1)
        self._rejected_frames = 0

    def on_stop(self) -> None:
        self._stop_reader()

    def handle(self, message: Any) -> None:
        match message:
            case Watch(symbol=symbol, aggregator=aggregator):
                self._routes[symbol] = aggregator
                self._publish_routes()
                self._request("SUBSCRIBE", [symbol])
            case Unwatch(symbol=symbol):
                if self._routes.pop(symbol, None) is not None:
                    self._publish_routes()
                    self._request("UNSUBSCRIBE", [symbol])
            case UpstreamConnected(socket=sock, symbols=symbols):
                self._socket = sock
                self._report("connected")
                self._request("SUBSCRIBE", self._routes.keys() - symbols)
                self._request("UNSUBSCRIBE", symbols - self._routes.keys())
            case UpstreamDisconnected(reason=reason):
                self._socket = None
                self._report("reconnecting", reason)
            case binance.ControlReply(error=error, request_id=request_id) if error is not None:
                self.log.warning("upstream rejected a request", request_id=request_id, code=error.code, msg=error.msg)
            case FrameRejected(reason=reason):
                self._rejected_frames += 1
                if self._rejected_frames <= 10 or self._rejected_frames % 1000 == 0:
                    self.log.warning("malformed upstream frame", reason=reason, total=self._rejected_frames)

    def _publish_routes(self) -> None:
        if not self._routes:
            self._stop_reader()
            self._report("idle")
            return
        if self._reader is None:
            self._reader = UpstreamReader(self.actor_ref, self._id, self._stream_url, self._reconnect_cap_s)
            self._reader.routes = MappingProxyType(dict(self._routes))
            self._reader.start()
            self._report("connecting")
        else:
            self._reader.routes = MappingProxyType(dict(self._routes))

    def _stop_reader(self) -> None:
        if self._reader is not None:
            self._reader.stop()
            self._reader = None
            self._socket = None

    def _request(self, method: str, symbols: Iterable[str]) -> None:
        streams = [binance.stream_name(s) for s in sorted(symbols)]
        if not streams or self._socket is None:
            return
        try:
            self._socket.send(binance.control_request(method, streams, next(self._request_ids)))
        except (websocket.WebSocketException, OSError) as exc:
            self.log.info("request not sent; the reader will reconnect", method=method, error=str(exc))

    def _report(self, state: str, detail: str = "") -> None:
        self._registry.tell(ConnectionStateChanged(
            connection_id=self._id, state=state, detail=detail, rejected_frames=self._rejected_frames
        ))
