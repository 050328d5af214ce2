"""Reading upstream REST answers: whatever ``Retry-After`` and the weight header say, a wait is
finite and bounded and a request fails only as ``UpstreamUnavailable``."""

from __future__ import annotations

import email.utils
import math
from typing import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from candlecast.rest_client import (
    DEFAULT_RETRY_AFTER_S,
    MAX_RETRY_AFTER_S,
    MIN_RETRY_AFTER_S,
    RateLimited,
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


@pytest.mark.parametrize(("value", "wait"), [
    ("7", 7.0), ("2.5", 2.5), ("inf", MAX_RETRY_AFTER_S), ("1e12", MAX_RETRY_AFTER_S), ("-5", MIN_RETRY_AFTER_S),
    ("0", MIN_RETRY_AFTER_S), ("nan", DEFAULT_RETRY_AFTER_S), ("", DEFAULT_RETRY_AFTER_S),
    ("garbage", DEFAULT_RETRY_AFTER_S), (None, DEFAULT_RETRY_AFTER_S),
    (email.utils.formatdate(NOW + 42, usegmt=True), 42.0), (email.utils.formatdate(NOW - 42, usegmt=True), 1.0),
])
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
