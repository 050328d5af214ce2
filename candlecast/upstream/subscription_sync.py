"""Keeping an upstream socket's subscriptions equal to the streams a connection wants.

``believed`` is what the server should have; every change is followed by a LIST_SUBSCRIPTIONS
whose reply is compared with it, and any stream the server lost or kept is requested again.
A SUBSCRIBE's reply confirms its streams (``subscribed``). Pure: the connection actor sends
what ``next_request`` returns, as its budget allows.
"""

from __future__ import annotations

from collections.abc import Iterable

from candlecast.upstream import binance

# Streams per SUBSCRIBE/UNSUBSCRIBE: large batches, well inside a frame's size.
MAX_STREAMS_PER_REQUEST = 200


class SubscriptionSync:
    def __init__(self) -> None:
        self.believed: set[str] = set()
        self._list_due = False
        self._listing: tuple[int, frozenset[str]] | None = None
        self._subscribing: dict[int, tuple[str, ...]] = {}  # request id -> its symbols, until replied

    def connected(self, symbols: Iterable[str]) -> None:
        self.believed = set(symbols)
        self._list_due = True
        self._listing = None
        self._subscribing.clear()

    def next_request(self, wanted: frozenset[str], request_id: int) -> tuple[str, list[str]] | None:
        """The next request to send (method, symbols), or None when nothing is due."""
        for method, symbols in (("SUBSCRIBE", wanted - self.believed), ("UNSUBSCRIBE", self.believed - wanted)):
            if symbols:
                batch = sorted(symbols)[:MAX_STREAMS_PER_REQUEST]
                if method == "SUBSCRIBE":
                    self.believed.update(batch)
                    self._subscribing[request_id] = tuple(batch)
                else:
                    self.believed.difference_update(batch)
                self._list_due = True
                return method, batch
        if self._list_due and self._listing is None:
            self._list_due = False
            self._listing = (request_id, frozenset(self.believed))
            return "LIST_SUBSCRIPTIONS", []
        return None

    def listed(self, request_id: int, result: object) -> int:
        """Reconcile a LIST_SUBSCRIPTIONS reply; returns how many streams the server had lost."""
        if self._listing is None or self._listing[0] != request_id:
            return 0
        expected = self._listing[1]
        self._listing = None
        if not isinstance(result, list):
            self._list_due = True
            return 0
        listed = {
            symbol for stream in result if isinstance(stream, str) and (symbol := binance.symbol_of_stream(stream))
        }
        missing = expected - listed
        self.believed -= missing
        self.believed |= listed - expected
        return len(missing)

    def subscribed(self, request_id: int) -> tuple[str, ...]:
        """A success reply: the symbols it confirms streaming, if it answered a SUBSCRIBE."""
        return self._subscribing.pop(request_id, ())

    def failed(self, request_id: int) -> None:
        """An error reply; if it answered the pending LIST, ask again."""
        self._subscribing.pop(request_id, None)
        if self._listing is not None and self._listing[0] == request_id:
            self._listing = None
            self._list_due = True

    def has_work(self, wanted: frozenset[str]) -> bool:
        """Whether ``next_request`` would return something."""
        return wanted != self.believed or (self._list_due and self._listing is None)
