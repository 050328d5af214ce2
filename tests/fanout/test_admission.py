"""A client over the limit overall (1013), per address or in subscriptions (1008) is refused
and takes no place; one leaving frees its place and its address's."""

from __future__ import annotations

from candlecast.fanout.admission import Admission
from candlecast.http.close_codes import CloseCode


def admission() -> Admission:
    return Admission(max_clients=3, max_clients_per_address=2, max_subscriptions=4)


def test_a_client_past_the_limit_is_refused_as_server_full_and_takes_no_place() -> None:
    clients = admission()
    for client_id, peer in enumerate(("10.0.0.1", "10.0.0.2", "10.0.0.3")):
        assert clients.admit(client_id, peer, 1) is None
    refusal = clients.admit(3, "10.0.0.4", 1)
    assert refusal is not None and (refusal.counter, refusal.code) == ("server_full", CloseCode.TRY_AGAIN_LATER)
    assert refusal.reason == "server full: 3 clients"
    assert len(clients) == 3 and 3 not in clients
    clients.leave(0)
    assert clients.admit(3, "10.0.0.4", 1) is None
    assert clients.clients() == [1, 2, 3], "oldest first"


def test_an_address_past_its_share_is_refused_and_one_leaving_frees_it() -> None:
    clients = admission()
    assert clients.admit(1, "10.0.0.1", 1) is None
    assert clients.admit(2, "10.0.0.1", 1) is None
    refusal = clients.admit(3, "10.0.0.1", 1)
    assert refusal is not None and (refusal.counter, refusal.code) == ("per_address", CloseCode.POLICY_VIOLATION)
    assert refusal.reason == "too many connections from this address (limit 2)"
    clients.leave(1)
    clients.leave(1)  # told twice: once is what counts
    assert clients.admit(3, "10.0.0.1", 1) is None


def test_too_many_subscriptions_are_refused_on_connect_and_counted_on_subscribe() -> None:
    clients = admission()
    refusal = clients.admit(1, "10.0.0.1", 5)
    assert refusal is not None and (refusal.counter, refusal.code) == ("subscriptions", CloseCode.POLICY_VIOLATION)
    assert refusal.reason == "too many subscriptions (limit 4)"
    assert len(clients) == 0
    assert clients.too_many_subscriptions(5) and not clients.too_many_subscriptions(4)
