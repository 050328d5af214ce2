"""Request limits that apply on both ports: per-IP rate (429 + Retry-After) and body size (413)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import falcon
from limits import RateLimitItem, parse_many, storage, strategies

# Liveness and readiness probes may come often from a monitor behind the same address as
# clients; they cost next to nothing, and a limited probe would call a healthy process down.
PROBES = frozenset({"/livez", "/readyz"})


class RateLimit:
    """Per-client-IP limits in ``limits`` notation, e.g. "50/second;1000/minute".

    Every request but the probes counts once, before anything else (a WebSocket upgrade too). A
    resource whose answer can cost far more than a plain request's says so with ``weight(req)``, and the rest
    is charged once the request is routed, up to a whole limit's amount: a client asking for
    an hour of candles 50 times a second would otherwise hold the interpreter, and every other
    client's stream with it, for half of every second."""

    def __init__(self, spec: str) -> None:
        self._items = parse_many(spec)
        # The sliding window counter's keys expire; the moving window's, in memory, never do, and
        # are all scanned every 10 ms while requests come: after 10,000 addresses, half a core.
        self._limiter = strategies.SlidingWindowCounterRateLimiter(storage.MemoryStorage())

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.path not in PROBES:
            self._charge(req, lambda item: 1)

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        weigh = getattr(resource, "weight", None)
        if weigh is not None:
            weight = weigh(req)
            self._charge(req, lambda item: min(weight, item.amount) - 1, f"; this request counts as {weight}")

    def _charge(self, req: falcon.Request, cost: Callable[[RateLimitItem], int], why: str = "") -> None:
        key = req.remote_addr or "unknown"
        for item in self._items:
            charged = cost(item)
            if charged > 0 and not self._limiter.hit(item, key, cost=charged):
                reset_at = self._limiter.get_window_stats(item, key).reset_time
                retry_after = max(1, math.ceil(reset_at - time.time()))
                raise falcon.HTTPTooManyRequests(
                    title="Too many requests",
                    description=f"limit {item} per client exceeded{why}; retry in {retry_after} s",
                    retry_after=retry_after,
                )


class BodyLimit:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        length = req.content_length
        if length is not None and length > self._max_bytes:
            raise falcon.HTTPContentTooLarge(
                title="Payload too large", description=f"request bodies are limited to {self._max_bytes} bytes"
            )
