"""What only the PostgreSQL engine does: NUMERIC holds values no scaled integer can, duplicate keys
in one batch fold to the highest revision, retention drops whole daily partitions, the postgres_store finds
its data again after a restart or a lost connection, and a postgresql:// ``--db`` opens it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import hypothesis.strategies as st
import msgspec
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

from candlecast.history.engines import open_store
from candlecast.history.intervals import DAY_MS, INTERVALS, MINUTE_MS
from candlecast.history.postgres import PIECE_COLUMNS, PostgresStore
from candlecast.history.rollup import roll_up
from candlecast.history.store import SOURCE_ORDER, KlineQuery
from candlecast.market_data import Candle
from tests.clients import wait_for
from tests.history.seconds import NEAR_NEW_YEAR_MS, second

DAY = NEAR_NEW_YEAR_MS // DAY_MS * DAY_MS  # 2026-12-31 00:00 UTC
FAR_FUTURE_MS = 2**53


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[PostgresStore]:
    """A PostgresStore on a fresh database, for what the contract tests of every engine leave out."""
    opened = PostgresStore(postgres_url)
    yield opened
    opened.close()


def partitions(postgres_url: str) -> list[str]:
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'candles'::regclass ORDER BY c.relname"
        )
        return [name for (name,) in rows]


def test_numeric_holds_values_no_scaled_integer_can(postgres_store: PostgresStore) -> None:
    huge = second(
        DAY,
        prices=("0.000000000000000000000000000001", "1" + "0" * 40, "0.000000000000000000000000000001", "1.5"),
        volume="123456789012345678901234567890.123456789012345678901234567890",
        quote_volume="9" * 50 + "." + "9" * 30,
        trades=2**62,
        taker=("9223372036854775808", "0.00000000000000000000000000000000000001"),
        trade_ids=(2**63 - 2, 2**63 - 1),
    )
    more = second(DAY + 1000, volume="0.000000000000000000000000000010", quote_volume="0." + "0" * 29 + "1")
    assert postgres_store.write([huge, more]) == []
    assert postgres_store.candles("BTCUSDT", DAY, DAY + 1000, 10) == [huge, more]
    (minute,) = postgres_store.klines(KlineQuery("BTCUSDT", INTERVALS["1m"], DAY, DAY + 1000, 10))
    assert minute.volume == Decimal("123456789012345678901234567890.123456789012345678901234567900")
    assert minute.quote_volume == Decimal("1" + "0" * 50)
    assert (minute.high, minute.low) == (Decimal("1" + "0" * 40), Decimal("0.000000000000000000000000000001"))


def test_duplicate_keys_in_one_batch_keep_the_highest_revision_and_the_batch_goes_in(
    postgres_store: PostgresStore,
) -> None:
    postgres_store.write([second(DAY + 5000, revision=4, volume="4")])
    batch = [
        second(DAY, revision=1, volume="1"),
        second(DAY, revision=3, volume="3"),
        second(DAY, revision=2, volume="2"),
        second(DAY, revision=3, volume="33"),  # the same revision again replaces nothing
        second(DAY + 5000, revision=2, volume="2"),  # older than the stored one
        second(DAY + 5000, revision=2, volume="22"),
        second(DAY + 6000),
    ]
    assert postgres_store.write(batch) == []
    stored = postgres_store.candles("BTCUSDT", DAY, DAY + 6000, 10)
    assert [(c.open_time - DAY, c.revision, c.volume) for c in stored] == [(0, 3, 3), (5000, 4, 4), (6000, 0, 1)]


def test_retention_drops_whole_old_days_and_deletes_within_the_cutoff_day(
    postgres_store: PostgresStore, postgres_url: str
) -> None:
    days = [DAY - 2 * DAY_MS, DAY - DAY_MS, DAY]
    postgres_store.write(
        [second(day + i * 1000, symbol=symbol) for day in days for i in range(3) for symbol in ("A", "B")]
    )
    assert partitions(postgres_url) == ["candles_20261229", "candles_20261230", "candles_20261231"]
    assert postgres_store.delete_before(DAY + 1000, 100) == 2 * 6 + 2
    assert partitions(postgres_url) == ["candles_20261231"]
    assert [c.open_time for c in postgres_store.candles("A", 0, FAR_FUTURE_MS, 10)] == [DAY + 1000, DAY + 2000]
    assert postgres_store.delete_before(DAY + 1000, 100) == 0
    postgres_store.write([second(DAY - DAY_MS)])  # a day whose partition went is made again
    assert postgres_store.candles("BTCUSDT", 0, FAR_FUTURE_MS, 10) == [second(DAY - DAY_MS)]


def test_a_whole_old_day_goes_at_once_however_many_it_holds(postgres_store: PostgresStore, postgres_url: str) -> None:
    postgres_store.write([second(DAY - 2 * DAY_MS), *(second(DAY - DAY_MS + i * 1000) for i in range(5)), second(DAY)])
    assert postgres_store.delete_before(DAY, 2) == 1 + 5, "the day that reached the batch size still went whole"
    assert partitions(postgres_url) == ["candles_20261231"]
    assert postgres_store.delete_before(DAY, 2) == 0
    assert postgres_store.candles("BTCUSDT", 0, FAR_FUTURE_MS, 10) == [second(DAY)]


def stored_minutes(postgres_url: str, symbol: str) -> list[Candle]:
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute(
            f"SELECT {PIECE_COLUMNS} FROM minutes JOIN symbols ON symbols.id = symbol_id"
            " WHERE name = %s ORDER BY open_time",
            [symbol],
        )
        return [
            Candle(symbol, open_time, open_time + MINUTE_MS - 1, *values[:-1], SOURCE_ORDER[values[-1]])
            for open_time, *values in rows
        ]


@st.composite
def seconds_around_midnight(draw: st.DrawFn) -> list[Candle]:
    """Revisions of seconds in the three minutes around a midnight, in the order they are written."""
    candles = []
    for offset in draw(st.lists(st.integers(-90, 89), min_size=1, max_size=25, unique=True)):
        revisions = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True))
        for revision in revisions:
            low, high = sorted(
                draw(st.lists(st.sampled_from(["1", "2.5", "3", "0.001"]), min_size=2, max_size=2)), key=Decimal
            )
            traded = draw(st.one_of(st.just((-1, -1)), st.tuples(st.integers(0, 99), st.integers(100, 199))))
            trades = draw(st.integers(0, 2))  # a quiet second (no trades) is flat at one price
            candles.append(
                second(
                    DAY + offset * 1000,
                    prices=(low, high, low, high) if trades else (low,) * 4,
                    trades=trades,
                    volume=draw(st.sampled_from(["0", "1.5", "0.00000001"])),
                    trade_ids=traded,
                    revision=revision,
                    complete=draw(st.booleans()),
                    source=draw(st.sampled_from(SOURCE_ORDER)),
                )
            )
    return draw(st.permutations(candles))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    written=seconds_around_midnight(),
    shape=st.tuples(st.integers(1, 10), st.integers(-100, 100), st.integers(1, 10)),
)
def test_the_minutes_table_is_the_roll_up_of_the_stored_seconds_whatever_the_order(
    postgres_store: PostgresStore, postgres_url: str, written: list[Candle], shape: tuple[int, int, int]
) -> None:
    batch, cutoff, most = shape
    postgres_store.delete_before(FAR_FUTURE_MS, 10**9)  # the store outlives each example
    for start in range(0, len(written), batch):
        postgres_store.write(written[start : start + batch])
    seconds = postgres_store.candles("BTCUSDT", 0, FAR_FUTURE_MS, 1000)
    assert stored_minutes(postgres_url, "BTCUSDT") == roll_up(seconds, INTERVALS["1m"])
    postgres_store.delete_before(DAY + cutoff * 1000, most)
    seconds = postgres_store.candles("BTCUSDT", 0, FAR_FUTURE_MS, 1000)
    assert stored_minutes(postgres_url, "BTCUSDT") == roll_up(seconds, INTERVALS["1m"]), "after retention"


def test_values_beyond_numeric_or_bigint_come_back_unkept(postgres_store: PostgresStore) -> None:
    plain = second(DAY)
    unholdable = [
        second(DAY + 1000, volume="NaN"),
        second(DAY + 2000, quote_volume="Infinity"),
        second(DAY + 3000, volume="1E+131072"),  # 131,073 digits before the point
        second(DAY + 4000, quote_volume="1E-16384"),  # 16,384 after it
        second(DAY + 5000, trade_ids=(2**63, 2**63)),
        second(DAY + 6000, trades=-(2**63) - 1),
    ]
    beyond_year_9999 = second(253_402_300_800_000)
    assert postgres_store.write([plain, *unholdable, beyond_year_9999]) == [*unholdable, beyond_year_9999]
    assert postgres_store.candles("BTCUSDT", 0, 2**62, 10) == [plain]


def test_a_small_limit_over_a_long_sparse_range_finds_every_bar(postgres_store: PostgresStore) -> None:
    seconds = [second(DAY - 300 * DAY_MS), second(DAY - 40 * DAY_MS + 7000), second(DAY), second(DAY + 1000)]
    postgres_store.write(seconds)
    query = KlineQuery("BTCUSDT", INTERVALS["1s"], 0, FAR_FUTURE_MS, 3)
    assert postgres_store.klines(query) == seconds[:3]
    assert postgres_store.klines(msgspec.structs.replace(query, limit=10)) == seconds


def test_seconds_stored_off_whole_seconds_share_their_1s_bar(postgres_store: PostgresStore) -> None:
    seconds = [second(DAY + 200, volume="1"), second(DAY + 700, volume="2"), second(DAY + 1000, volume="4")]
    postgres_store.write(seconds)
    for offset_ms, volumes in ((0, [3, 4]), (300, [1, 6])):
        query = KlineQuery("BTCUSDT", INTERVALS["1s"], 0, FAR_FUTURE_MS, 10, offset_ms)
        assert postgres_store.klines(query) == roll_up(seconds, INTERVALS["1s"], offset_ms)
        assert [bar.volume for bar in postgres_store.klines(query)] == volumes


def test_a_store_opened_again_finds_its_candles_symbols_and_partitions(postgres_url: str) -> None:
    first = PostgresStore(postgres_url)
    first.write([second(DAY - DAY_MS), second(DAY)])
    first.save_symbols(["BTCUSDT", "ETHUSDT"])
    first.close()
    again = PostgresStore(postgres_url)
    try:
        assert again.candles("BTCUSDT", 0, FAR_FUTURE_MS, 10) == [second(DAY - DAY_MS), second(DAY)]
        assert again.symbols() == ("BTCUSDT", "ETHUSDT")
        assert again.delete_before(DAY, 10) == 1
        assert partitions(postgres_url) == ["candles_20261231"]
        again.write([second(DAY, revision=1, volume="2")])
        assert again.newest("BTCUSDT", 10) == [second(DAY, revision=1, volume="2")]
    finally:
        again.close()


def connections_to(postgres_url: str) -> int:
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        ).fetchone()
        assert row is not None
        return int(row[0])


def test_close_closes_the_connection_of_every_thread(postgres_store: PostgresStore, postgres_url: str) -> None:
    readers = [
        threading.Thread(target=postgres_store.newest, args=("BTCUSDT", 1), name=f"reader-{i}") for i in range(3)
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(timeout=30)
    assert connections_to(postgres_url) == 4
    postgres_store.close()
    wait_for(lambda: connections_to(postgres_url) == 0)  # each server process ends soon after its client


def test_a_lost_connection_is_opened_again_on_the_next_call(postgres_store: PostgresStore, postgres_url: str) -> None:
    postgres_store.write([second(DAY)])
    with psycopg.connect(postgres_url) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(psycopg.OperationalError):
        postgres_store.newest("BTCUSDT", 1)
    postgres_store.write([second(DAY + 1000)])
    assert postgres_store.newest("BTCUSDT", 5) == [second(DAY), second(DAY + 1000)]


@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])
def test_a_postgresql_url_opens_this_engine_and_leaves_the_data_directory_alone(
    postgres_url: str, tmp_path: Path, scheme: str
) -> None:
    opened = open_store(postgres_url.replace("postgresql://", scheme), tmp_path / "data")
    try:
        assert isinstance(opened, PostgresStore)
        assert opened.write([second(DAY)]) == []
    finally:
        opened.close()
    assert not tmp_path.joinpath("data").exists()
