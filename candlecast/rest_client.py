"""Reading Binance's public REST API: one GET, JSON back, failures as exceptions whose message
is fit for a single warning line (no tracebacks for a missing network).

Binance answers 429 when a client goes over its request weight and 418 once it has kept
going after 429s (an IP ban); both carry ``Retry-After``. Every answer carries the weight
used this minute in ``X-MBX-USED-WEIGHT-1M``, which callers use to stay under budget.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any, NamedTuple
from urllib.parse import urlencode

import msgspec

USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
DEFAULT_RETRY_AFTER_S = 60.0


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


def _header_number(value: str | None, default: float | None) -> float | None:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


def fetch(base_url: str, path: str, params: dict[str, Any] | None = None, timeout_s: float = 3.0) -> Answer:
    url = base_url.rstrip("/") + path + (f"?{urlencode(params)}" if params else "")
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "candlecast"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            weight = _header_number(response.headers.get(USED_WEIGHT_HEADER), None)
            return Answer(response.read(), None if weight is None else int(weight))
    except urllib.error.HTTPError as exc:
        raise _http_error(path, exc) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UpstreamUnavailable(f"GET {path}: {reason}") from exc


def get_json(base_url: str, path: str, params: dict[str, Any] | None = None, timeout_s: float = 3.0) -> Any:
    try:
        return msgspec.json.decode(fetch(base_url, path, params, timeout_s).body)
    except msgspec.DecodeError as exc:
        raise UpstreamUnavailable(f"GET {path}: response is not JSON") from exc


def _http_error(path: str, exc: urllib.error.HTTPError) -> UpstreamUnavailable:
    try:
        error = msgspec.json.decode(exc.read())
    except (msgspec.DecodeError, OSError):
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    detail = f"GET {path}: HTTP {exc.code}" + (f" {code} {error.get('msg', '')}" if code is not None else "")
    if exc.code in (429, 418):
        retry_after = _header_number(exc.headers.get("Retry-After"), DEFAULT_RETRY_AFTER_S)
        return RateLimited(detail, exc.code, retry_after or DEFAULT_RETRY_AFTER_S)
    if 400 <= exc.code < 500:
        return RequestRejected(detail, exc.code, code)
    return UpstreamUnavailable(detail)
