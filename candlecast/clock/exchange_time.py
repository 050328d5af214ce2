"""The exchange's clock as best known here: the monotonic clock plus a measured offset.

Built on the monotonic clock, so a step of the machine's wall clock moves nothing; the offset
starts as the wall clock's and is then measured against ``/api/v3/time``. Any thread may read
it; only the clock actor replaces ``offset_ms`` (an int, replaced whole, never mutated), and
only with a reading ``refusal`` finds believable, and sets ``known`` once it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

NS_PER_MS = 1_000_000
# Past this, when in the request the exchange made its answer is too uncertain to use.
MAX_ROUND_TRIP_MS = 1000
# How far a reading may put the exchange's clock behind what its trades show (they cannot have
# been made after they were read): the measurements' own error.
TRADES_SLACK_MS = 1000


class ExchangeTime:
    def __init__(
        self,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._monotonic_ns = monotonic_ns
        self._wall_ns = wall_ns
        self.offset_ms = self.wall_offset_ms()
        # Set once the offset is known (a reading used, or the trades agreeing with the one in
        # use): what is decided on this clock and cannot be taken back waits for it.
        self.known = threading.Event()

    def now_ms(self) -> int:
        """The exchange's current time, epoch milliseconds."""
        return self._monotonic_ns() // NS_PER_MS + self.offset_ms

    def monotonic_ms(self) -> int:
        return self._monotonic_ns() // NS_PER_MS

    def wall_offset_ms(self) -> int:
        """What the offset would be if the wall clock were the exchange's: wall minus monotonic."""
        return (self._wall_ns() - self._monotonic_ns()) // NS_PER_MS


def refusal(
    *,
    skew_ms: int,
    round_trip_ms: int,
    last_skew_ms: int | None,
    max_skew_ms: int,
    trades_lead_ms: int | None = None,
) -> str | None:
    """Why a reading of the exchange's clock must not be used, or None to use it.

    ``skew_ms`` is the exchange's clock minus the local wall clock by this reading, and
    ``last_skew_ms`` by the last reading used. Judged against the wall clock, not the monotonic
    one: the monotonic clock stands still while the machine is suspended, and the reading
    after a suspend must be usable. Where the trades streaming tell the exchange's clock too,
    ``trades_lead_ms`` is how far ahead of them this reading puts it, and the reading is judged
    by them instead of by the local clock: two sources of the exchange agreeing outweigh a
    local clock that is off.
    """
    if round_trip_ms > MAX_ROUND_TRIP_MS:
        return "round trip too long"
    if trades_lead_ms is not None:
        if not -TRADES_SLACK_MS <= trades_lead_ms <= max_skew_ms:
            return "not the time the trades show"
    elif abs(skew_ms) > max_skew_ms:
        return "too far from the local clock"
    if last_skew_ms is not None and abs(skew_ms - last_skew_ms) > max_skew_ms:
        return "too far from the last reading used"
    return None
