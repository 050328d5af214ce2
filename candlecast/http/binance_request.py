"""Binance's request parameters and error replies, for every server that answers in Binance's own
API shape: the simulator's exchange and candlecast's ``/api/v3`` history.

Parameters are read and refused as Binance reads them, with the codes and wording of the spot
API's error-code list; an ``ApiError`` leaves as HTTP 4xx/5xx with ``{"code": <negative>, "msg"}``.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any

import falcon
import msgspec

from candlecast.upstream.binance import SYMBOL_PATTERN

# A query string as falcon reads it: a name given twice holds a list.
Params = Mapping[str, str | list[str]]
UNSIGNED = "^[0-9]{1,20}$"
_MAX_DIGITS = 20


class ApiError(Exception):
    def __init__(self, code: int, msg: str, status: str = falcon.HTTP_400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def illegal_characters(param: str, legal: str) -> ApiError:
    return ApiError(-1100, f"Illegal characters found in parameter '{param}'; legal range is '{legal}'.")


def duplicate_values() -> ApiError:
    return ApiError(-1101, "Duplicate values for a parameter detected.")


def mandatory_missing(param: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{param}' was not sent, was empty/null, or malformed.")


def unread_parameters(read: int, sent: int) -> ApiError:
    return ApiError(-1104, f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{sent}'.")


def invalid_interval() -> ApiError:
    return ApiError(-1120, "Invalid interval.")


def invalid_symbol() -> ApiError:
    return ApiError(-1121, "Invalid symbol.")


def bad_combination() -> ApiError:
    return ApiError(-1128, "Combination of optional parameters invalid.")


def invalid_parameter() -> ApiError:
    return ApiError(-1130, "Invalid data sent for a parameter.")


def parameter_not_valid(param: str) -> ApiError:
    return ApiError(-1130, f"Data sent for parameter '{param}' is not valid.")


def json_not_valid(param: str) -> ApiError:
    return ApiError(-1135, f"JSON sent for parameter '{param}' is not valid")


def single(params: Params, name: str) -> str | None:
    """The value of ``name``; None when it is absent or empty. Sent twice: -1101."""
    value = params.get(name)
    if isinstance(value, list):
        raise duplicate_values()
    return value or None


def optional_symbol(raw: str | None, listed: Container[str]) -> str | None:
    """``raw`` if it is a symbol of ``listed``; None if not sent; -1100 or -1121 otherwise."""
    if not raw:
        return None
    if not SYMBOL_PATTERN.match(raw):
        raise illegal_characters("symbol", SYMBOL_PATTERN.pattern)
    if raw not in listed:
        raise invalid_symbol()
    return raw


def symbol(raw: str | None, listed: Container[str]) -> str:
    """``optional_symbol``, and mandatory."""
    found = optional_symbol(raw, listed)
    if found is None:
        raise mandatory_missing("symbol")
    return found


def unsigned(raw: str | None, name: str) -> int | None:
    """A LONG or INT parameter: up to 20 digits, nothing else; None if not sent."""
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > _MAX_DIGITS:
        raise illegal_characters(name, UNSIGNED)
    return int(raw)


def respond_error(resp: falcon.Response, exc: ApiError) -> None:
    resp.status = exc.status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = msgspec.json.encode({"code": exc.code, "msg": exc.msg})


def _render(req: falcon.Request, resp: falcon.Response, exc: ApiError, params: Any) -> None:
    respond_error(resp, exc)


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Every ``ApiError`` raised by ``app``'s resources leaves in Binance's shape."""
    app.add_error_handler(ApiError, _render)
