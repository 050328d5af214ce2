"""One WebSocket client as its writer sees it (``Outbox``): the writing half of its socket, a
bounded backlog, and the policy for a client that reads slower than it is sent to. Writes never
block, so one slow client never delays the others; only its writer's thread touches an Outbox.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import socket
from collections.abc import Callable, Sequence

from wsproto.frame_protocol import FrameProtocol

from candlecast.fanout.frames import FrameKind, Outbound
from candlecast.http import encoding
from candlecast.http.close_codes import CloseCode
from candlecast.market_data import Candle

HARD_LIMIT_FACTOR = 4
CLOSE_GRACE_S = 5.0  # how long a closing client may take to drain before the socket is cut
# What waits is written together, up to this much a system call: written a frame at a time, a
# client that fell behind cost a call per frame, so it caught up slower than it was sent to.
WRITE_BYTES = 16384
REPLAY_CHUNK = 16  # replayed candles encoded and written together, about 5 KB
REPLAY_CHUNKS_PER_FLUSH = 16  # then the writer's other clients get their turn
REPLAY_CANDLE_BYTES = 8  # what a waiting replayed candle holds: a reference


def replay_limit(backlog_limit: int) -> int:
    """The most candles one replay may hold: half the hard limit, the other half left for what
    goes live meanwhile. A longer one would have the client closed as too slow before it could
    read it."""
    return HARD_LIMIT_FACTOR * backlog_limit // (2 * REPLAY_CANDLE_BYTES)


class _Replay:
    """Candles owed to one client, oldest first, and how many of them were written."""

    __slots__ = ("candles", "taken")

    def __init__(self, candles: Sequence[Candle]) -> None:
        self.candles = candles
        self.taken = 0

    def take(self, count: int) -> Sequence[Candle]:
        chunk = self.candles[self.taken : self.taken + count]
        self.taken += len(chunk)
        return chunk

    @property
    def left(self) -> int:
        return len(self.candles) - self.taken


# A frame ready to write; text, framed (compressed) only when written; a replay.
Waiting = bytes | str | _Replay


@dataclasses.dataclass
class DeliveryCounters:
    """Totals over a writer's clients, updated by their outboxes and reported to the broadcaster."""

    delivered: int = 0
    writes: int = 0  # system calls that wrote: frames per write is what batching saves
    conflated: int = 0
    trades_dropped: int = 0


class Outbox:
    """What one client is owed and the writing half of its socket. What the socket does not take
    waits in order; past ``backlog_limit`` a candle replaces its symbol's waiting one and trades
    are dropped; a client stalled or far over the limit is closed (``overdue``). A replay waits as
    candles, encoded as the socket takes them. The socket is closed only once the client reader
    has let go of it."""

    def __init__(
        self,
        *,
        client_id: int,
        sock: socket.socket,
        peer: str,
        encoder: FrameProtocol,
        compressed: bool,
        backlog_limit: int,
        stall_timeout_s: float,
        counters: DeliveryCounters,
        monotonic: Callable[[], float],
    ) -> None:
        self.client_id = client_id
        self.peer = peer
        self.compressed = compressed
        self._sock = sock
        self._encoder = encoder
        self._limit = backlog_limit
        self._stall_timeout_s = stall_timeout_s
        self._counters = counters
        self._monotonic = monotonic
        self._partial: memoryview | None = None  # the rest of a write the socket took in part
        self._partial_frames = 1  # how many frames end in it
        self._backlog: dict[int, tuple[Waiting, str | None]] = {}  # key -> (what waits, symbol of a candle)
        self._backlog_bytes = 0
        self._keys = itertools.count()
        self._waiting_candle: dict[str, int] = {}  # symbol -> backlog key of its newest candle
        self._dropped_trades: dict[str, int] = {}
        self._last_progress = monotonic()
        self._broken = False
        self.closing_since: float | None = None
        self._shut: set[int] = set()

    # --- what the writer calls --------------------------------------------------------------

    def encode(self, text: str) -> bytes:
        """A text frame through this client's own encoder (its compression context)."""
        return bytes(self._encoder.send_data(text, fin=True))

    def send_batch(self, batch: Sequence[Outbound], joined: bytes) -> None:
        """Frames fanned out together, ``joined`` their bytes: one write when nothing is waiting."""
        if self.compressed or self.backlogged or self._dropped_trades or self.closing_since is not None or self._broken:
            for out in batch:
                self.send(out.text if self.compressed else out.frame, out.kind, out.symbol, out.trades)
            return
        written = self._write(joined)
        if written == len(joined):
            self._counters.delivered += len(batch)
            return
        whole, left = 0, written
        for out in batch:
            if left < len(out.frame):
                break
            left -= len(out.frame)
            whole += 1
        self._counters.delivered += whole
        self._partial = memoryview(joined)[written:]
        self._partial_frames = len(batch) - whole

    def send(self, payload: bytes | str, kind: FrameKind = "other", symbol: str = "", trades: int = 0) -> None:
        """A frame, or a text this client's encoder frames (compresses) when it is written."""
        if self.closing_since is not None or self._broken:
            return
        if kind == "trade" and self._dropped_trades:
            if self._over_limit(len(payload)):
                self._drop(symbol, trades)
                return
            self._enqueue(self._dropped_notice(), None)
        if not self.backlogged:
            frame = self._framed(payload)
            written = self._write(frame)
            if written == len(frame):
                self._counters.delivered += 1
                return
            self._partial = memoryview(frame)[written:]
            self._partial_frames = 1
            return
        if self._over_limit(len(payload)):
            if kind == "trade":
                self._drop(symbol, trades)
                return
            if kind == "candle" and symbol in self._waiting_candle:
                key = self._waiting_candle[symbol]
                self._backlog_bytes += len(payload) - self._size(self._backlog[key][0])
                self._backlog[key] = (payload, symbol)
                self._counters.conflated += 1
                return
        self._enqueue(payload, symbol if kind == "candle" else None)
        self.flush()

    def replay(self, candles: Sequence[Candle]) -> None:
        """Candles for this client alone, after everything sent to it before."""
        if self.closing_since is not None or self._broken or not candles:
            return
        self._enqueue(_Replay(candles), None)
        self.flush()

    def flush(self) -> None:
        """Write as much of the backlog as the socket takes now, up to ``WRITE_BYTES`` a call."""
        replay_chunks = REPLAY_CHUNKS_PER_FLUSH
        while not self._broken:
            data: bytes | memoryview
            if self._partial is not None:
                data, frames = self._partial, self._partial_frames
            else:
                data, frames, replay_chunks = self._take_next(replay_chunks)
                if not frames:
                    break
            written = self._write(data)
            if written < len(data):
                self._partial = memoryview(data)[written:]
                self._partial_frames = frames
                break
            self._partial = None
            self._counters.delivered += frames
        if self.closing_since is not None and not self.backlogged:
            self._shutdown(socket.SHUT_WR)

    @property
    def backlogged(self) -> bool:
        return self._partial is not None or bool(self._backlog)

    @property
    def backlog_bytes(self) -> int:
        return self._backlog_bytes + (len(self._partial) if self._partial is not None else 0)

    def overdue(self, now: float) -> str | None:
        """Why this client must be closed as too slow, or None."""
        if not self.backlogged:
            return None
        if now - self._last_progress >= self._stall_timeout_s:
            return f"consumer too slow: nothing read for {self._stall_timeout_s:g} s"
        if self._backlog_bytes > HARD_LIMIT_FACTOR * self._limit:  # what never conflates: replies, replays
            return f"consumer too slow: over {HARD_LIMIT_FACTOR * self._limit} bytes waiting"
        return None

    def close(self, code: CloseCode, reason: str) -> None:
        """Send a close frame after the frame in progress (the rest of the backlog is dropped)."""
        if self.closing_since is not None:
            return
        self.closing_since = self._monotonic()
        self._backlog.clear()
        self._backlog_bytes = 0
        self._waiting_candle.clear()
        self._enqueue(bytes(self._encoder.close(code, reason)), None)
        self.flush()

    def cut_if_lingering(self, now: float) -> None:
        """A closing client that has not drained in time loses its connection outright."""
        if self.closing_since is not None and now - self.closing_since >= CLOSE_GRACE_S:
            self._shutdown(socket.SHUT_RDWR)

    def say_goodbye(self, farewell: bytes) -> None:
        """The reader's answer to the client's close, unless we had closed first."""
        if farewell and self.closing_since is None and not self.backlogged:
            self._write(farewell)

    def release(self) -> None:
        """Close the socket; only once the reader has stopped using it."""
        self._sock.close()

    # --- inside ------------------------------------------------------------------------------

    def _write(self, data: bytes | memoryview) -> int:
        try:
            written = self._sock.send(data)
        except BlockingIOError:
            return 0
        except OSError:
            # Reset or gone: the reader sees it too and reports the client gone.
            self._broken = True
            return 0
        if written:
            self._last_progress = self._monotonic()
            self._counters.writes += 1
        return written

    def _enqueue(self, waiting: Waiting, candle_symbol: str | None) -> None:
        key = next(self._keys)
        self._backlog[key] = (waiting, candle_symbol)
        self._backlog_bytes += self._size(waiting)
        if candle_symbol is not None:
            self._waiting_candle[candle_symbol] = key

    def _take_next(self, replay_chunks: int) -> tuple[bytes, int, int]:
        """The backlog's next write, up to ``WRITE_BYTES`` and ``replay_chunks`` chunks of a
        replay: its bytes, the frames in it, and the replay chunks left."""
        frames: list[bytes] = []
        size = 0
        while self._backlog and size < WRITE_BYTES:
            key = next(iter(self._backlog))
            waiting, symbol = self._backlog[key]
            if isinstance(waiting, _Replay):
                if not replay_chunks:
                    break
                replay_chunks -= 1
                candles = waiting.take(REPLAY_CHUNK)
                if not waiting.left:
                    del self._backlog[key]
                self._backlog_bytes -= REPLAY_CANDLE_BYTES * len(candles)
                taken = [self.encode(encoding.candle_event(candle)) for candle in candles]
            else:
                del self._backlog[key]
                self._backlog_bytes -= len(waiting)
                if symbol is not None and self._waiting_candle.get(symbol) == key:
                    del self._waiting_candle[symbol]
                taken = [self._framed(waiting)]
            frames += taken
            size += sum(map(len, taken))
        return b"".join(frames), len(frames), replay_chunks

    def _framed(self, payload: bytes | str) -> bytes:
        return self.encode(payload) if isinstance(payload, str) else payload

    @staticmethod
    def _size(waiting: Waiting) -> int:
        return REPLAY_CANDLE_BYTES * waiting.left if isinstance(waiting, _Replay) else len(waiting)

    def _over_limit(self, size: int) -> bool:
        return self.backlogged and self.backlog_bytes + size > self._limit

    def _drop(self, symbol: str, trades: int) -> None:
        self._dropped_trades[symbol] = self._dropped_trades.get(symbol, 0) + trades
        self._counters.trades_dropped += trades

    def _dropped_notice(self) -> str:
        dropped, self._dropped_trades = self._dropped_trades, {}
        notice = {"type": "trades_dropped", "count": sum(dropped.values()), "symbols": dropped}
        return encoding.encode(notice).decode()

    def _shutdown(self, how: int) -> None:
        if how in self._shut:
            return
        self._shut.add(how)
        with contextlib.suppress(OSError):
            self._sock.shutdown(how)
