"""Which WebSocket clients the fan-out takes: at most so many overall, so many per address, and
so many subscriptions each. Checked where the set of clients lives (the broadcaster), so a
refusal names its close code and the counter it adds to."""

from __future__ import annotations

import collections
import dataclasses
from typing import Literal

from candlecast.http.close_codes import CloseCode

RefusalCounter = Literal["server_full", "per_address", "subscriptions"]


@dataclasses.dataclass(frozen=True)
class Refusal:
    counter: RefusalCounter
    code: CloseCode
    reason: str


class Admission:
    def __init__(self, *, max_clients: int, max_clients_per_address: int, max_subscriptions: int) -> None:
        self._max_clients = max_clients
        self._max_per_address = max_clients_per_address
        self.max_subscriptions = max_subscriptions
        self._peers: dict[int, str] = {}  # client -> its address, in order of arrival
        self._per_address: collections.Counter[str] = collections.Counter()

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, client_id: int) -> bool:
        return client_id in self._peers

    def clients(self) -> list[int]:
        """Every client taken, oldest first."""
        return list(self._peers)

    def admit(self, client_id: int, peer: str, subscriptions: int) -> Refusal | None:
        """Take the client in, or say why not (it is counted with the others it is measured against)."""
        self._peers[client_id] = peer
        self._per_address[peer] += 1
        refusal = self._refusal(peer, subscriptions)
        if refusal is not None:
            self.leave(client_id)
        return refusal

    def leave(self, client_id: int) -> None:
        peer = self._peers.pop(client_id, None)
        if peer is None:
            return
        self._per_address[peer] -= 1
        if not self._per_address[peer]:
            del self._per_address[peer]

    def too_many_subscriptions(self, subscriptions: int) -> bool:
        return subscriptions > self.max_subscriptions

    def _refusal(self, peer: str, subscriptions: int) -> Refusal | None:
        if len(self._peers) > self._max_clients:
            return Refusal("server_full", CloseCode.TRY_AGAIN_LATER, f"server full: {self._max_clients} clients")
        if self._per_address[peer] > self._max_per_address:
            reason = f"too many connections from this address (limit {self._max_per_address})"
            return Refusal("per_address", CloseCode.POLICY_VIOLATION, reason)
        if self.too_many_subscriptions(subscriptions):
            return Refusal(
                "subscriptions", CloseCode.POLICY_VIOLATION, f"too many subscriptions (limit {self.max_subscriptions})"
            )
        return None
