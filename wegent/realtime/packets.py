"""Engine.IO and Socket.IO packets: the libraries' packet classes, with orjson for speed."""

from __future__ import annotations

from typing import Any

import engineio.packet as eio
import orjson
import socketio.packet as sio


class _Codec:
    """orjson behind the ``json`` interface the packet classes call."""

    @staticmethod
    def dumps(data: Any, **_: Any) -> str:
        return orjson.dumps(data).decode()

    @staticmethod
    def loads(text: str | bytes) -> Any:
        return orjson.loads(text)


class EnginePacket(eio.Packet):
    json = _Codec


class SocketPacket(sio.Packet):
    json = _Codec
    uses_binary_events = False


def encode_event(namespace: str, event: str, data: Any, ack_id: int | None = None) -> str:
    """The text frame of one event (also used by ``emitter`` to encode a room emit once)."""
    packet = SocketPacket(sio.EVENT, data=[event, data], namespace=namespace, id=ack_id)
    return EnginePacket(eio.MESSAGE, data=packet.encode()).encode()
