"""Every error leaves as JSON {"error", "detail"} with the right status, mapped here once."""

from __future__ import annotations

from typing import Any

import falcon
import pykka

from candlecast import wire
from candlecast.errors import (
    AlreadySubscribed,
    CandlecastError,
    ExchangeInfoUnavailable,
    InvalidSymbol,
    NoDataYet,
    NotSubscribed,
    TooManySymbols,
)

_DOMAIN_ERRORS: dict[type[CandlecastError], tuple[str, str]] = {
    InvalidSymbol: (falcon.HTTP_400, "Invalid symbol"),
    AlreadySubscribed: (falcon.HTTP_409, "Already subscribed"),
    TooManySymbols: (falcon.HTTP_409, "Too many symbols"),
    NotSubscribed: (falcon.HTTP_404, "Not subscribed"),
    NoDataYet: (falcon.HTTP_404, "No data yet"),
    ExchangeInfoUnavailable: (falcon.HTTP_503, "Service unavailable"),
}


def serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    resp.content_type = falcon.MEDIA_JSON
    title = exc.title or "Error"
    resp.data = wire.encode({"error": title, "detail": exc.description or title})


def domain_error(req: falcon.Request, resp: falcon.Response, exc: CandlecastError, params: Any) -> None:
    status, title = _DOMAIN_ERRORS.get(type(exc), (falcon.HTTP_500, "Internal error"))
    raise falcon.HTTPError(status, title=title, description=str(exc))


def actor_unavailable(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    raise falcon.HTTPServiceUnavailable(
        title="Service unavailable", description="the system did not answer in time; try again"
    )


def install(app: falcon.App) -> None:
    app.set_error_serializer(serialize_error)
    app.add_error_handler(CandlecastError, domain_error)
    app.add_error_handler(pykka.Timeout, actor_unavailable)
    app.add_error_handler(pykka.ActorDeadError, actor_unavailable)
