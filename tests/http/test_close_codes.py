"""Our close codes are RFC 6455's, under the names wsproto gives them."""

from __future__ import annotations

from wsproto.frame_protocol import CloseReason

from candlecast.http.close_codes import CloseCode


def test_every_close_code_is_the_rfc_code_of_its_name() -> None:
    assert {code.name: code.value for code in CloseCode} == {
        code.name: CloseReason[code.name].value for code in CloseCode
    }
