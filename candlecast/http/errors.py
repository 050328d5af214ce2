"""Every error leaves as JSON {"error", "detail"} with the right status, mapped here once."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from http import HTTPStatus
from typing import Any

import falcon
import psycopg
import pykka

from candlecast.errors import (
    AlreadySubscribed,
    CandlecastError,
    ExchangeInfoUnavailable,
    InvalidSymbol,
    NoDataYet,
    NotSubscribed,
    TooManySymbols,
)
from candlecast.http import encoding

_DOMAIN_ERRORS: dict[type[CandlecastError], tuple[str, str]] = {
    InvalidSymbol: (falcon.HTTP_400, "Invalid symbol"),
    AlreadySubscribed: (falcon.HTTP_409, "Already subscribed"),
    TooManySymbols: (falcon.HTTP_409, "Too many symbols"),
    NotSubscribed: (falcon.HTTP_404, "Not subscribed"),
    NoDataYet: (falcon.HTTP_404, "No data yet"),
    ExchangeInfoUnavailable: (falcon.HTTP_503, "Service unavailable"),
}


def error_body(title: str, detail: str) -> bytes:
    return encoding.encode({"error": title, "detail": detail or title})


def status_title(phrase: str) -> str:
    """An HTTP reason phrase as the app's error titles read ("Too many requests")."""
    return phrase[:1] + phrase[1:].lower()


def raw_error_response(status: HTTPStatus, detail: str, retry_after_s: int | None = None) -> bytes:
    """A whole HTTP/1.1 answer in the app's JSON error shape, for a listener that answers before
    (or instead of) the app: it closes the connection."""
    body = error_body(status_title(status.phrase), detail)
    retry = b"" if retry_after_s is None else b"Retry-After: %d\r\n" % retry_after_s
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s"
        % (status.value, status.phrase.encode(), retry, len(body), body)
    )


# What is read of a refused client's request before closing: closing with unread data resets
# the connection, and the reset can overtake the answer.
READ_BEFORE_REFUSAL_CLOSE = 1 << 16


def answer_refusal(sock: socket.socket, response: bytes) -> None:
    """Answer ``response`` without reading the request (reading is what a refused client would
    hold a thread or a slot for), never blocking; the caller closes the socket."""
    with contextlib.suppress(OSError):  # a full buffer or a client already gone: just close
        sock.send(response, socket.MSG_DONTWAIT)
        sock.recv(READ_BEFORE_REFUSAL_CLOSE, socket.MSG_DONTWAIT)


def serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    resp.content_type = falcon.MEDIA_JSON
    resp.data = error_body(exc.title or "Error", exc.description or "")


def domain_error(req: falcon.Request, resp: falcon.Response, exc: CandlecastError, params: Any) -> None:
    status, title = _DOMAIN_ERRORS.get(type(exc), (falcon.HTTP_500, "Internal error"))
    raise falcon.HTTPError(status, title=title, description=str(exc))


def actor_unavailable(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    raise falcon.HTTPServiceUnavailable(
        title="Service unavailable", description="the system did not answer in time; try again"
    )


def history_unavailable(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    """The candle store could not be read (a locked or failing file, a database down): the
    history is there but unreachable for now, which is the server's trouble, not the request's."""
    raise falcon.HTTPServiceUnavailable(
        title="Service unavailable", description=f"the candle history cannot be read: {type(exc).__name__}"
    )


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    app.set_error_serializer(serialize_error)
    app.add_error_handler(sqlite3.Error, history_unavailable)
    app.add_error_handler(psycopg.Error, history_unavailable)
    app.add_error_handler(CandlecastError, domain_error)
    app.add_error_handler(pykka.Timeout, actor_unavailable)
    app.add_error_handler(pykka.ActorDeadError, actor_unavailable)
