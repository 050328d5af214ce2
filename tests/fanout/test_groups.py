"""Clients with the same subscriptions and explicit flag share one group and one number; a frame
reaches each group wanting its (symbol, channel), or every symbol on its channel, exactly once,
gap events only groups that subscribed explicitly; checked against a look at every client."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from candlecast.fanout.frames import Outbound
from candlecast.fanout.groups import FanOut, SubscriptionGroups
from candlecast.fanout.subscriptions import ALL_SYMBOLS, CANDLE, TRADE, Channel, Pairs

SYMBOLS = ("BTCUSDT", "ETHUSDT", ALL_SYMBOLS)
CHANNELS: tuple[Channel, ...] = (CANDLE, TRADE)
CANDLES: Pairs = frozenset({("BTCUSDT", CANDLE), ("ETHUSDT", CANDLE)})


def frame(symbol: str, text: str = "x") -> Outbound:
    return Outbound(text.encode(), text, "candle", symbol)


def test_clients_with_the_same_subscriptions_share_a_group_and_its_frames_are_joined_once() -> None:
    groups = SubscriptionGroups()
    for client_id in (1, 2):
        groups.join(client_id, explicit=True)
    first, second = groups.move(1, CANDLES), groups.move(2, CANDLES)
    assert first == second is not None
    published = groups.frames_by_group([FanOut(CANDLE, frame("BTCUSDT", "a")), FanOut(CANDLE, frame("ETHUSDT", "b"))])
    assert [(p.group, [out.text for out in p.frames], p.joined) for p in published] == [(first, ["a", "b"], b"ab")]


def test_the_explicit_flag_makes_another_group_and_gap_events_skip_the_implicit_one() -> None:
    groups = SubscriptionGroups()
    groups.join(1, explicit=False)
    groups.join(2, explicit=True)
    implicit = groups.move(1, frozenset({(ALL_SYMBOLS, CANDLE)}))
    explicit = groups.move(2, frozenset({(ALL_SYMBOLS, CANDLE)}))
    assert implicit != explicit
    gap = groups.frames_by_group([FanOut(CANDLE, frame("BTCUSDT"), explicit_only=True)])
    assert [p.group for p in gap] == [explicit]


def test_a_group_left_empty_is_gone_and_comes_back_with_a_new_number() -> None:
    groups = SubscriptionGroups()
    groups.join(1, explicit=True)
    before = groups.move(1, CANDLES)
    again = groups.move(1, CANDLES)
    assert again is not None and again != before, "its writer must hear of the move"
    assert groups.move(1, frozenset()) is None and groups.group_of(1) is None
    assert not groups.wants("BTCUSDT", CANDLE)
    groups.leave(1)
    assert 1 not in groups


def test_a_group_naming_a_symbol_and_every_symbol_gets_a_frame_once() -> None:
    groups = SubscriptionGroups()
    groups.join(1, explicit=True)
    group = groups.move(1, frozenset({("BTCUSDT", TRADE), (ALL_SYMBOLS, TRADE)}))
    assert [p.group for p in groups.frames_by_group([FanOut(TRADE, frame("BTCUSDT"))])] == [group]
    assert set(groups.symbols_wanted(TRADE)) == {"BTCUSDT", ALL_SYMBOLS}
    assert not groups.frames_by_group([FanOut(CANDLE, frame("BTCUSDT"))])


pairs_strategy = st.frozensets(st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(CHANNELS)), max_size=4)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("join"), st.integers(0, 5), st.booleans()),
        st.tuples(st.just("move"), st.integers(0, 5), pairs_strategy, st.one_of(st.none(), st.booleans())),
        st.tuples(st.just("leave"), st.integers(0, 5)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    operations=operations,
    symbol=st.sampled_from(SYMBOLS[:-1]),
    channel=st.sampled_from(CHANNELS),
    explicit_only=st.booleans(),
)
def test_frames_reach_exactly_the_groups_a_look_at_every_client_finds(
    operations: list[tuple], symbol: str, channel: Channel, explicit_only: bool
) -> None:
    groups = SubscriptionGroups()
    clients: dict[int, tuple[Pairs, bool]] = {}  # the reference: every client's subscriptions and flag
    for operation in operations:
        client_id = operation[1]
        if operation[0] == "join" and client_id not in clients:
            groups.join(client_id, explicit=operation[2])
            clients[client_id] = (frozenset(), operation[2])
        elif operation[0] == "move" and client_id in clients:
            _, _, pairs, explicit = operation
            groups.move(client_id, pairs, explicit=explicit)
            clients[client_id] = (pairs, clients[client_id][1] if explicit is None else explicit)
        elif operation[0] == "leave":
            groups.leave(client_id)
            clients.pop(client_id, None)

    numbers = {client_id: groups.group_of(client_id) for client_id in clients}
    for client_id, (pairs, explicit) in clients.items():
        assert groups.subscriptions(client_id) == pairs and groups.explicit(client_id) == explicit
        assert (numbers[client_id] is None) == (not pairs)
        for other, key in clients.items():
            if pairs and key[0]:
                assert (numbers[client_id] == numbers[other]) == ((pairs, explicit) == key)

    def wanting(pairs: Pairs) -> bool:
        return (symbol, channel) in pairs or (ALL_SYMBOLS, channel) in pairs

    expected = {
        numbers[client_id]
        for client_id, (pairs, explicit) in clients.items()
        if wanting(pairs) and (explicit or not explicit_only)
    }
    published = groups.frames_by_group([FanOut(channel, frame(symbol), explicit_only)])
    assert sorted(p.group for p in published) == sorted(expected), "each wanting group once, no other"
    assert groups.wants(symbol, channel) == any(wanting(pairs) for pairs, _ in clients.values())
