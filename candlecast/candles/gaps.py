"""The gaps of one symbol: trade-id ranges that may be missing, and the seconds they touch.

A gap opens when a hole in the ids outlives a clock tick or the stream is interrupted; it closes
as recovered once every id has arrived, or as unrecoverable when the backfill gives up, which
keeps its candles flagged incomplete. Pure data: it lives inside one aggregator.
"""

from __future__ import annotations

from typing import Final

from candlecast.market_data import GapEvent, GapKind

OPENED: Final = "gap"
RECOVERED: Final = "recovered"
UNRECOVERABLE: Final = "unrecoverable"


class Gap:
    __slots__ = ("after_time", "first_id", "from_second", "last_id", "requested", "to_second")

    def __init__(self, *, first_id: int, last_id: int | None, from_second: int, to_second: int | None, after_time: int):
        self.first_id = first_id
        self.last_id = last_id  # None: open-ended, the stream was interrupted
        self.from_second = from_second
        self.to_second = to_second
        self.after_time = after_time  # time of the last trade before the gap
        self.requested = False  # a backfill was asked for

    def touches(self, second: int) -> bool:
        return second >= self.from_second and (self.to_second is None or second <= self.to_second)

    def contains(self, first_id: int, last_id: int) -> bool:
        return self.first_id <= first_id and (self.last_id is None or last_id <= self.last_id)

    def event(self, symbol: str, kind: GapKind, detail: str = "") -> GapEvent:
        return GapEvent(
            symbol=symbol,
            kind=kind,
            first_trade_id=self.first_id,
            last_trade_id=self.last_id,
            from_time=self.from_second * 1000,
            to_time=None if self.to_second is None else self.to_second * 1000 + 999,
            detail=detail,
        )


class GapBook:
    __slots__ = ("abandoned", "open", "opened", "recovered", "unrecoverable")

    def __init__(self) -> None:
        self.open: list[Gap] = []
        self.abandoned: list[Gap] = []
        self.opened = self.recovered = self.unrecoverable = 0

    def touches(self, second: int) -> bool:
        return any(gap.touches(second) for gap in self.open) or any(gap.touches(second) for gap in self.abandoned)

    def knows(self, first_id: int, last_id: int) -> bool:
        return any(gap.contains(first_id, last_id) for gap in self.open)

    def find(self, first_id: int) -> Gap | None:
        return next((gap for gap in self.open if gap.first_id == first_id), None)

    def add(self, gap: Gap) -> None:
        self.open.append(gap)
        self.opened += 1

    def close(self, gap: Gap, recovered: bool) -> None:
        self.open.remove(gap)
        if recovered:
            self.recovered += 1
        else:
            self.abandoned.append(gap)
            self.unrecoverable += 1

    def forget_before(self, second: int) -> None:
        """Abandoned gaps whose candles are no longer kept stop flagging."""
        self.abandoned = [gap for gap in self.abandoned if gap.to_second is None or gap.to_second >= second]

    def stats(self) -> dict[str, int]:
        return {
            "opened": self.opened,
            "recovered": self.recovered,
            "unrecoverable": self.unrecoverable,
            "open": len(self.open),
        }
