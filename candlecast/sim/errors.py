"""Binance's error replies, for the simulator's REST and stream handshakes alike:
HTTP 4xx/5xx with ``{"code": <negative code>, "msg": ...}``, codes and wording from the
spot API's error-code list."""

from __future__ import annotations

from typing import Any

import falcon
import msgspec
import pykka


class ApiError(Exception):
    def __init__(self, code: int, msg: str, status: str = falcon.HTTP_400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def illegal_characters(param: str, legal: str) -> ApiError:
    return ApiError(-1100, f"Illegal characters found in parameter '{param}'; legal range is '{legal}'.")


def mandatory_missing(param: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


def invalid_symbol() -> ApiError:
    return ApiError(-1121, "Invalid symbol.")


def invalid_parameter() -> ApiError:
    return ApiError(-1130, "Invalid data sent for a parameter.")


def bad_combination() -> ApiError:
    return ApiError(-1128, "Combination of optional parameters invalid.")


def _render(req: falcon.Request, resp: falcon.Response, exc: ApiError, params: Any) -> None:
    resp.status = exc.status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode({"code": exc.code, "msg": exc.msg})


def _unavailable(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    _render(
        req,
        resp,
        ApiError(-1001, "Internal error; unable to process your request. Please try again.", falcon.HTTP_503),
        params,
    )


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    app.add_error_handler(ApiError, _render)
    app.add_error_handler(pykka.Timeout, _unavailable)
    app.add_error_handler(pykka.ActorDeadError, _unavailable)
