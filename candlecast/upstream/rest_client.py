"""Reading Binance's public REST API: one GET, JSON back, failures as exceptions fit for one
warning line.

Headers and bodies come from the network, so every wait is bounded: ``Retry-After`` is clamped
(``retry_after_s``), and an answer not complete within ``ANSWER_DEADLINE_S`` or not decodable
is an ``UpstreamUnavailable``.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import math
import socket
import threading
import time
from email.message import Message
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlencode, urlsplit

import msgspec

USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
# Binance's weights reset each minute: a Retry-After that cannot be read means "next minute".
DEFAULT_RETRY_AFTER_S = 60.0
MIN_RETRY_AFTER_S = 1.0
# A ban (418) may last longer: after this the request is made again and its answer says how
# much longer, so a lying or broken header delays a caller by minutes, never for good.
MAX_RETRY_AFTER_S = 300.0
# What a body that is not the JSON expected raises while decoding: msgspec's own errors, a
# string that is not UTF-8, and nesting past the decoder's recursion limit.
UNDECODABLE = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)

ANSWER_DEADLINE_S = 10.0
HEADERS = {"Accept": "application/json", "User-Agent": "candlecast"}

T = TypeVar("T")


class UpstreamUnavailable(Exception):
    """The exchange's REST API did not answer usefully."""


class RateLimited(UpstreamUnavailable):
    """429 or 418: nothing more may be sent before ``retry_after_s``."""

    def __init__(self, message: str, status: int, retry_after_s: float) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class RequestRejected(UpstreamUnavailable):
    """Any other 4xx: this request, as made, will not succeed if repeated."""

    def __init__(self, message: str, status: int, code: int | None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Answer(NamedTuple):
    body: bytes
    used_weight: int | None


def retry_after_s(value: str | None, now: float) -> float:
    """Seconds to wait for a ``Retry-After`` of ``value`` (delay-seconds or an HTTP date, read at
    wall time ``now``), within [MIN_RETRY_AFTER_S, MAX_RETRY_AFTER_S]: an infinite, huge or
    negative wait would stop the caller for good or make it spin. Missing or unreadable: 60 s."""
    seconds = _delay_seconds(value, now)
    if seconds is None or math.isnan(seconds):
        seconds = DEFAULT_RETRY_AFTER_S
    return min(MAX_RETRY_AFTER_S, max(MIN_RETRY_AFTER_S, seconds))


def _delay_seconds(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _used_weight(value: str | None) -> int | None:
    """The weight Binance reports, or None when the header is missing or not a plain count."""
    text = (value or "").strip()
    return int(text) if 0 < len(text) <= 12 and text.isascii() and text.isdigit() else None


def fetch(
    base_url: str,
    path: str,
    params: dict[str, Any] | None = None,
    *,
    timeout_s: float = 3.0,
    deadline_s: float = ANSWER_DEADLINE_S,
) -> Answer:
    """GET ``path``: each read waits at most ``timeout_s``, the whole answer ``deadline_s``."""
    url = urlsplit(base_url.rstrip("/") + path + (f"?{urlencode(params)}" if params else ""))
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = kind(url.hostname or "", url.port, timeout=timeout_s)
    cut = threading.Event()
    watchdog = threading.Timer(deadline_s, _cut, (connection, cut))
    watchdog.name = "rest-deadline"
    watchdog.start()
    try:
        connection.request("GET", url.path + (f"?{url.query}" if url.query else ""), headers=HEADERS)
        response = connection.getresponse()
        body = response.read()
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = f"no whole answer within {deadline_s:g} s" if cut.is_set() else str(exc)
        raise UpstreamUnavailable(f"GET {path}: {reason}") from exc
    finally:
        watchdog.cancel()
        connection.close()
    if response.status >= 400:
        raise _http_error(path, response.status, response.headers, body)
    return Answer(body, _used_weight(response.headers.get(USED_WEIGHT_HEADER)))


def _cut(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    """End a request past its deadline: its thread's read returns at once."""
    cut.set()
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # closed already
            sock.shutdown(socket.SHUT_RDWR)


def get_json(base_url: str, path: str, params: dict[str, Any] | None = None, timeout_s: float = 3.0) -> Any:
    return decode(path, fetch(base_url, path, params, timeout_s=timeout_s).body, _any_decoder)


def decode(path: str, body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """``body`` (the answer to GET ``path``) decoded as ``decoder``'s type, or UpstreamUnavailable."""
    try:
        return decoder.decode(body)
    except UNDECODABLE as exc:
        raise UpstreamUnavailable(f"GET {path}: malformed answer: {str(exc)[:200]}") from exc


_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def _http_error(path: str, status: int, headers: Message, body: bytes) -> UpstreamUnavailable:
    try:
        error = msgspec.json.decode(body)
    except UNDECODABLE:
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    code = code if isinstance(code, int) else None
    detail = f"GET {path}: HTTP {status}" + (f" {code} {error.get('msg', '')}"[:200] if code is not None else "")
    if status in (429, 418):
        return RateLimited(detail, status, retry_after_s(headers.get("Retry-After"), time.time()))
    if 400 <= status < 500:
        return RequestRejected(detail, status, code)
    return UpstreamUnavailable(detail)
