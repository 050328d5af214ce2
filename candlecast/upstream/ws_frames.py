"""WebSocket frames a server sends (RFC 6455 section 5), decoded many at a time.

Binance sends one trade per frame, so framing must cost far less than a trade: this takes
whatever one read brought, returns every complete message and keeps a partial frame for the
next read. Only what a server may send is accepted, and a frame over ``MAX_MESSAGE_BYTES`` is
refused at its header, before its bytes are buffered.
"""

from __future__ import annotations

OPCODE_CONTINUATION = 0x0
OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
OPCODE_CLOSE = 0x8
OPCODE_PING = 0x9
OPCODE_PONG = 0xA

_DATA_OPCODES = frozenset({OPCODE_TEXT, OPCODE_BINARY})
_CONTROL_OPCODES = frozenset({OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG})
_FIN = 0x80
_RSV = 0x70
_MASKED = 0x80
_MAX_CONTROL_PAYLOAD = 125
MAX_MESSAGE_BYTES = 1 << 20
# The byte that starts nearly every frame: FIN set, no RSV bits, a text opcode.
_FINAL_TEXT = _FIN | OPCODE_TEXT

Message = tuple[int, bytes]
"""An opcode and its payload: a whole text or binary message (fragments joined), or a control frame."""


class ProtocolError(ValueError):
    """The server broke the framing rules; nothing after this point on the connection can be trusted."""


class FrameDecoder:
    """Owned by the one thread that reads the connection."""

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._max_message_bytes = max_message_bytes
        self._pending: list[bytes] = []
        self._pending_size = 0
        # Bytes the pending ones must reach before another frame can be complete.
        self._needed = 2
        self._fragments: list[bytes] | None = None
        self._fragmented_size = 0
        self._fragmented_opcode = OPCODE_TEXT

    def feed(self, data: bytes) -> list[Message]:
        """Every message completed by ``data``, in order; raises ``ProtocolError`` on a broken frame."""
        if self._pending:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size < self._needed:
                return []
            buffer = b"".join(self._pending)
            self._pending.clear()
        else:
            buffer = data
        messages: list[Message] = []
        end = len(buffer)
        position = 0
        needed = 2
        while end - position >= 2:
            first = buffer[position]
            length = buffer[position + 1]
            start = position + 2
            if length > _MAX_CONTROL_PAYLOAD:
                if length & _MASKED:
                    raise ProtocolError("server frame is masked")
                start += 2 if length == 126 else 8
                if start > end:
                    needed = start - position
                    break
                length = int.from_bytes(buffer[position + 2 : start], "big")
                if length > self._max_message_bytes:
                    raise ProtocolError(f"frame of {length} bytes is over the {self._max_message_bytes}-byte limit")
            stop = start + length
            if stop > end:
                needed = stop - position
                break
            if first == _FINAL_TEXT and self._fragments is None:
                messages.append((OPCODE_TEXT, buffer[start:stop]))
            else:
                self._frame(first, buffer[start:stop], messages)
            position = stop
        if position < end:
            self._pending.append(buffer[position:])
            self._pending_size = end - position
            self._needed = needed
        return messages

    def _frame(self, first: int, payload: bytes, messages: list[Message]) -> None:
        """Any frame but an unfragmented text one: checks the rules, joins fragments."""
        if first & _RSV:
            raise ProtocolError("RSV bits set without a negotiated extension")
        opcode = first & 0x0F
        final = bool(first & _FIN)
        if opcode in _CONTROL_OPCODES:
            if not final or len(payload) > _MAX_CONTROL_PAYLOAD:
                raise ProtocolError(f"control frame {opcode:#x} fragmented or over {_MAX_CONTROL_PAYLOAD} bytes")
            messages.append((opcode, payload))
        elif opcode in _DATA_OPCODES:
            if self._fragments is not None:
                raise ProtocolError("new message before the fragmented one ended")
            if final:
                messages.append((opcode, payload))
            else:
                self._fragments = [payload]
                self._fragmented_size = len(payload)
                self._fragmented_opcode = opcode
        elif opcode == OPCODE_CONTINUATION:
            if self._fragments is None:
                raise ProtocolError("continuation frame without a message to continue")
            self._fragments.append(payload)
            self._fragmented_size += len(payload)
            if self._fragmented_size > self._max_message_bytes:
                raise ProtocolError(f"fragmented message over the {self._max_message_bytes}-byte limit")
            if final:
                messages.append((self._fragmented_opcode, b"".join(self._fragments)))
                self._fragments = None
        else:
            raise ProtocolError(f"reserved opcode {opcode:#x}")


def close_reason(payload: bytes) -> str:
    """A close frame's status code and reason as text, for logs; empty when the server gave none."""
    if len(payload) < 2:
        return ""
    code = int.from_bytes(payload[:2], "big")
    reason = payload[2:].decode("utf-8", errors="replace")
    return f"{code} {reason}".rstrip()
