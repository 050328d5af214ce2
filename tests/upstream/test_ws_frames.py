"""The bulk frame decoder against frames wsproto's server side encodes."""

from __future__ import annotations

import itertools

import pytest
from wsproto.frame_protocol import FrameProtocol

from candlecast.upstream import ws_frames
from candlecast.upstream.ws_frames import (
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameDecoder,
    ProtocolError,
)


def server() -> FrameProtocol:
    return FrameProtocol(client=False, extensions=[])


def text_of(length: int) -> str:
    return "".join(chr(ord("a") + n % 26) for n in range(length))


def decode_in_pieces(data: bytes, cuts: list[int]) -> list[ws_frames.Message]:
    decoder = FrameDecoder()
    messages = []
    for start, stop in itertools.pairwise([0, *cuts, len(data)]):
        messages += decoder.feed(data[start:stop])
    return messages


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_text_and_binary_of_every_length_class(length: int) -> None:
    encoder = server()
    text = text_of(length)
    data = bytes(encoder.send_data(text) + encoder.send_data(text.encode()[::-1]))
    assert FrameDecoder().feed(data) == [(OPCODE_TEXT, text.encode()), (OPCODE_BINARY, text.encode()[::-1])]


def test_control_frames_come_out_in_order_with_their_payloads() -> None:
    encoder = server()
    data = bytes(encoder.ping(b"p" * 125) + encoder.pong(b"") + encoder.send_data("t") + encoder.close(1001, "bye"))
    assert FrameDecoder().feed(data) == [
        (OPCODE_PING, b"p" * 125),
        (OPCODE_PONG, b""),
        (OPCODE_TEXT, b"t"),
        (OPCODE_CLOSE, b"\x03\xe9bye"),
    ]
    assert ws_frames.close_reason(b"\x03\xe9bye") == "1001 bye"
    assert ws_frames.close_reason(bytes(server().close(1000))[2:]) == "1000"
    assert ws_frames.close_reason(b"") == ""


def test_every_split_point_gives_the_same_messages() -> None:
    encoder = server()
    data = bytes(
        encoder.send_data("a" * 3)
        + encoder.send_data("b" * 126)
        + encoder.ping(b"ping")
        + encoder.send_data(b"c" * 300, fin=False)
        + encoder.send_data(b"d" * 2, fin=True)
        + encoder.send_data("é" * 40)
    )
    expected = FrameDecoder().feed(data)
    assert expected == [
        (OPCODE_TEXT, b"aaa"),
        (OPCODE_TEXT, b"b" * 126),
        (OPCODE_PING, b"ping"),
        (OPCODE_BINARY, b"c" * 300 + b"dd"),
        (OPCODE_TEXT, "é".encode() * 40),
    ]
    for cut in range(1, len(data)):
        assert decode_in_pieces(data, [cut]) == expected, cut
    assert decode_in_pieces(data, list(range(1, len(data)))) == expected


def test_a_64_bit_length_split_inside_its_length_field() -> None:
    data = bytes(server().send_data("x" * 65536))
    for cut in range(1, 11):
        assert decode_in_pieces(data, [cut, cut + 1, 20000]) == [(OPCODE_TEXT, b"x" * 65536)]


def test_a_fragmented_message_with_pings_between_its_fragments() -> None:
    encoder = server()
    data = bytes(
        encoder.send_data("one ", fin=False)
        + encoder.ping(b"1")
        + encoder.send_data("two ", fin=False)
        + encoder.pong(b"2")
        + encoder.ping(b"3")
        + encoder.send_data("three", fin=True)
        + encoder.send_data("after")
    )
    assert FrameDecoder().feed(data) == [
        (OPCODE_PING, b"1"),
        (OPCODE_PONG, b"2"),
        (OPCODE_PING, b"3"),
        (OPCODE_TEXT, b"one two three"),
        (OPCODE_TEXT, b"after"),
    ]


def test_a_decoder_keeps_no_bytes_once_a_frame_is_complete() -> None:
    decoder = FrameDecoder()
    frame = bytes(server().send_data("z" * 200))
    assert decoder.feed(frame[:1]) == [] and decoder.feed(frame[1:3]) == []
    assert decoder.feed(frame[3:]) == [(OPCODE_TEXT, b"z" * 200)]
    assert decoder.feed(frame) == [(OPCODE_TEXT, b"z" * 200)]


def with_first_byte(frame: bytearray, first: int) -> bytes:
    return bytes([first]) + bytes(frame[1:])


PROTOCOL_ERRORS = [
    (bytes(FrameProtocol(client=True, extensions=[]).send_data("masked")), "masked"),
    (with_first_byte(server().send_data("x"), 0xC1), "RSV"),
    (with_first_byte(server().send_data("x"), 0x91), "RSV"),
    (with_first_byte(server().send_data("x"), 0x83), "reserved opcode 0x3"),
    (with_first_byte(server().ping(b"x"), 0x8B), "reserved opcode 0xb"),
    (with_first_byte(server().ping(b"x"), 0x09), "control frame 0x9 fragmented"),
    (with_first_byte(server().send_data(b"p" * 126), 0x89), "over 125"),
    (with_first_byte(server().send_data(b"c" * 126), 0x88), "over 125"),
    (with_first_byte(server().send_data("x"), 0x80), "continuation frame without"),
    (bytes(server().send_data("a", fin=False) + server().send_data("b")), "before the fragmented one ended"),
    (b"\x81\x7f\x80" + bytes(7), "over the 1048576-byte limit"),
]


# Named by the complaint: a client's frame is masked at random, so its bytes differ between collections.
@pytest.mark.parametrize(("data", "complaint"), PROTOCOL_ERRORS, ids=[complaint for _, complaint in PROTOCOL_ERRORS])
def test_protocol_errors(data: bytes, complaint: str) -> None:
    with pytest.raises(ProtocolError, match=complaint):
        FrameDecoder().feed(data)


def test_a_message_over_the_limit_is_refused_at_its_header() -> None:
    header = b"\x81\x7f" + (ws_frames.MAX_MESSAGE_BYTES + 1).to_bytes(8, "big")
    with pytest.raises(ProtocolError, match="over the 1048576-byte limit"):
        FrameDecoder().feed(header)
    decoder = FrameDecoder(max_message_bytes=1000)
    assert decoder.feed(bytes(server().send_data("k" * 1000))) == [(OPCODE_TEXT, b"k" * 1000)]
    with pytest.raises(ProtocolError, match="over the 1000-byte limit"):
        decoder.feed(bytes(server().send_data("k" * 1001))[:4])


def test_fragments_adding_up_past_the_limit_are_refused() -> None:
    encoder = server()
    decoder = FrameDecoder(max_message_bytes=1000)
    assert decoder.feed(bytes(encoder.send_data("f" * 600, fin=False))) == []
    with pytest.raises(ProtocolError, match="fragmented message over the 1000-byte limit"):
        decoder.feed(bytes(encoder.send_data("f" * 401)))
