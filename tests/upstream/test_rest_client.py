"""Reading upstream REST answers: whatever ``Retry-After`` and the weight header say, a wait is
finite and bounded and a request fails only as ``UpstreamUnavailable``."""

from __future__ import annotations

import contextlib
import email.utils
import math
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from candlecast.upstream.rest_client import (
    DEFAULT_RETRY_AFTER_S,
    MAX_RETRY_AFTER_S,
    MIN_RETRY_AFTER_S,
    RateLimited,
    UpstreamUnavailable,
    fetch,
    retry_after_s,
)
from tests.rest_stub import Canned, RestStub

NOW = 1_700_000_000.0
ODD_RETRY_AFTER = ["inf", "-inf", "nan", "-5", "0", "1e12", "1e999", "", " ", "garbage", "0x10", "²"]


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=40), st.floats().map(str), st.integers().map(str)))
@example("Wed, 21 Oct 2015 07:28:00 GMT")
@example("Sun, 06 Dec 9999 23:59:59 GMT")
def test_every_retry_after_is_a_finite_wait_within_the_bounds(value: str | None) -> None:
    wait = retry_after_s(value, NOW)
    assert math.isfinite(wait) and MIN_RETRY_AFTER_S <= wait <= MAX_RETRY_AFTER_S


@pytest.mark.parametrize(
    ("value", "wait"),
    [
        ("7", 7.0),
        ("2.5", 2.5),
        ("inf", MAX_RETRY_AFTER_S),
        ("1e12", MAX_RETRY_AFTER_S),
        ("-5", MIN_RETRY_AFTER_S),
        ("0", MIN_RETRY_AFTER_S),
        ("nan", DEFAULT_RETRY_AFTER_S),
        ("", DEFAULT_RETRY_AFTER_S),
        ("garbage", DEFAULT_RETRY_AFTER_S),
        (None, DEFAULT_RETRY_AFTER_S),
        (email.utils.formatdate(NOW + 42, usegmt=True), 42.0),
        (email.utils.formatdate(NOW - 42, usegmt=True), 1.0),
    ],
)
def test_retry_after_is_seconds_or_a_date_clamped_and_unreadable_means_a_minute(value: str | None, wait: float) -> None:
    assert retry_after_s(value, NOW) == wait


@pytest.fixture
def stub() -> Iterator[RestStub]:
    server = RestStub("http://127.0.0.1:9").start()  # every answer is canned: nothing is passed on
    yield server
    server.stop()


@pytest.mark.parametrize("value", ODD_RETRY_AFTER)
@pytest.mark.parametrize("status", [429, 418])
def test_a_rate_limit_answer_carries_a_bounded_wait(stub: RestStub, status: int, value: str) -> None:
    stub.answer("/api/v3/time", Canned(status, b'{"code":-1003,"msg":"Too many requests"}', (("Retry-After", value),)))
    with pytest.raises(RateLimited) as raised:
        fetch(stub.url, "/api/v3/time")
    assert raised.value.status == status
    assert MIN_RETRY_AFTER_S <= raised.value.retry_after_s <= MAX_RETRY_AFTER_S


@pytest.mark.parametrize("weight", ["inf", "nan", "-1", "1e3", "9" * 5000, "", "x"])
def test_a_used_weight_that_is_not_a_count_is_ignored(stub: RestStub, weight: str) -> None:
    stub.answer("/api/v3/time", Canned(200, b'{"serverTime":1}', (("X-MBX-USED-WEIGHT-1M", weight),)))
    assert fetch(stub.url, "/api/v3/time").used_weight is None


def test_a_used_weight_is_read(stub: RestStub) -> None:
    stub.answer("/api/v3/time", Canned(200, b'{"serverTime":1}', (("X-MBX-USED-WEIGHT-1M", "42"),)))
    assert fetch(stub.url, "/api/v3/time").used_weight == 42


@pytest.mark.parametrize("stage", ["headers", "body"])
def test_an_answer_sent_a_byte_at_a_time_fails_at_the_deadline(stage: str) -> None:
    """Each byte comes within the read timeout, so only the whole answer's deadline ends it."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            if stage == "body":
                connection.sendall(head)
            for _ in range(200):  # bounded: 20 s at most
                if done.wait(0.1):
                    return
                with contextlib.suppress(OSError):
                    connection.sendall(b" ")

    server = threading.Thread(target=trickle)
    server.start()
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamUnavailable, match=r"no whole answer within 0\.5 s"):
            fetch(f"http://127.0.0.1:{listener.getsockname()[1]}", "/api/v3/time", timeout_s=1.0, deadline_s=0.5)
        assert time.monotonic() - started < 5, "ended by the deadline, not by the trickle running out"
    finally:
        done.set()
        server.join()
        listener.close()
