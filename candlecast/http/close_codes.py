"""The WebSocket close codes (RFC 6455, section 7.4.1) this house sends, each with why.

One list for the bridge, its writers and the simulator, which speaks the same protocol, so a
client's documentation and the code cannot drift apart. wsproto answers broken framing (1002)
and text that is not UTF-8 (1007) by itself.
"""

from __future__ import annotations

import enum


class CloseCode(enum.IntEnum):
    NORMAL_CLOSURE = 1000  # the simulator's session ending when its client is done
    GOING_AWAY = 1001  # the server is stopping (or the simulated exchange drops the stream): reconnect
    PROTOCOL_ERROR = 1002  # broken framing, answered by wsproto
    INVALID_FRAME_PAYLOAD_DATA = 1007  # text that is not UTF-8, answered by wsproto
    POLICY_VIOLATION = 1008  # a client past a limit: too slow, too many from its address, subscriptions, messages
    MESSAGE_TOO_BIG = 1009  # a message longer than allowed, in bytes or frames
    INTERNAL_ERROR = 1011  # the server failed the client (its reader lost, a failed read, a ping unanswered): reconnect
    TRY_AGAIN_LATER = 1013  # the server is full: reconnect later
