"""
Tests for nsqd's snappy and deflate stream upgrades: IDENTIFY negotiation
over an in-memory transport (L{txnsq.nsqd._stream}, with the codecs of
L{txnsq.wire.compression}, which are tested alone in
L{tests.wire.test_compression}).
"""

from __future__ import annotations

import json
import struct

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.protocol import NSQDFactory, NSQDProtocol
from txnsq.nsqd.state import Broker
from txnsq.wire.commands import encodeCommand, encodeIdentify
from txnsq.wire.compression import (
    DeflateDecoder,
    DeflateEncoder,
    SnappyDecoder,
    SnappyEncoder,
)
from txnsq.wire.frames import FRAME_TYPE_RESPONSE, FrameDecoder


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    return list(FrameDecoder().feed(data))


class UpgradeTests(SynchronousTestCase):
    """
    IDENTIFY switches both directions of a connection to the negotiated
    compression, Go's way: JSON in plaintext, then C{OK} compressed.
    """

    def connect(self, **config: object) -> tuple[NSQDProtocol, StringTransport]:
        """
        A connection that has sent the magic.
        """
        settings = NSQDConfig(node_id=1, **config)  # type: ignore[arg-type]
        factory = NSQDFactory(Broker(settings), settings, Clock())
        protocol = factory.buildProtocol(None)  # type: ignore[arg-type]
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"  V2")
        return protocol, transport

    def negotiate(
        self, request: dict[str, object], **config: object
    ) -> tuple[NSQDProtocol, StringTransport, dict[str, object], bytes]:
        """
        Send IDENTIFY; return the JSON reply and the bytes after it.
        """
        protocol, transport = self.connect(**config)
        protocol.dataReceived(encodeIdentify({"feature_negotiation": True, **request}))
        data = transport.value()
        transport.clear()
        (size,) = struct.unpack(">i", data[:4])
        reply = json.loads(data[8 : 4 + size])
        return protocol, transport, reply, data[4 + size :]

    def test_snappy(self) -> None:
        """
        With snappy, the reply says so and C{OK} follows in a snappy
        stream; later commands are read through snappy too.
        """
        protocol, transport, reply, rest = self.negotiate({"snappy": True})
        self.assertTrue(reply["snappy"])
        decode = SnappyDecoder()
        self.assertEqual(_frames(decode(rest)), [(FRAME_TYPE_RESPONSE, b"OK")])
        encode = SnappyEncoder()
        protocol.dataReceived(encode(encodeCommand(b"PUB", b"t", body=b"hi")))
        self.assertEqual(
            _frames(decode(transport.value())), [(FRAME_TYPE_RESPONSE, b"OK")]
        )

    def test_deflate(self) -> None:
        """
        With deflate, the level is the requested one (clamped to the
        maximum) and C{OK} follows deflated.
        """
        protocol, transport, reply, rest = self.negotiate(
            {"deflate": True, "deflate_level": 9}
        )
        self.assertEqual((reply["deflate"], reply["deflate_level"]), (True, 6))
        decode = DeflateDecoder()
        self.assertEqual(_frames(decode(rest)), [(FRAME_TYPE_RESPONSE, b"OK")])
        protocol.dataReceived(DeflateEncoder(6)(encodeCommand(b"NOP")))
        self.assertFalse(transport.disconnecting)

    def test_pipelinedAfterIdentify(self) -> None:
        """
        Bytes that arrive in the same read as IDENTIFY belong to the new
        stream and are decoded by it.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(
            encodeIdentify({"feature_negotiation": True, "deflate": True})
            + DeflateEncoder(6)(encodeCommand(b"PUB", b"t", body=b"x"))
        )
        data = transport.value()
        (size,) = struct.unpack(">i", data[:4])
        frames = _frames(DeflateDecoder()(data[4 + size :]))
        self.assertEqual(frames, [(FRAME_TYPE_RESPONSE, b"OK")] * 2)

    def test_disabled(self) -> None:
        """
        C{--snappy=false} and C{--deflate=false} answer C{false} and keep
        the stream plain.
        """
        _, _, reply, rest = self.negotiate(
            {"snappy": True}, snappy=False, deflate=False
        )
        self.assertFalse(reply["snappy"])
        self.assertEqual(rest, b"")

    def test_badStreamDrops(self) -> None:
        """
        Garbage in a compressed stream closes the connection without an
        error frame, as Go's reader failing does.
        """
        protocol, transport, _, _ = self.negotiate({"snappy": True})
        protocol.dataReceived(b"\x02\x00\x00\x00")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_withoutNegotiation(self) -> None:
        """
        Without C{feature_negotiation}, asking for snappy changes nothing:
        the reply is a plain C{OK}.
        """
        protocol, transport = self.connect()
        protocol.dataReceived(encodeIdentify({"snappy": True}))
        self.assertEqual(_frames(transport.value()), [(FRAME_TYPE_RESPONSE, b"OK")])
