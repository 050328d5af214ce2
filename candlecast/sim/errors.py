"""The simulator's error replies: Binance's (``http.binance_request``), and -1001 with 503 when
the exchange hub does not answer in time, as Binance answers when its backend is unavailable."""

from __future__ import annotations

from typing import Any

import falcon
import pykka

from candlecast.http import binance_request
from candlecast.http.binance_request import ApiError

_UNAVAILABLE = ApiError(-1001, "Internal error; unable to process your request. Please try again.", falcon.HTTP_503)


def _unavailable(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    binance_request.respond_error(resp, _UNAVAILABLE)


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    binance_request.install(app)
    app.add_error_handler(pykka.Timeout, _unavailable)
    app.add_error_handler(pykka.ActorDeadError, _unavailable)
