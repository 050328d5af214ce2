"""GET /candles/{symbol} through Falcon's test client (and once through a real waitress server),
reading a real SQLite candle store in a temporary directory and asking real actors (a registry
reading the simulator) which symbols are subscribed. Every answer is checked against the candles
written: 1 s candles as stored, other intervals as ``roll_up`` folds them, pages joined end to
end, CSV and JSON value for value."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import random
import re
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import msgspec
import pykka
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candlecast.history.intervals import DAY_MS, HOUR_MS, INTERVALS, MINUTE_MS
from candlecast.history.rollup import roll_up
from candlecast.history.sqlite import SqliteStore
from candlecast.http import encoding, errors
from candlecast.http.history import CSV_COLUMNS, CSV_ROWS_PER_CHUNK, HistoryResource
from candlecast.http.history_params import MAX_LIMIT, Param, encode_cursor
from candlecast.http.middleware import RateLimit
from candlecast.http.resources import Actors
from candlecast.http.waitress_thread import WaitressThread
from candlecast.market_data import Candle
from candlecast.sim import Simulator
from candlecast.system import start_core
from tests.clients import request
from tests.conftest import settings_for

SYMBOL = "BTCUSDT"
QUIET = "ETHUSDT"  # subscribed, nothing stored
STORED_ONLY = "SOLUSDT"  # stored, not subscribed
MIDNIGHT_MS = 1_796_515_200_000  # 2026-12-06T00:00:00Z
DENSE = range(MIDNIGHT_MS, MIDNIGHT_MS + 600_000, 1000)  # ten minutes, every second
SPARSE = range(MIDNIGHT_MS - 3 * DAY_MS + 500_000, MIDNIGHT_MS, 7000)  # three days before, every 7th second


def candle_at(symbol: str, open_time: int, rng: random.Random) -> Candle:
    low = Decimal(rng.randrange(4_200_000, 4_400_000)) / 100
    units = rng.randrange(1, 10**9)
    volume = Decimal(units) / 10**8
    taker = Decimal(rng.randrange(0, units + 1)) / 10**8
    return Candle(
        symbol=symbol,
        open_time=open_time,
        close_time=open_time + 999,
        open=low + Decimal("0.07"),
        high=low + Decimal(rng.randrange(7, 5000)) / 100,
        low=low,
        close=low + Decimal("0.01"),
        volume=volume,
        quote_volume=volume * low,
        trades=rng.randrange(1, 50),
        taker_buy_volume=taker,
        taker_buy_quote_volume=taker * low,
        first_trade_id=open_time // 10,
        last_trade_id=open_time // 10 + 5,
        revision=rng.randrange(0, 3),
        complete=rng.random() > 0.1,
    )


def written(symbol: str, times: Sequence[int] | range, seed: int = 1) -> list[Candle]:
    rng = random.Random(seed)
    return [candle_at(symbol, open_time, rng) for open_time in sorted(set(times))]


STORED = written(SYMBOL, [*SPARSE, *DENSE])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    kept = SqliteStore(tmp_path_factory.mktemp("history") / "candles.db")
    assert kept.write(STORED) == []
    assert kept.write(written(STORED_ONLY, DENSE)) == []
    yield kept
    kept.close()


def history_app(
    actors: Actors, store: SqliteStore, rate_limit: str = ""
) -> falcon.App[falcon.Request, falcon.Response]:
    app = falcon.App(middleware=[RateLimit(rate_limit)] if rate_limit else [])
    errors.install(app)
    app.add_route("/candles/{symbol}", HistoryResource(actors=actors, store=store))
    return app


@pytest.fixture
def actors(simulator: Simulator) -> Iterator[Actors]:
    started: list[pykka.ActorRef[Any]] = []
    core = start_core(settings_for(simulator, symbols=(SYMBOL, QUIET)), started)
    yield core.actors
    for ref in reversed(started):
        ref.stop()
    core.history.close()


@pytest.fixture
def client(actors: Actors, store: SqliteStore) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(history_app(actors, store))


def get(client: falcon.testing.TestClient, symbol: str = SYMBOL, **params: Any) -> falcon.testing.Result:
    return client.simulate_get(f"/candles/{symbol}", params=params)


def exact(result: falcon.testing.Result) -> dict[str, Any]:
    """The JSON body with every number read as Decimal, as written."""
    assert result.status_code == 200, result.text
    body: dict[str, Any] = json.loads(result.text, parse_float=Decimal)
    return body


def as_json(candles: Sequence[Candle]) -> list[dict[str, Any]]:
    return [json.loads(encoding.candle_json(candle), parse_float=Decimal) for candle in candles]


def opening_in(candles: Sequence[Candle], start_ms: int, end_ms: int) -> list[Candle]:
    return [candle for candle in candles if start_ms <= candle.open_time <= end_ms]


def bars(interval: str, start_ms: int, end_ms: int, offset_ms: int = 0) -> list[Candle]:
    """Every bar of ``interval`` opening in [start_ms, end_ms], each folded from all its seconds."""
    folded = roll_up(STORED, INTERVALS[interval], offset_ms)
    return opening_in(folded, start_ms, end_ms)


def error_of(result: falcon.testing.Result, status: int) -> dict[str, Any]:
    assert result.status_code == status, result.text
    body: dict[str, Any] = result.json
    assert set(body) == {"error", "detail"}
    return body


def test_without_parameters_the_newest_60_seconds_as_before(client: falcon.testing.TestClient) -> None:
    body = exact(get(client, symbol="btcusdt"))
    assert body == {
        "symbol": SYMBOL,
        "interval": "1s",
        "count": 60,
        "candles": as_json(STORED[-60:]),
        "cursor": None,
    }
    assert exact(get(client, limit="3"))["candles"] == as_json(STORED[-3:])


def test_a_subscribed_symbol_with_nothing_stored_has_no_candles(client: falcon.testing.TestClient) -> None:
    assert exact(get(client, symbol=QUIET)) == {
        "symbol": QUIET,
        "interval": "1s",
        "count": 0,
        "candles": [],
        "cursor": None,
    }


def test_a_symbol_not_subscribed_is_404_even_with_history_and_a_bad_one_400(client: falcon.testing.TestClient) -> None:
    assert error_of(get(client, symbol=STORED_ONLY), 404)["error"] == "Not subscribed"
    assert error_of(get(client, symbol="A" * 100), 400)["error"] == "Invalid symbol"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (str(MIDNIGHT_MS + 5000), str(MIDNIGHT_MS + 20_000)),
        ("2026-12-06T00:00:05Z", "2026-12-06T00:00:20.000Z"),
        ("2026-12-06T00:00:05", "2026-12-06 00:00:20"),
        ("2026-12-06T01:00:05+01:00", "2026-12-05T19:00:20-05:00"),
    ],
)
def test_start_and_end_are_inclusive_in_epoch_ms_or_iso_8601(
    client: falcon.testing.TestClient, start: str, end: str
) -> None:
    body = exact(get(client, start=start, end=end))
    assert body["candles"] == as_json(opening_in(STORED, MIDNIGHT_MS + 5000, MIDNIGHT_MS + 20_000))
    assert body["count"] == 16 and body["cursor"] is None


@pytest.mark.parametrize("end_ms", [MIDNIGHT_MS + 100_500, MIDNIGHT_MS - HOUR_MS])
def test_end_alone_gives_the_seconds_stored_in_the_last_limit_up_to_it(
    client: falcon.testing.TestClient, end_ms: int
) -> None:
    body = exact(get(client, end=str(end_ms), limit="60"))
    expected = opening_in(STORED, end_ms - end_ms % 1000 - 59_000, end_ms)
    assert body["candles"] == as_json(expected) and 0 < len(expected) <= 60


@dataclasses.dataclass(frozen=True)
class Bars:
    """Bars of ``interval`` opening in [start_ms, end_ms], asked with ``tz`` (``offset_ms`` from UTC)."""

    interval: str
    start_ms: int
    end_ms: int
    tz: str | None = None
    offset_ms: int = 0


@pytest.mark.parametrize(
    "case",
    [
        Bars("1m", MIDNIGHT_MS, MIDNIGHT_MS + 9 * MINUTE_MS),
        Bars("1m", MIDNIGHT_MS + 1, MIDNIGHT_MS + 5 * MINUTE_MS + 1),  # starts with the first whole minute
        Bars("5m", MIDNIGHT_MS - 3 * HOUR_MS, MIDNIGHT_MS + HOUR_MS),
        Bars("1h", MIDNIGHT_MS - DAY_MS, MIDNIGHT_MS, "5:30", 5 * HOUR_MS + 30 * MINUTE_MS),
        Bars("4h", MIDNIGHT_MS - 2 * DAY_MS, MIDNIGHT_MS + DAY_MS, "-03:45", -(3 * HOUR_MS + 45 * MINUTE_MS)),
        Bars("1d", MIDNIGHT_MS - 2 * DAY_MS, MIDNIGHT_MS + DAY_MS, "8", 8 * HOUR_MS),
        Bars("3d", MIDNIGHT_MS - 3 * DAY_MS, MIDNIGHT_MS + DAY_MS),
        Bars("1w", MIDNIGHT_MS - 6 * DAY_MS, MIDNIGHT_MS + DAY_MS),  # from Monday 2026-11-30
        Bars("1M", MIDNIGHT_MS - 10 * DAY_MS, MIDNIGHT_MS, "-12", -12 * HOUR_MS),
    ],
    ids=repr,
)
def test_every_interval_is_whole_bars_rolled_up_from_the_seconds_in_utc_or_the_time_zone(
    client: falcon.testing.TestClient, case: Bars
) -> None:
    params = {"interval": case.interval, "start": str(case.start_ms), "end": str(case.end_ms), "limit": "1000"}
    body = exact(get(client, **params, **({} if case.tz is None else {"tz": case.tz})))
    expected = bars(case.interval, case.start_ms, case.end_ms, case.offset_ms)
    assert expected and body["candles"] == as_json(expected)
    assert body["interval"] == case.interval


def test_without_a_start_the_last_limit_bars_up_to_the_newest_candle(client: falcon.testing.TestClient) -> None:
    newest = STORED[-1].open_time
    body = exact(get(client, interval="1h", limit="5"))
    expected = bars("1h", newest - newest % HOUR_MS - 4 * HOUR_MS, newest)
    assert len(expected) == 5 and body["candles"] == as_json(expected)


def follow(client: falcon.testing.TestClient, first: falcon.testing.Result) -> Iterator[dict[str, Any]]:
    """Every page from ``first`` on, by the Link header, checking the cursor says the same."""
    result = first
    for _ in range(1000):
        body = exact(result)
        yield body
        link = result.headers.get("link")
        if body["cursor"] is None:
            assert link is None
            return
        match = re.fullmatch(r'<(/candles/[A-Za-z]+)\?([^>]*)>; rel="next"', link or "")
        assert match is not None, link
        assert f"cursor={body['cursor']}" in match[2]
        result = client.simulate_get(match[1], query_string=match[2])
    raise AssertionError("pages never ended")


@pytest.mark.parametrize(
    ("case", "limit"),
    [
        (Bars("1s", MIDNIGHT_MS - 5000, MIDNIGHT_MS + 599_000), 100),
        (Bars("1s", MIDNIGHT_MS + 1, MIDNIGHT_MS + 70_000), 7),  # the last page is full and the last one
        (Bars("1m", MIDNIGHT_MS - DAY_MS, MIDNIGHT_MS + 5 * MINUTE_MS), 50),
    ],
    ids=repr,
)
def test_pages_joined_are_the_whole_answer_without_a_gap_or_a_repeat(
    client: falcon.testing.TestClient, case: Bars, limit: int
) -> None:
    first = get(
        client, interval=case.interval, limit=str(limit), start=str(case.start_ms), end=str(case.end_ms), other="kept"
    )
    assert "other=kept" in first.headers["link"], "a parameter not read is passed on"
    pages = list(follow(client, first))
    assert len(pages) > 2
    assert all(page["count"] == limit for page in pages[:-1])
    joined = [candle for page in pages for candle in page["candles"]]
    assert joined == as_json(bars(case.interval, case.start_ms, case.end_ms))


def test_an_open_ended_query_pages_up_to_the_newest_candle(client: falcon.testing.TestClient) -> None:
    start_ms = MIDNIGHT_MS + 400_000
    pages = list(follow(client, get(client, start=str(start_ms), limit="1000")))
    assert [page["candles"] for page in pages] == [as_json(opening_in(STORED, start_ms, STORED[-1].open_time))]


def test_a_cursor_stays_put_while_candles_are_written_and_revised(actors: Actors, tmp_path: Path) -> None:
    own = SqliteStore(tmp_path / "candles.db")
    first_half = written(SYMBOL, DENSE[:300])
    own.write(first_half)
    client = falcon.testing.TestClient(history_app(actors, own))
    page = exact(get(client, start=str(MIDNIGHT_MS), limit="100"))
    assert page["candles"] == as_json(first_half[:100])
    revised = [msgspec.structs.replace(c, close=c.close + 1, revision=c.revision + 5) for c in first_half[:150]]
    later = written(SYMBOL, DENSE[300:], seed=2)
    assert own.write([*revised, *later]) == []
    rest = [
        candle for body in follow(client, get(client, cursor=page["cursor"], limit="100")) for candle in body["candles"]
    ]
    own.close()
    assert rest == as_json([*revised[100:], *first_half[150:], *later])


DECIMAL_FIELDS = [name for name, kind in Candle.__annotations__.items() if kind == "Decimal"]


def test_csv_by_format_or_accept_has_a_header_and_the_exact_values(
    client: falcon.testing.TestClient, store: SqliteStore
) -> None:
    by_format = get(client, start=str(MIDNIGHT_MS), limit="20", format="csv")
    by_accept = client.simulate_get(
        f"/candles/{SYMBOL}", params={"start": str(MIDNIGHT_MS), "limit": "20"}, headers={"Accept": "text/csv"}
    )
    assert by_format.status_code == 200 and by_format.headers["content-type"].startswith("text/csv")
    assert by_accept.text == by_format.text
    rows = list(csv.reader(io.StringIO(by_format.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1:] == [csv_of(candle) for candle in store.candles(SYMBOL, MIDNIGHT_MS, MIDNIGHT_MS + 19_000, 20)]
    written_from_midnight = opening_in(STORED, MIDNIGHT_MS, MIDNIGHT_MS + 19_000)
    for row, candle in zip(rows[1:], written_from_midnight, strict=True):
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        assert all(Decimal(cells[name]) == getattr(candle, name) for name in DECIMAL_FIELDS), "exact, as written"
    link = by_format.headers["link"]
    assert "format=csv" in link and f"cursor={encode_cursor(MIDNIGHT_MS + 20_000)}" in link


def csv_of(candle: Candle) -> list[str]:
    """What a CSV row holds: the JSON members' values, decimals written out in full, and the
    source, which JSON leaves out when it is ``live``."""
    members = json.loads(encoding.candle_json(candle), parse_float=Decimal)
    timestamp = members.pop("timestamp")
    members.update(source=candle.source, timestamp=timestamp)
    assert list(members) == list(CSV_COLUMNS)
    cells = []
    for value in members.values():
        if isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, Decimal):
            cells.append(f"{value:f}")
        else:
            cells.append(str(value))
    return cells


def test_a_large_csv_is_streamed_and_a_small_one_is_not(client: falcon.testing.TestClient) -> None:
    small = get(client, limit=str(CSV_ROWS_PER_CHUNK), format="csv")
    large = get(client, interval="1s", start=str(MIDNIGHT_MS - DAY_MS), limit=str(MAX_LIMIT), format="csv")
    assert int(small.headers["content-length"]) == len(small.content)
    assert "content-length" not in large.headers
    assert len(large.text.splitlines()) == MAX_LIMIT + 1


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"interval": "2m"}, "interval"),
        ({"start": "yesterday"}, "start"),
        ({"end": "-5"}, "end"),
        ({"start": "2000", "end": "1000"}, "end"),
        ({"limit": "0"}, "limit"),
        ({"limit": str(MAX_LIMIT + 1)}, "limit"),
        ({"limit": ""}, "limit"),
        ({"tz": "25"}, "tz"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": encode_cursor(MIDNIGHT_MS), "start": "0"}, "cursor"),
        ({"format": "xlsx"}, "format"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    client: falcon.testing.TestClient, params: dict[str, str], param: str
) -> None:
    body = error_of(get(client, **params), 400)
    assert body["error"] == "Invalid parameter" and body["detail"].startswith(f"{param}: ")


def test_a_parameter_given_twice_is_400_naming_it(client: falcon.testing.TestClient) -> None:
    body = error_of(client.simulate_get(f"/candles/{SYMBOL}", query_string="limit=1&limit=2"), 400)
    assert body["detail"].startswith("limit: ")


def test_a_long_answer_counts_as_more_requests_against_the_rate_limit(actors: Actors, store: SqliteStore) -> None:
    client = falcon.testing.TestClient(history_app(actors, store, rate_limit="40/minute"))
    assert get(client, limit=str(MAX_LIMIT)).status_code == 200  # 1 + 3600 // 100 = 37
    assert get(client, limit="1").status_code == 200
    refused = error_of(get(client, limit=str(MAX_LIMIT)), 429)
    assert "counts as 37" in refused["detail"]


PARAM_NAMES: list[Param] = ["interval", "start", "end", "limit", "tz", "cursor", "format"]
VALUES = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-1, max_value=MIDNIGHT_MS + DAY_MS).map(str),
    st.sampled_from([*INTERVALS, "csv", "8", "-1:30", encode_cursor(MIDNIGHT_MS)]),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=60)
@given(params=st.dictionaries(st.one_of(st.sampled_from(PARAM_NAMES), st.text(max_size=5)), VALUES, max_size=4))
def test_any_query_is_answered_200_or_400_naming_a_parameter_given(
    client: falcon.testing.TestClient, params: dict[str, str]
) -> None:
    result = get(client, **params)
    if result.status_code == 400:
        detail = error_of(result, 400)["detail"]
        assert detail.split(": ", 1)[0] in params
    else:
        assert result.status_code == 200, result.text


def test_over_a_real_server_a_large_csv_arrives_chunked_and_whole(
    client: falcon.testing.TestClient, actors: Actors, store: SqliteStore
) -> None:
    """Served by waitress, whose worker threads read the store on connections of their own."""
    server = WaitressThread(app=history_app(actors, store), host="127.0.0.1", port=0, name="history-rest")
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/candles/{SYMBOL}?start={MIDNIGHT_MS - DAY_MS}&limit={MAX_LIMIT}"
        streamed = request("GET", url, headers={"Accept": "text/csv"})
        answered = request("GET", url)
    finally:
        server.stop()
    assert streamed.status == 200 and streamed.headers["transfer-encoding"] == "chunked"
    assert (
        streamed.body.decode() == get(client, start=str(MIDNIGHT_MS - DAY_MS), limit=str(MAX_LIMIT), format="csv").text
    )
    assert json.loads(answered.body, parse_float=Decimal)["candles"] == as_json(
        opening_in(STORED, MIDNIGHT_MS - DAY_MS, MIDNIGHT_MS + DAY_MS)[:MAX_LIMIT]
    )
