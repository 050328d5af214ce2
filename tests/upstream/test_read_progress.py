"""ReadProgress: a reader that finds more waiting in its socket after a read tells the clock
the second it is reading, again when that second changes or half a second on; its first read
after which nothing waits says it is no longer behind."""

from __future__ import annotations

from decimal import Decimal

from candlecast.market_data import Trade
from candlecast.messages.clock import ReaderBehind
from candlecast.upstream.read_progress import REPEAT_S, ReadProgress

READING = frozenset({"A", "B"})


def trades(*times_ms: int) -> list[Trade]:
    return [Trade("A", index, Decimal("1"), Decimal("1"), time_ms, False) for index, time_ms in enumerate(times_ms)]


def test_a_reader_keeping_up_tells_the_clock_nothing() -> None:
    progress = ReadProgress("upstream-1.1", grace_ms=0)
    for step in range(5):
        assert progress.after_read(False, trades(1_000 + step * 300), now=step * 0.3, reading=READING) is None
    assert progress.open_from == 2


def test_a_reader_behind_tells_the_second_it_reads_until_it_catches_up() -> None:
    progress = ReadProgress("upstream-1.1", grace_ms=0)
    assert progress.after_read(True, trades(7_100, 7_300), now=1.0, reading=READING) == ReaderBehind(
        "upstream-1.1", 7, READING
    )
    assert progress.after_read(True, trades(7_600), now=1.1, reading=READING) is None
    assert progress.after_read(True, [], now=1.0 + REPEAT_S, reading=READING) == ReaderBehind(
        "upstream-1.1", 7, READING
    ), "said again"
    assert progress.after_read(True, trades(8_050), now=1.6, reading=READING) == ReaderBehind(
        "upstream-1.1", 8, READING
    )
    assert progress.after_read(True, trades(7_999), now=1.7, reading=READING) is None, (
        "a straggler does not move it back"
    )
    assert progress.after_read(False, trades(8_400), now=1.8, reading=READING) == ReaderBehind("upstream-1.1", None)
    assert progress.after_read(False, trades(8_500), now=1.9, reading=READING) is None
    assert progress.open_from == 8


def test_a_reader_behind_before_any_trade_says_nothing() -> None:
    assert ReadProgress("upstream-1.1", grace_ms=0).after_read(True, [], now=0.0, reading=READING) is None


def test_the_grace_period_counts_in_the_time_read() -> None:
    """Read up to 8.1 s with 250 ms of grace: second 7 still waits for stragglers, as it would
    for the clock's timer at 8.1 s."""
    progress = ReadProgress("upstream-1.1", grace_ms=250)
    assert progress.after_read(True, trades(8_100), now=1.0, reading=READING) == ReaderBehind(
        "upstream-1.1", 7, READING
    )
    assert progress.after_read(True, trades(8_249), now=1.1, reading=READING) is None
    assert progress.after_read(True, trades(8_250), now=1.2, reading=READING) == ReaderBehind(
        "upstream-1.1", 8, READING
    )
