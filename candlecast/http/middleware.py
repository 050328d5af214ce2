"""Request limits that apply on both ports: per-IP rate (429 + Retry-After) and body size (413)."""

from __future__ import annotations

import math
import time

import falcon
from limits import parse_many, storage, strategies


class RateLimit:
    """Per-client-IP limits in ``limits`` notation, e.g. "50/second;1000/minute"."""

    def __init__(self, spec: str) -> None:
        self._items = parse_many(spec)
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        key = req.remote_addr or "unknown"
        for item in self._items:
            if not self._limiter.hit(item, key):
                reset_at = self._limiter.get_window_stats(item, key).reset_time
                retry_after = max(1, math.ceil(reset_at - time.time()))
                raise falcon.HTTPTooManyRequests(
                    title="Too many requests",
                    description=f"limit {item} per client exceeded; retry in {retry_after} s",
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
