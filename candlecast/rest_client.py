"""Reading Binance's public REST API: one GET, JSON back, failures as one exception type
whose message is fit for a single warning line (no tracebacks for a missing network)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import msgspec


class UpstreamUnavailable(Exception):
    """The exchange's REST API did not answer usefully."""


def get_json(base_url: str, path: str, params: dict[str, Any] | None = None, timeout_s: float = 3.0) -> Any:
    url = base_url.rstrip("/") + path + (f"?{urlencode(params)}" if params else "")
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "candlecast"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return msgspec.json.decode(response.read())
    except urllib.error.HTTPError as exc:
        raise UpstreamUnavailable(f"GET {path}: HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UpstreamUnavailable(f"GET {path}: {reason}") from exc
    except msgspec.DecodeError as exc:
        raise UpstreamUnavailable(f"GET {path}: response is not JSON") from exc
