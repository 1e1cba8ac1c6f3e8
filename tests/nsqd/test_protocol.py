"""
Tests for L{txnsq.nsqd.protocol} and L{txnsq.nsqd._protocolv2}: nsqd's V2
TCP protocol over an in-memory transport, with a fake clock.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

from zope.interface.verify import verifyObject

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    ILoggingContext,
    IProtocol,
    IPushProducer,
)
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, StringTransport
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd._clientv2 import (
    STATE_CLOSING,
    STATE_INIT,
    STATE_SUBSCRIBED,
    ClientV2,
)
from txnsq.nsqd._pump import MessagePump
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.protocol import NSQDFactory, NSQDProtocol
from txnsq.nsqd.state import Broker, Topic
from txnsq.nsqd.state import channel as channelModule
from txnsq.wire.commands import encodeCommand, encodeIdentify, encodeMPub
from txnsq.wire.frames import (
    FRAME_TYPE_ERROR,
    FRAME_TYPE_MESSAGE,
    FRAME_TYPE_RESPONSE,
    FrameDecoder,
)
from txnsq.wire.message import decodeMessage

OK = (FRAME_TYPE_RESPONSE, b"OK")
HEARTBEAT = (FRAME_TYPE_RESPONSE, b"_heartbeat_")
CLOSE_WAIT = (FRAME_TYPE_RESPONSE, b"CLOSE_WAIT")

Frame = tuple[int, bytes]


def error(text: bytes) -> Frame:
    """
    An error frame's decoded form.
    """
    return (FRAME_TYPE_ERROR, text)


class RecordingTransport(StringTransport):
    """
    A L{StringTransport} that remembers each C{write}/C{writeSequence} call,
    to check that message frames are coalesced.

    @ivar calls: one list of byte strings per call (one item for C{write}).
    """

    def __init__(self, port: int) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "10.1.2.3", port))
        self.calls: list[list[bytes]] = []
        self.noDelay = False

    def write(self, data: bytes) -> None:
        self.calls.append([data])
        super().write(data)

    def writeSequence(self, data: Sequence[bytes]) -> None:
        self.calls.append(list(data))
        super().writeSequence(data)

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.noDelay = enabled


class Client:
    """
    One connection to the protocol under test.

    @ivar connection: the protocol the factory built for it (which reads
        the magic, then serves protocol V2).
    """

    def __init__(self, connection: NSQDProtocol, transport: RecordingTransport) -> None:
        self.connection = connection
        self.transport = transport
        self._decoder = FrameDecoder()

    @property
    def protocol(self) -> NSQDProtocol:
        """
        The connection (it reads its magic itself, then serves V2).
        """
        return self.connection

    @property
    def state(self) -> ClientV2:
        """
        The client's state (what C{/stats} reads).
        """
        return self.protocol.client

    @property
    def producer(self) -> IPushProducer:
        """
        The transport's streaming producer.
        """
        producer = self.transport.producer
        assert IPushProducer.providedBy(producer)
        return producer

    def send(self, data: bytes) -> None:
        """
        Deliver C{data} to the server.
        """
        self.connection.dataReceived(data)

    def frames(self) -> list[Frame]:
        """
        Every frame written since the last call.
        """
        data = self.transport.value()
        self.transport.clear()
        return list(self._decoder.feed(data))

    def messages(self) -> list[tuple[int, int, bytes, bytes]]:
        """
        The message frames written since the last call, decoded; any other
        frame fails the test.
        """
        out = []
        for frameType, data in self.frames():
            assert frameType == FRAME_TYPE_MESSAGE, (frameType, data)
            out.append(decodeMessage(data))
        return out

    @property
    def closed(self) -> bool:
        """
        Whether the server asked to close the connection.
        """
        return bool(self.transport.disconnecting)

    def lose(self) -> None:
        """
        The connection is gone.
        """
        self.connection.connectionLost(Failure(ConnectionDone()))


class ProtocolTestCase(SynchronousTestCase):
    """
    A factory over a fresh broker and a L{Clock}.
    """

    def setUp(self) -> None:
        self.setUpFactory()

    def setUpFactory(self, **kwargs: Any) -> None:
        """
        (Re)build the factory with config overrides.
        """
        kwargs.setdefault("node_id", 7)
        kwargs.setdefault("broadcast_address", "127.0.0.1")
        self.config = NSQDConfig(**kwargs)
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.broker = Broker(self.config)
        self.factory = NSQDFactory(self.broker, self.config, self.clock)
        self._port = 40000

    def connect(self, magic: bool = True) -> Client:
        """
        A new connection, with the magic sent unless told otherwise.
        """
        self._port += 1
        address = IPv4Address("TCP", "10.1.2.3", self._port)
        connection = self.factory.buildProtocol(address)
        transport = RecordingTransport(self._port)
        connection.makeConnection(transport)
        client = Client(connection, transport)
        if magic:
            client.send(b"  V2")
        return client

    def subscriber(
        self, topic: str = "t", channel: str = "c", rdy: int = 0, **identify: Any
    ) -> Client:
        """
        A connection subscribed to C{topic:channel}, with C{RDY rdy}.
        """
        client = self.connect()
        if identify:
            client.send(encodeIdentify(identify))
            self.assertEqual(client.frames(), [OK])
        client.send(encodeCommand(b"SUB", topic.encode(), channel.encode()))
        self.assertEqual(client.frames(), [OK])
        if rdy:
            client.send(b"RDY %d\n" % (rdy,))
        return client

    def publish(self, *bodies: bytes, topic: bytes = b"t") -> None:
        """
        Publish from a separate producer connection.
        """
        producer = self.connect()
        if len(bodies) == 1:
            producer.send(encodeCommand(b"PUB", topic, body=bodies[0]))
        else:
            producer.send(encodeMPub(topic, list(bodies)))
        self.assertEqual(producer.frames(), [OK])

    def assertFatal(self, client: Client, text: bytes) -> None:
        """
        The connection got exactly one error frame with C{text} and is
        being closed; it ignores anything sent afterwards.
        """
        self.assertEqual(client.frames(), [error(text)])
        self.assertTrue(client.closed)
        client.send(b"NOP\nPUB t\n\x00\x00\x00\x01x")
        self.assertEqual(client.frames(), [])


class MagicTests(ProtocolTestCase):
    """
    The connection starts with the 4-byte magic C{"  V2"}.
    """

    def test_wrongMagic(self) -> None:
        """
        Any other magic gets C{E_BAD_PROTOCOL} (no text) and a close.
        """
        for magic in (b"  V1", b"GET / HTTP/1.1\r\n", b"V2  "):
            client = self.connect(magic=False)
            client.send(magic)
            self.assertFatal(client, b"E_BAD_PROTOCOL")

    def test_split(self) -> None:
        """
        The magic may arrive a byte at a time, and commands may follow it
        in the same chunk.
        """
        client = self.connect(magic=False)
        for byte in b"  V":
            client.send(bytes([byte]))
        client.send(b"2PUB t\n\x00\x00\x00\x01x")
        self.assertEqual(client.frames(), [OK])

    def test_noDelay(self) -> None:
        """
        TCP_NODELAY is set, as Go does.
        """
        client = self.connect()
        self.assertTrue(client.transport.noDelay)

    def test_registersProducer(self) -> None:
        """
        Once the client may take messages (its first RDY above 0), the
        connection's message pump (the broker's consumer for it) is the
        transport's streaming producer; an idle connection never registers.
        """
        client = self.connect()
        client.send(b"SUB t c\nRDY 0\n")
        self.assertIsNone(client.transport.producer)
        client.send(b"RDY 1\nRDY 0\nRDY 2\n")
        producer = client.transport.producer
        assert isinstance(producer, MessagePump)
        self.assertIs(producer.client, client.state)
        self.assertTrue(client.transport.streaming)

    def test_magicThenV2(self) -> None:
        """
        The connection the factory builds reads its magic itself, then the
        same object serves V2 on the same transport (no sniffer wrapping
        it, nor one handed over to): it becomes one of the factory's V2
        connections, gets every later byte and the connection's loss.
        """
        client = self.connect(magic=False)
        connection = client.connection
        self.assertIsInstance(connection, NSQDProtocol)
        self.assertEqual(self.factory.connections, set())
        self.assertEqual(self.factory.awaitingMagic, {connection})
        client.send(b"  V2")
        self.assertIs(connection.transport, client.transport)
        self.assertEqual(self.factory.connections, {connection})
        self.assertEqual(self.factory.awaitingMagic, set())
        client.send(encodeCommand(b"PUB", b"t", body=b"x"))
        self.assertEqual(client.frames(), [OK])
        self.assertEqual(connection.client.pubCounts, {"t": 1})
        client.lose()
        self.assertEqual(self.factory.connections, set())

    def test_protocolInterfaces(self) -> None:
        """
        Without Twisted's C{Protocol} as its base, the connection still
        provides what Twisted's transports use: C{IProtocol},
        C{ILoggingContext} and C{IHalfCloseableProtocol}.
        """
        connection = self.connect(magic=False).connection
        verifyObject(IProtocol, connection)
        verifyObject(ILoggingContext, connection)
        verifyObject(IHalfCloseableProtocol, connection)
        self.assertEqual(connection.logPrefix(), "NSQDProtocol")

    def test_slots(self) -> None:
        """
        The objects an idle connection keeps are slotted, with no instance
        C{__dict__}: thousands of idle consumers are what nsqd holds most
        of (bench/README.md, per-connection memory).
        """
        client = self.connect()
        client.send(encodeIdentify({"client_id": "c", "hostname": "h"}))
        client.send(b"SUB t c\nRDY 1\n")
        connection = client.connection
        objects = [
            connection,
            connection.client,
            connection._decoder,
            connection._output,
            connection._pump,
        ]
        for kept in objects:
            self.assertFalse(
                hasattr(kept, "__dict__"), f"{type(kept).__name__} has a __dict__"
            )

    def test_heartbeatsStartWithMagic(self) -> None:
        """
        Go starts the heartbeat ticker when the magic has been read: a
        client that waits 29 s before sending it gets its first heartbeat
        30 s after the magic, and no frame at all before the magic.
        """
        client = self.connect(magic=False)
        self.clock.advance(29)
        client.send(b"  V2")
        self.clock.advance(2)
        self.assertEqual(
            client.frames(),
            [],
            "a heartbeat was sent 30 s after the connection was made, "
            "not 30 s after the magic",
        )
        self.clock.advance(28)
        self.assertEqual(client.frames(), [HEARTBEAT])


class CommandTests(ProtocolTestCase):
    """
    Each command's effect and reply.
    """

    def test_identifyPlain(self) -> None:
        """
        IDENTIFY without feature negotiation answers C{OK} and records the
        client's names; before IDENTIFY they are the peer's address.
        """
        client = self.connect()
        self.assertEqual(client.state.clientID, "10.1.2.3")
        self.assertEqual(client.state.hostname, "10.1.2.3")
        client.send(
            encodeIdentify({"client_id": "c1", "hostname": "h", "user_agent": "u"})
        )
        self.assertEqual(client.frames(), [OK])
        state = client.state
        self.assertEqual(
            (state.clientID, state.hostname, state.userAgent), ("c1", "h", "u")
        )

    def test_identifyOmittedNames(self) -> None:
        """
        After an IDENTIFY that omits them, client id and hostname are empty.
        """
        client = self.connect()
        client.send(encodeIdentify({}))
        self.assertEqual((client.state.clientID, client.state.hostname), ("", ""))

    def test_identifyFeatureNegotiation(self) -> None:
        """
        With feature negotiation the reply is Go's JSON, with compression
        and TLS off when not asked for.
        """
        client = self.connect()
        client.send(encodeIdentify({"feature_negotiation": True, "msg_timeout": 30000}))
        [(frameType, data)] = client.frames()
        self.assertEqual(frameType, FRAME_TYPE_RESPONSE)
        self.assertEqual(
            data,
            b'{"max_rdy_count":2500,"version":"1.3.0","max_msg_timeout":900000,'
            b'"msg_timeout":30000,"tls_v1":false,"deflate":false,"deflate_level":6,'
            b'"max_deflate_level":6,"snappy":false,"sample_rate":0,'
            b'"auth_required":false,"output_buffer_size":16384,'
            b'"output_buffer_timeout":250}',
        )
        self.assertEqual(client.state.msgTimeout, 30.0)

    def test_identifyLimitsFromConfig(self) -> None:
        """
        The reply reflects nsqd's configured limits.
        """
        self.setUpFactory(max_rdy_count=50, max_msg_timeout=120.0, msg_timeout=10.0)
        client = self.connect()
        client.send(encodeIdentify({"feature_negotiation": True}))
        [(_, data)] = client.frames()
        reply = json.loads(data)
        self.assertEqual(
            (reply["max_rdy_count"], reply["max_msg_timeout"], reply["msg_timeout"]),
            (50, 120000, 10000),
        )

    def test_identifyTwice(self) -> None:
        """
        A second IDENTIFY in the init state is answered again.
        """
        client = self.connect()
        client.send(encodeIdentify({}))
        client.send(encodeIdentify({"feature_negotiation": True}))
        frames = client.frames()
        self.assertEqual(frames[0], OK)
        self.assertEqual(json.loads(frames[1][1])["msg_timeout"], 60000)

    def test_secondIdentifyKeepsSettings(self) -> None:
        """
        Go applies IDENTIFY values to the client in place, and zero means
        "leave as is" for the output buffer and the message timeout, so a
        second IDENTIFY reports the values the first one set.
        """
        client = self.connect()
        client.send(encodeIdentify({"output_buffer_size": 128, "msg_timeout": 5000}))
        client.send(encodeIdentify({"feature_negotiation": True}))
        reply = json.loads(client.frames()[1][1])
        self.assertEqual(
            (reply["output_buffer_size"], reply["msg_timeout"]),
            (128, 5000),
            "the second IDENTIFY's reply shows defaults instead of the values "
            "the first IDENTIFY set",
        )

    def test_identifyError(self) -> None:
        """
        An invalid IDENTIFY value is fatal with Go's text.
        """
        client = self.connect()
        client.send(encodeIdentify({"heartbeat_interval": 999}))
        self.assertFatal(
            client, b"E_BAD_BODY IDENTIFY heartbeat interval (999) is invalid"
        )

    def test_pub(self) -> None:
        """
        PUB answers C{OK}, stores the message and counts it per topic.
        """
        client = self.connect()
        client.send(encodeCommand(b"PUB", b"t", body=b"hello"))
        client.send(encodeCommand(b"PUB", b"t", body=b"again"))
        self.assertEqual(client.frames(), [OK, OK])
        topic = self.broker.topics["t"]
        self.assertEqual((topic.depth(), topic.messageCount), (2, 2))
        self.assertEqual(client.state.pubCounts, {"t": 2})

    def test_mpub(self) -> None:
        """
        MPUB answers one C{OK} for all its messages.
        """
        client = self.connect()
        client.send(encodeMPub(b"t", [b"1", b"2", b"3"]))
        self.assertEqual(client.frames(), [OK])
        self.assertEqual(self.broker.topics["t"].depth(), 3)
        self.assertEqual(client.state.pubCounts, {"t": 3})

    def test_mpubCreatesTopicBeforeBody(self) -> None:
        """
        Go creates the topic when the MPUB line is read, so even a rejected
        body leaves the topic behind.
        """
        client = self.connect()
        client.send(b"MPUB t\n" + struct.pack(">ii", 8, 0))
        self.assertFatal(client, b"E_BAD_BODY MPUB invalid message count 0")
        self.assertIn("t", self.broker.topics)

    def test_dpub(self) -> None:
        """
        DPUB answers C{OK}; the message is delivered once its delay passed.
        """
        consumer = self.subscriber(rdy=1)
        producer = self.connect()
        producer.send(encodeCommand(b"DPUB", b"t", b"1500", body=b"later"))
        self.assertEqual(producer.frames(), [OK])
        self.clock.advance(1.4)
        self.broker.queueScan(self.clock.seconds())
        self.clock.advance(0)
        self.assertEqual(consumer.frames(), [])
        self.clock.advance(0.1)
        self.broker.queueScan(self.clock.seconds())
        self.clock.advance(0)
        [(_, attempts, _, body)] = consumer.messages()
        self.assertEqual((attempts, body), (1, b"later"))

    def test_sub(self) -> None:
        """
        SUB answers C{OK} and joins the channel with RDY 0.
        """
        client = self.subscriber()
        self.assertEqual(client.state.state, STATE_SUBSCRIBED)
        self.assertEqual(
            self.broker.topics["t"].channels["c"].consumers, [client.protocol._pump]
        )
        self.assertEqual(client.state.readyCount, 0)

    def test_subMaxConsumers(self) -> None:
        """
        Beyond C{--max-channel-consumers}, SUB fails with Go's text.
        """
        self.setUpFactory(max_channel_consumers=1)
        self.subscriber()
        client = self.connect()
        client.send(b"SUB t c\n")
        self.assertFatal(
            client, b"E_SUB_FAILED SUB failed consumers for t:c exceeds limit of 1"
        )

    def test_rdy(self) -> None:
        """
        RDY sets the window; without a count it is 1.
        """
        client = self.subscriber()
        client.send(b"RDY 5\n")
        self.assertEqual(client.state.readyCount, 5)
        client.send(b"RDY\n")
        self.assertEqual(client.state.readyCount, 1)
        client.send(b"RDY 2500\n")
        self.assertEqual(client.frames(), [])

    def test_rdyOverMax(self) -> None:
        """
        RDY above C{--max-rdy-count} is fatal.
        """
        client = self.subscriber()
        client.send(b"RDY 2501\n")
        self.assertFatal(client, b"E_INVALID RDY count 2501 out of range 0-2500")

    def test_rdyConfiguredMax(self) -> None:
        """
        The RDY bound follows the configuration.
        """
        self.setUpFactory(max_rdy_count=10)
        client = self.subscriber()
        client.send(b"RDY 11\n")
        self.assertFatal(client, b"E_INVALID RDY count 11 out of range 0-10")

    def test_fin(self) -> None:
        """
        FIN of a delivered message has no reply and frees the window.
        """
        client = self.subscriber(rdy=1)
        self.publish(b"1", b"2")
        [(_, _, mid, body)] = client.messages()
        self.assertEqual(body, b"1")
        client.send(b"FIN " + mid + b"\n")
        [(_, _, _, body)] = client.messages()
        self.assertEqual(body, b"2")
        self.assertEqual(client.state.finishCount, 1)

    def test_finUnknown(self) -> None:
        """
        FIN of an unknown id is a non-fatal error with the id quoted.
        """
        client = self.subscriber()
        client.send(b"FIN 0000000000000000\n")
        self.assertEqual(
            client.frames(),
            [error(b"E_FIN_FAILED FIN 0000000000000000 failed ID not in flight")],
        )
        self.assertFalse(client.closed)
        client.send(b"CLS\n")
        self.assertEqual(client.frames(), [CLOSE_WAIT])

    def test_finNotOwner(self) -> None:
        """
        FIN of another connection's message: C{client does not own
        message}, non-fatal.
        """
        owner = self.subscriber(rdy=1)
        other = self.subscriber()
        self.publish(b"x")
        [(_, _, mid, _)] = owner.messages()
        other.send(b"FIN " + mid + b"\n")
        self.assertEqual(
            other.frames(),
            [
                error(
                    b"E_FIN_FAILED FIN " + mid + b" failed client does not own message"
                )
            ],
        )
        self.assertFalse(other.closed)

    def test_req(self) -> None:
        """
        REQ 0 redelivers at once with attempts 2, same id and timestamp.
        """
        client = self.subscriber(rdy=1)
        self.publish(b"x")
        [(ts, attempts, mid, _)] = client.messages()
        client.send(b"REQ " + mid + b" 0\n")
        self.assertEqual(client.messages(), [(ts, 2, mid, b"x")])
        self.assertEqual(attempts, 1)
        self.assertEqual(client.state.requeueCount, 1)

    def test_reqDelayClamped(self) -> None:
        """
        A REQ delay above C{--max-req-timeout} is clamped to it, silently.
        """
        self.setUpFactory(max_req_timeout=10.0)
        client = self.subscriber(rdy=1)
        self.publish(b"x")
        [(_, _, mid, _)] = client.messages()
        client.send(b"REQ " + mid + b" 99999999\n")
        self.assertEqual(client.frames(), [])
        self.assertFalse(client.closed)
        self.clock.advance(9.9)
        self.broker.queueScan(self.clock.seconds())
        self.clock.advance(0)
        self.assertEqual(client.frames(), [])
        self.clock.advance(0.1)
        self.broker.queueScan(self.clock.seconds())
        self.clock.advance(0)
        self.assertEqual(client.messages()[0][1:3], (2, mid))

    def test_reqUnknown(self) -> None:
        """
        REQ of an unknown id is non-fatal.
        """
        client = self.subscriber()
        client.send(b"REQ 0000000000000000 0\n")
        self.assertEqual(
            client.frames(),
            [error(b"E_REQ_FAILED REQ 0000000000000000 failed ID not in flight")],
        )
        self.assertFalse(client.closed)

    def test_touch(self) -> None:
        """
        TOUCH restarts the message timeout with the client's own
        C{msg_timeout}.
        """
        client = self.subscriber(rdy=1, msg_timeout=2000)
        self.publish(b"x")
        [(_, _, mid, _)] = client.messages()
        self.clock.advance(1.5)
        client.send(b"TOUCH " + mid + b"\n")
        self.clock.advance(1.9)
        self.broker.queueScan(self.clock.seconds())
        self.clock.advance(0)
        self.assertEqual(client.frames(), [])
        self.clock.advance(0.1)
        self.broker.queueScan(self.clock.seconds())
        self.clock.advance(0)
        [(_, attempts, again, _)] = client.messages()
        self.assertEqual((attempts, again), (2, mid))

    def test_touchUnknown(self) -> None:
        """
        TOUCH of an unknown id is non-fatal.
        """
        client = self.subscriber()
        client.send(b"TOUCH 0000000000000000\n")
        self.assertEqual(
            client.frames(),
            [error(b"E_TOUCH_FAILED TOUCH 0000000000000000 failed ID not in flight")],
        )

    def test_msgTimeout(self) -> None:
        """
        A message not finished within the client's C{msg_timeout} is
        redelivered by the queue scan.
        """
        client = self.subscriber(rdy=1, msg_timeout=1000)
        self.publish(b"x")
        [(_, _, mid, _)] = client.messages()
        self.clock.advance(1.0)
        self.broker.queueScan(self.clock.seconds())
        self.clock.advance(0)
        self.assertEqual(client.messages()[0][1:3], (2, mid))

    def test_cls(self) -> None:
        """
        CLS answers C{CLOSE_WAIT}, stops delivery and keeps the connection;
        RDY is then ignored silently and FIN still works.
        """
        client = self.subscriber(rdy=1)
        self.publish(b"1", b"2")
        [(_, _, mid, _)] = client.messages()
        client.send(b"CLS\n")
        self.assertEqual(client.frames(), [CLOSE_WAIT])
        self.assertEqual(client.state.state, STATE_CLOSING)
        self.assertFalse(client.closed)
        client.send(b"RDY 10\n")
        self.assertEqual(client.state.readyCount, 0)
        client.send(b"FIN " + mid + b"\n")
        self.assertEqual(client.frames(), [])
        self.clock.advance(0)
        self.assertEqual(client.frames(), [])
        self.assertEqual(client.state.finishCount, 1)

    def test_clsPublish(self) -> None:
        """
        A closing connection may still publish.
        """
        client = self.subscriber()
        client.send(b"CLS\n")
        client.send(encodeCommand(b"PUB", b"other", body=b"x"))
        self.assertEqual(client.frames(), [CLOSE_WAIT, OK])

    def test_nop(self) -> None:
        """
        NOP has no reply, in any state.
        """
        client = self.connect()
        client.send(b"NOP\n")
        self.assertEqual(client.frames(), [])
        client.send(b"SUB t c\nNOP\nCLS\nNOP\n")
        self.assertEqual(client.frames(), [OK, CLOSE_WAIT])

    def test_auth(self) -> None:
        """
        AUTH without an auth server configured is C{E_AUTH_DISABLED}.
        """
        client = self.connect()
        client.send(encodeCommand(b"AUTH", body=b"secret"))
        self.assertFatal(client, b"E_AUTH_DISABLED AUTH disabled")

    def test_subscribedCanPublish(self) -> None:
        """
        A subscribed connection may publish, even to its own topic.
        """
        client = self.subscriber(rdy=1)
        client.send(encodeCommand(b"PUB", b"t", body=b"self"))
        frames = client.frames()
        self.assertIn(OK, frames)
        self.assertEqual(len(frames), 2)
        self.assertEqual(decodeMessage(frames[0][1])[3], b"self")

    def test_pipelined(self) -> None:
        """
        Several commands in one chunk are answered in order.
        """
        client = self.connect()
        client.send(
            encodeIdentify({})
            + encodeCommand(b"PUB", b"t", body=b"1")
            + b"NOP\n"
            + encodeCommand(b"SUB", b"t", b"c")
            + b"CLS\n"
        )
        self.assertEqual(client.frames(), [OK, OK, OK, CLOSE_WAIT])


class StateErrorTests(ProtocolTestCase):
    """
    Commands in the wrong state are fatal with Go's texts.
    """

    def test_beforeSub(self) -> None:
        """
        RDY, FIN, REQ, TOUCH and CLS need a subscription.
        """
        for line in (
            b"RDY 1\n",
            b"FIN 0000000000000000\n",
            b"REQ 0000000000000000 0\n",
            b"TOUCH 0000000000000000\n",
            b"CLS\n",
        ):
            client = self.connect()
            client.send(line)
            name = line.split()[0]
            self.assertFatal(client, b"E_INVALID cannot " + name + b" in current state")

    def test_stateCheckedBeforeParameters(self) -> None:
        """
        The state is checked before the parameters, as in Go.
        """
        client = self.connect()
        client.send(b"FIN\n")
        self.assertFatal(client, b"E_INVALID cannot FIN in current state")

    def test_afterSub(self) -> None:
        """
        IDENTIFY, AUTH and SUB are only allowed before SUB.
        """
        for data in (
            encodeIdentify({}),
            encodeCommand(b"AUTH", body=b"x"),
            b"SUB t c\n",
        ):
            client = self.subscriber()
            client.send(data)
            name = data.split(b"\n")[0].split()[0]
            self.assertFatal(client, b"E_INVALID cannot " + name + b" in current state")

    def test_afterCls(self) -> None:
        """
        IDENTIFY and SUB stay refused after CLS, and CLS cannot repeat.
        """
        for data in (encodeIdentify({}), b"SUB t c\n", b"CLS\n"):
            client = self.subscriber()
            client.send(b"CLS\n")
            self.assertEqual(client.frames(), [CLOSE_WAIT])
            client.send(data)
            name = data.split(b"\n")[0].split()[0]
            self.assertFatal(client, b"E_INVALID cannot " + name + b" in current state")

    def test_subHeartbeatsDisabled(self) -> None:
        """
        SUB after IDENTIFY disabled heartbeats is refused.
        """
        client = self.connect()
        client.send(encodeIdentify({"heartbeat_interval": -1}))
        self.assertEqual(client.frames(), [OK])
        client.send(b"SUB t c\n")
        self.assertFatal(client, b"E_INVALID cannot SUB with heartbeats disabled")

    def test_decoderError(self) -> None:
        """
        Codec errors are written and close the connection.
        """
        client = self.connect()
        client.send(b"FOO\n")
        self.assertFatal(client, b"E_INVALID invalid command FOO")

    def test_lineTooLong(self) -> None:
        """
        An overlong line closes the connection without an error frame.
        """
        client = self.connect()
        client.send(b"a" * 17000)
        self.assertEqual(client.frames(), [])
        self.assertTrue(client.closed)

    def test_pendingFlushedBeforeError(self) -> None:
        """
        Message frames waiting to be written go out before a fatal error
        frame.
        """
        client = self.subscriber(rdy=1)
        client.send(encodeCommand(b"PUB", b"t", body=b"m") + b"BAD\n")
        frames = client.frames()
        self.assertEqual(frames[0][0], FRAME_TYPE_MESSAGE)
        self.assertEqual(frames[-1], error(b"E_INVALID invalid command BAD"))


class HeartbeatTests(ProtocolTestCase):
    """
    Heartbeats on a fixed ticker, and the close after two silent intervals.
    """

    def test_default(self) -> None:
        """
        Without IDENTIFY, heartbeats come every C{client_timeout / 2} (30 s)
        and 60 s of silence close the connection without an error frame.
        """
        client = self.connect()
        self.clock.advance(29.9)
        self.assertEqual(client.frames(), [])
        self.clock.advance(0.1)
        self.assertEqual(client.frames(), [HEARTBEAT])
        self.assertFalse(client.closed)
        self.clock.advance(29.9)
        self.assertFalse(client.closed)
        self.clock.advance(0.1)
        self.assertTrue(client.closed)
        self.assertNotIn(FRAME_TYPE_ERROR, [f[0] for f in client.frames()])

    def test_configured(self) -> None:
        """
        C{--client-timeout} sets the default interval.
        """
        self.setUpFactory(client_timeout=10.0)
        client = self.connect()
        self.clock.advance(5)
        self.assertEqual(client.frames(), [HEARTBEAT])
        self.clock.advance(5)
        self.assertTrue(client.closed)

    def test_goldenPattern(self) -> None:
        """
        With a 1 s interval from IDENTIFY: heartbeats at 1, 2 and 3 s;
        NOP at 1.5 s; the close comes 2 s after that NOP (golden
        C{heartbeat_and_idle_disconnect}).
        """
        client = self.connect()
        client.send(encodeIdentify({"heartbeat_interval": 1000}))
        self.assertEqual(client.frames(), [OK])
        self.clock.advance(1.0)
        self.assertEqual(client.frames(), [HEARTBEAT])
        self.clock.advance(0.5)
        client.send(b"NOP\n")
        self.clock.advance(0.5)
        self.assertEqual(client.frames(), [HEARTBEAT])
        self.clock.advance(1.0)
        self.assertEqual(client.frames(), [HEARTBEAT])
        self.assertFalse(client.closed)
        self.clock.advance(0.49)
        self.assertFalse(client.closed)
        self.clock.advance(0.01)
        self.assertTrue(client.closed)
        self.assertEqual(client.frames(), [])

    def test_fixedTicker(self) -> None:
        """
        Heartbeats keep their rhythm whatever the client sends, and a
        client that keeps talking is never closed.
        """
        client = self.subscriber(heartbeat_interval=1000)
        for _ in range(10):
            self.clock.advance(0.25)
            client.send(b"NOP\n")
        self.assertEqual(client.frames(), [HEARTBEAT] * 2)
        self.assertFalse(client.closed)

    def test_disabled(self) -> None:
        """
        C{heartbeat_interval: -1} disables heartbeats and the read deadline.
        """
        client = self.connect()
        client.send(encodeIdentify({"heartbeat_interval": -1}))
        self.assertEqual(client.frames(), [OK])
        self.clock.advance(10000)
        self.assertEqual(client.frames(), [])
        self.assertFalse(client.closed)

    def test_stoppedOnClose(self) -> None:
        """
        A closed connection leaves no timer behind.
        """
        client = self.connect()
        client.lose()
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.active()], [])

    def test_stoppedOnFatal(self) -> None:
        """
        After a fatal error no heartbeat is written.
        """
        client = self.connect()
        client.send(b"BAD\n")
        client.frames()
        self.clock.advance(100)
        self.assertEqual(client.frames(), [])


class DeliveryTests(ProtocolTestCase):
    """
    Message frames and how they are written.
    """

    def test_frame(self) -> None:
        """
        A delivery is a message frame with the publish time in nanoseconds,
        attempts 1, a node-7 id and the body.
        """
        client = self.subscriber(rdy=1)
        self.publish(b"hello")
        [(timestamp, attempts, mid, body)] = client.messages()
        self.assertEqual(timestamp, int(self.clock.seconds() * 1e9))
        self.assertEqual((attempts, body), (1, b"hello"))
        self.assertEqual((int(mid, 16) >> 12) & 0x3FF, 7)

    def test_coalesced(self) -> None:
        """
        Messages delivered by one batch of input go out in a single
        C{writeSequence}.
        """
        client = self.subscriber(rdy=5)
        client.transport.calls.clear()
        self.publish(b"1", b"2", b"3", b"4", b"5")
        self.assertEqual(len(client.transport.calls), 1)
        self.assertEqual(len(client.transport.calls[0]), 5)
        self.assertEqual(
            [m[3] for m in client.messages()], [b"1", b"2", b"3", b"4", b"5"]
        )

    def test_coalescedOnRdy(self) -> None:
        """
        Messages released by RDY go out in one C{writeSequence}, written
        before C{dataReceived} returns.
        """
        client = self.subscriber()
        self.publish(b"1", b"2", b"3")
        client.transport.calls.clear()
        client.send(b"RDY 3\n")
        self.assertEqual([len(c) for c in client.transport.calls], [3])

    def test_flushedNextTurn(self) -> None:
        """
        Deliveries made outside C{dataReceived} (a queue scan) are flushed
        at the end of the reactor turn.
        """
        client = self.subscriber(rdy=1, msg_timeout=1000)
        self.publish(b"x")
        client.messages()
        self.clock.advance(1)
        self.broker.queueScan(self.clock.seconds())
        self.assertEqual(client.frames(), [])
        self.clock.advance(0)
        self.assertEqual(len(client.messages()), 1)
        self.factory.flushAll()

    def test_rdyWindow(self) -> None:
        """
        RDY 2 with three messages delivers two until one is finished
        (golden C{rdy_window}).
        """
        client = self.subscriber()
        self.publish(b"m1", b"m2", b"m3")
        client.send(b"RDY 2\n")
        first, second = client.messages()
        self.assertEqual((first[3], second[3]), (b"m1", b"m2"))
        client.send(b"FIN " + first[2] + b"\n")
        self.assertEqual([m[3] for m in client.messages()], [b"m3"])

    def test_rdyZeroStops(self) -> None:
        """
        RDY 0 stops delivery; messages stay queued.
        """
        client = self.subscriber(rdy=1)
        client.send(b"RDY 0\n")
        self.publish(b"x")
        self.assertEqual(client.frames(), [])
        self.assertEqual(self.broker.topics["t"].channels["c"].depth(), 1)

    def test_twoConsumers(self) -> None:
        """
        Two ready consumers of a channel share its messages.
        """
        first = self.subscriber(rdy=10)
        second = self.subscriber(rdy=10)
        self.publish(*[b"%d" % i for i in range(10)])
        a, b = first.messages(), second.messages()
        self.assertEqual(len(a) + len(b), 10)
        self.assertTrue(a and b)

    def test_fanOut(self) -> None:
        """
        Consumers of two channels each get every message.
        """
        first = self.subscriber(channel="a", rdy=10)
        second = self.subscriber(channel="b", rdy=10)
        self.publish(b"1", b"2")
        self.assertEqual([m[3] for m in first.messages()], [b"1", b"2"])
        self.assertEqual([m[3] for m in second.messages()], [b"1", b"2"])

    def test_sampleRate(self) -> None:
        """
        With C{sample_rate} 50, messages whose draw is above 50 are never
        delivered.
        """
        draws = iter([50, 51, 0, 99])

        class FixedRandom:
            def randrange(self, n: int) -> int:
                return next(draws)

        self.patch(channelModule, "random", FixedRandom())
        client = self.subscriber(rdy=10, sample_rate=50)
        self.publish(b"1", b"2", b"3", b"4")
        self.assertEqual([m[3] for m in client.messages()], [b"1", b"3"])


class ProducerTests(ProtocolTestCase):
    """
    The connection is an C{IPushProducer}: a full transport stops delivery.
    """

    def test_pauseResume(self) -> None:
        """
        While paused nothing is delivered; resuming delivers what waited.
        """
        client = self.subscriber(rdy=5)
        client.producer.pauseProducing()
        self.publish(b"1", b"2")
        self.clock.advance(0)
        self.assertEqual(client.frames(), [])
        self.assertEqual(self.broker.topics["t"].channels["c"].depth(), 2)
        client.producer.resumeProducing()
        self.clock.advance(0)
        self.assertEqual([m[3] for m in client.messages()], [b"1", b"2"])

    def test_pausedOtherConsumerServed(self) -> None:
        """
        A paused consumer's share goes to the other consumers.
        """
        slow = self.subscriber(rdy=5)
        fast = self.subscriber(rdy=5)
        slow.producer.pauseProducing()
        self.publish(b"1", b"2", b"3")
        self.assertEqual(len(fast.messages()), 3)
        self.assertEqual(slow.frames(), [])

    def test_pausedStillAnswers(self) -> None:
        """
        Pausing holds back messages only: replies and heartbeats still go.
        """
        client = self.subscriber(rdy=5)
        client.producer.pauseProducing()
        client.send(encodeCommand(b"PUB", b"other", body=b"x"))
        self.assertEqual(client.frames(), [OK])

    def test_stop(self) -> None:
        """
        After C{stopProducing} nothing more is delivered.
        """
        client = self.subscriber(rdy=5)
        client.producer.stopProducing()
        self.publish(b"1")
        self.clock.advance(0)
        self.assertEqual(client.frames(), [])


class TopicStartTests(ProtocolTestCase):
    """
    A command on a topic still learning its channels from nsqlookupd waits
    for it, as Go's blocking C{GetTopic} does, and so does every command
    after it on the connection; other connections are unaffected.
    """

    def setUp(self) -> None:
        super().setUp()
        self.starting: list[Topic] = []
        self.broker.topicStarter = self.starting.append

    def start(self) -> None:
        """
        Let every topic starting now start (those its waiting commands
        create start later).
        """
        starting = list(self.starting)
        del self.starting[:]
        for topic in starting:
            topic.started(self.clock.seconds())

    def test_pubWaits(self) -> None:
        """
        PUB is answered once its topic has started; the commands after it
        run then, in order.
        """
        client = self.connect()
        client.send(
            encodeCommand(b"PUB", b"t", body=b"a")
            + b"NOP\n"
            + encodeCommand(b"PUB", b"u", body=b"b")
        )
        self.assertEqual(client.frames(), [])
        self.assertEqual([t.name for t in self.starting], ["t"])
        other = self.connect()
        other.send(b"NOP\nFOO\n")
        self.assertEqual(other.frames(), [error(b"E_INVALID invalid command FOO")])
        self.start()
        self.assertEqual(client.frames(), [OK])
        self.assertEqual([t.name for t in self.starting], ["u"])
        self.start()
        self.assertEqual(client.frames(), [OK])
        self.assertEqual(client.state.pubCounts, {"t": 1, "u": 1})

    def test_mpubWaitsBeforeBody(self) -> None:
        """
        MPUB waits for its topic before its body is read: a bad body is
        reported only once the topic has started.
        """
        client = self.connect()
        client.send(b"MPUB t\n" + struct.pack(">ii", 8, 0))
        self.assertEqual(client.frames(), [])
        self.assertIn("t", self.broker.topics)
        self.start()
        self.assertFatal(client, b"E_BAD_BODY MPUB invalid message count 0")

    def test_mpubWaits(self) -> None:
        """
        A valid MPUB is published and answered once its topic has started.
        """
        client = self.connect()
        client.send(encodeMPub(b"t", [b"a", b"b"]))
        self.assertEqual(self.broker.topics["t"].messageCount, 0)
        self.start()
        self.assertEqual(client.frames(), [OK])
        self.assertEqual(self.broker.topics["t"].messageCount, 2)

    def test_subWaits(self) -> None:
        """
        SUB joins the channel once the topic has started.
        """
        client = self.connect()
        client.send(b"SUB t c\nRDY 1\n")
        self.assertEqual(client.frames(), [])
        self.assertEqual(client.state.state, STATE_INIT)
        self.start()
        self.assertEqual(client.frames(), [OK])
        self.assertEqual(
            (client.state.state, client.state.readyCount), (STATE_SUBSCRIBED, 1)
        )

    def test_lostWhileWaiting(self) -> None:
        """
        A connection lost while its command waits is not answered when the
        topic starts.
        """
        client = self.connect()
        client.send(encodeCommand(b"PUB", b"t", body=b"a"))
        client.lose()
        self.start()
        self.assertEqual(client.frames(), [])
        self.assertEqual(self.broker.topics["t"].messageCount, 0)


class ConnectionLostTests(ProtocolTestCase):
    """
    What a closed connection leaves behind.
    """

    def test_consumerRemoved(self) -> None:
        """
        The connection leaves its channel and the factory's connections.
        """
        client = self.subscriber()
        channel = self.broker.topics["t"].channels["c"]
        client.lose()
        self.assertEqual(channel.consumers, [])
        self.assertNotIn(client.protocol, self.factory.connections)

    def test_inFlightWaitsForTimeout(self) -> None:
        """
        In-flight messages of a lost connection are redelivered to another
        consumer only once they time out.
        """
        gone = self.subscriber(rdy=1, msg_timeout=5000)
        self.publish(b"x")
        [(_, _, mid, _)] = gone.messages()
        gone.lose()
        other = self.subscriber(rdy=1)
        self.assertEqual(other.frames(), [])
        self.clock.advance(5)
        self.broker.queueScan(self.clock.seconds())
        self.clock.advance(0)
        self.assertEqual(other.messages()[0][1:3], (2, mid))

    def test_ephemeralChannelDeleted(self) -> None:
        """
        The last consumer of an ephemeral channel leaving deletes it, and
        an ephemeral topic left without channels goes too.
        """
        client = self.subscriber(topic="t#ephemeral", channel="c#ephemeral")
        client.lose()
        self.assertNotIn("t#ephemeral", self.broker.topics)

    def test_channelDeletedCloses(self) -> None:
        """
        Deleting the channel closes its consumers' connections.
        """
        client = self.subscriber()
        self.broker.deleteChannel("t", "c")
        self.assertTrue(client.closed)

    def test_noWritesAfterLoss(self) -> None:
        """
        Nothing is written to a lost connection.
        """
        client = self.subscriber(rdy=1)
        client.lose()
        client.send(b"NOP\n")
        self.publish(b"x")
        self.clock.advance(100)
        self.assertEqual(client.frames(), [])

    def test_disconnectAll(self) -> None:
        """
        L{NSQDFactory.disconnectAll} closes every connection.
        """
        clients = [self.connect(), self.subscriber()]
        self.factory.disconnectAll()
        self.assertTrue(all(c.closed for c in clients))

    def test_initialState(self) -> None:
        """
        A new connection is in the init state.
        """
        self.assertEqual(self.connect().state.state, STATE_INIT)


def size(n: int) -> bytes:
    """
    A 4-byte big-endian signed size.
    """
    return struct.pack(">i", n)


#: Input the end of the stream cuts short, and Go nsqd 1.3.0's answer
#: (C{protocol_v2.go}: each C{readLen}/C{io.ReadFull} failure's text), or
#: L{None} for a silent close (a partial line: C{ReadSlice} sees C{io.EOF}).
CUT_SHORT: list[tuple[bytes, bytes | None]] = [
    (b"PUB t\n", b"E_BAD_MESSAGE PUB failed to read message body size"),
    (b"PUB t\n\x00\x00", b"E_BAD_MESSAGE PUB failed to read message body size"),
    (b"PUB t\n" + size(10) + b"abc", b"E_BAD_MESSAGE PUB failed to read message body"),
    (b"DPUB t 10\n", b"E_BAD_MESSAGE DPUB failed to read message body size"),
    (b"DPUB t 10\n" + size(3), b"E_BAD_MESSAGE DPUB failed to read message body"),
    (b"IDENTIFY\n", b"E_BAD_BODY IDENTIFY failed to read body size"),
    (b"IDENTIFY\n" + size(10) + b"{", b"E_BAD_BODY IDENTIFY failed to read body"),
    (b"AUTH\n\x00", b"E_BAD_BODY AUTH failed to read body size"),
    (b"AUTH\n" + size(6) + b"sec", b"E_BAD_BODY AUTH failed to read body"),
    (b"MPUB t\n", b"E_BAD_BODY MPUB failed to read body size"),
    (b"MPUB t\n" + size(20), b"E_BAD_BODY MPUB failed to read message count"),
    (
        b"MPUB t\n" + size(20) + size(2),
        b"E_BAD_MESSAGE MPUB failed to read message(0) body size",
    ),
    (
        b"MPUB t\n" + size(20) + size(2) + size(1) + b"a" + b"\x00",
        b"E_BAD_MESSAGE MPUB failed to read message(1) body size",
    ),
    (
        b"MPUB t\n" + size(20) + size(2) + size(1) + b"a" + size(4) + b"b",
        b"E_BAD_MESSAGE MPUB failed to read message body",
    ),
    (b"PUB t", None),
    (b"NOP", None),
    (b"", None),
]


class HalfCloseTests(ProtocolTestCase):
    """
    A client that shuts down its sending side (C{shutdown(SHUT_WR)}) still
    gets every reply, as from Go's read loop, which answers each command
    before it reads the end of the stream; then the connection closes.
    """

    def test_repliesWritten(self) -> None:
        """
        Commands read before the end are run and answered, then the
        connection closes (Twisted would otherwise drop it, unanswered).
        """
        client = self.connect()
        client.send(encodeCommand(b"PUB", b"t", body=b"a") + b"NOP\n")
        client.send(encodeMPub(b"t", [b"b", b"c"]))
        self.assertEqual(client.frames(), [OK, OK])
        client.send(encodeCommand(b"PUB", b"t", body=b"d"))
        client.connection.readConnectionLost()
        self.assertEqual(client.frames(), [OK])
        self.assertTrue(client.closed)
        self.assertEqual(self.broker.topics["t"].messageCount, 4)

    def test_identifyAnswered(self) -> None:
        """
        An IDENTIFY followed by the end of the stream gets its JSON answer.
        """
        client = self.connect()
        client.send(encodeIdentify({"feature_negotiation": True}))
        client.connection.readConnectionLost()
        [(frameType, data)] = client.frames()
        self.assertEqual(frameType, FRAME_TYPE_RESPONSE)
        self.assertIn("max_rdy_count", json.loads(data))
        self.assertTrue(client.closed)

    def test_errorAnswered(self) -> None:
        """
        A non-fatal error is answered before the close, as a fatal one.
        """
        client = self.subscriber()
        client.send(b"FIN 0000000000000000\n")
        client.connection.readConnectionLost()
        self.assertEqual(
            client.frames(),
            [error(b"E_FIN_FAILED FIN 0000000000000000 failed ID not in flight")],
        )
        self.assertTrue(client.closed)

    def test_cutShort(self) -> None:
        """
        A command the end cuts short gets Go's exact C{failed to read}
        error frame (a partial line, or nothing, a silent close); nothing
        is published.
        """
        for data, text in CUT_SHORT:
            client = self.connect()
            client.send(data)
            self.assertEqual(client.frames(), [], data)
            client.connection.readConnectionLost()
            expected = [] if text is None else [error(text)]
            self.assertEqual(client.frames(), expected, data)
            self.assertTrue(client.closed, data)
            topic = self.broker.topics.get("t")
            self.assertEqual(topic.messageCount if topic else 0, 0, data)

    def test_heldCommandFirst(self) -> None:
        """
        A command waiting for its topic when the stream ends is answered
        once it runs, and the commands after it too; only then does the
        connection close.
        """
        starting: list[Topic] = []
        self.broker.topicStarter = starting.append
        client = self.connect()
        client.send(
            encodeCommand(b"PUB", b"t", body=b"a") + b"NOP\nPUB t\n" + size(5) + b"x"
        )
        client.connection.readConnectionLost()
        self.assertEqual(client.frames(), [])
        self.assertFalse(client.closed)
        [topic] = starting
        topic.started(self.clock.seconds())
        self.assertEqual(
            client.frames(),
            [OK, error(b"E_BAD_MESSAGE PUB failed to read message body")],
        )
        self.assertTrue(client.closed)
        self.assertEqual(topic.messageCount, 1)

    def test_beforeMagic(self) -> None:
        """
        The end of the stream before the magic is complete closes silently,
        as Go's C{failed to read protocol version}.
        """
        client = self.connect(magic=False)
        client.send(b"  V")
        client.connection.readConnectionLost()
        self.assertEqual(client.transport.value(), b"")
        self.assertTrue(client.closed)

    def test_subscriberLeaves(self) -> None:
        """
        A consumer that half-closes stops being offered messages at once,
        and leaves its channel when the connection is gone.
        """
        client = self.subscriber(rdy=5)
        client.connection.readConnectionLost()
        self.assertTrue(client.closed)
        self.publish(b"x")
        self.clock.advance(0)
        self.assertEqual(client.frames(), [])
        client.lose()
        self.assertEqual(self.broker.topics["t"].channels["c"].consumers, [])


class StuckTransport(RecordingTransport):
    """
    A transport whose write buffer never drains (a client that never
    reads): C{loseConnection} never completes; C{abortConnection} loses
    the connection at once, as Twisted's does (on the next turn).

    @ivar aborted: whether the connection was aborted.
    @ivar protocol: the transport's protocol, told of the loss.
    """

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.aborted = False
        self.protocol: NSQDProtocol | None = None

    def abortConnection(self) -> None:
        self.aborted = True
        super().abortConnection()
        assert self.protocol is not None
        self.protocol.connectionLost(Failure(ConnectionDone()))


class DrainingTransport(StuckTransport):
    """
    A transport whose buffer drains at once: C{loseConnection} completes.
    """

    def loseConnection(self) -> None:
        if not self.disconnecting:
            super().loseConnection()
            assert self.protocol is not None
            self.protocol.connectionLost(Failure(ConnectionDone()))


class ForcedCloseTests(ProtocolTestCase):
    """
    A connection nsqd closes is gone for good even when its client stops
    reading: Twisted's C{loseConnection} waits for the write buffer to
    drain, so a client that never reads would stay in C{/stats} with its
    messages in flight for ever.  nsqd aborts it instead, as Go's close
    (and its write deadline) would.
    """

    def connectWith(self, transportType: type[StuckTransport]) -> Client:
        """
        A new connection (magic sent) over a transport of C{transportType}.
        """
        self._port += 1
        connection = self.factory.buildProtocol(IPv4Address("TCP", "10.1.2.3", 1))
        transport = transportType(self._port)
        transport.protocol = connection
        connection.makeConnection(transport)
        client = Client(connection, transport)
        client.send(b"  V2")
        return client

    def stuckSubscriber(self) -> Client:
        """
        A consumer with a 1 s heartbeat that has taken 4 KB messages and
        reads nothing more.
        """
        client = self.connectWith(StuckTransport)
        client.send(
            encodeIdentify({"heartbeat_interval": 1000, "msg_timeout": 5000})
            + b"SUB t c\nRDY 10\n"
        )
        self.publish(*[b"m" * 4096] * 3)
        self.clock.advance(0)
        self.assertEqual(client.state.inFlightCount, 3)
        return client

    def test_timedOutAborted(self) -> None:
        """
        A client silent past its read deadline (two heartbeat intervals)
        whose socket is full is aborted on the next reactor turn (the
        L{Clock} runs it within the same C{advance}): it leaves C{/stats}
        and its channel, and its in-flight messages go to another consumer
        once they time out.
        """
        client = self.stuckSubscriber()
        channel = self.broker.topics["t"].channels["c"]
        self.clock.advance(1.99)
        assert isinstance(client.transport, StuckTransport)
        self.assertFalse(client.closed)
        self.clock.advance(0.01)
        self.assertTrue(client.transport.aborted)
        self.assertNotIn(client.protocol, self.factory.connections)
        self.assertEqual(channel.consumers, [])
        other = self.subscriber(rdy=10)
        self.clock.advance(5)
        self.broker.queueScan(self.clock.seconds())
        self.clock.advance(0)
        self.assertEqual([m[1] for m in other.messages()], [2, 2, 2])

    def test_drainedNotAborted(self) -> None:
        """
        A timed-out client whose buffer drains closes normally and leaves
        no timer behind.
        """
        client = self.connectWith(DrainingTransport)
        client.send(encodeIdentify({"heartbeat_interval": 1000}))
        self.clock.advance(2)
        assert isinstance(client.transport, StuckTransport)
        self.assertTrue(client.closed)
        self.assertNotIn(client.protocol, self.factory.connections)
        self.clock.advance(10)
        self.assertFalse(client.transport.aborted)
        self.assertEqual([c for c in self.clock.getDelayedCalls() if c.active()], [])

    def test_fatalAbortedAfterWriteDeadline(self) -> None:
        """
        After a fatal error, a client that does not take the error frame is
        aborted once its heartbeat interval (Go's write deadline) is over.
        """
        client = self.stuckSubscriber()
        client.send(b"BAD\n")
        assert isinstance(client.transport, StuckTransport)
        self.assertTrue(client.closed)
        self.clock.advance(0.99)
        self.assertFalse(client.transport.aborted)
        self.assertIn(client.protocol, self.factory.connections)
        self.clock.advance(0.01)
        self.assertTrue(client.transport.aborted)
        self.assertNotIn(client.protocol, self.factory.connections)

    def test_halfClosedAborted(self) -> None:
        """
        A client that half-closes and never reads its replies is aborted
        after its write deadline (the default heartbeat interval, 30 s).
        """
        client = self.connectWith(StuckTransport)
        client.send(encodeCommand(b"PUB", b"t", body=b"x"))
        client.connection.readConnectionLost()
        assert isinstance(client.transport, StuckTransport)
        self.clock.advance(29.9)
        self.assertFalse(client.transport.aborted)
        self.clock.advance(0.1)
        self.assertTrue(client.transport.aborted)

    def test_noHeartbeatsClientTimeout(self) -> None:
        """
        With heartbeats disabled (no write deadline in Go), a closing client
        that reads nothing is still aborted, after C{--client-timeout}.
        """
        client = self.connectWith(StuckTransport)
        client.send(encodeIdentify({"heartbeat_interval": -1}) + b"BAD\n")
        assert isinstance(client.transport, StuckTransport)
        self.clock.advance(59.9)
        self.assertFalse(client.transport.aborted)
        self.clock.advance(0.1)
        self.assertTrue(client.transport.aborted)


class GoLogLinesTests(ProtocolTestCase):
    """
    A connection logs what Go nsqd 1.3.0's C{tcp.go}, C{protocol_v2.go} and
    C{client_v2.go} log, in their words and at their levels.
    """

    def setUp(self) -> None:
        super().setUp()
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)

    def lines(self, since: int = 0) -> list[tuple[str, str]]:
        """
        The level name and text of each event logged above DEBUG, from the
        C{since}-th on.
        """
        return [
            (event["log_level"].name, formatEvent(event))
            for event in list(self.events)[since:]
            if event["log_level"] != LogLevel.debug
        ]

    def test_lifetime(self) -> None:
        """
        A client's connection, magic, IDENTIFY (Go's C{%+v} of what it
        sent, Go's zero values for what it did not) and departure are
        logged at INFO.
        """
        client = self.connect()
        client.send(encodeIdentify({"client_id": "c", "user_agent": "ua/1.0"}))
        client.lose()
        self.assertEqual(
            self.lines(),
            [
                ("info", "TCP: new client(10.1.2.3:40001)"),
                ("info", "CLIENT(10.1.2.3:40001): desired protocol magic '  V2'"),
                (
                    "info",
                    "[10.1.2.3:40001] IDENTIFY: {ClientID:c Hostname: "
                    "HeartbeatInterval:0 OutputBufferSize:0 OutputBufferTimeout:0 "
                    "FeatureNegotiation:false TLSv1:false Deflate:false "
                    "DeflateLevel:0 Snappy:false SampleRate:0 UserAgent:ua/1.0 "
                    "MsgTimeout:0}",
                ),
                ("info", "PROTOCOL(V2): [10.1.2.3:40001] exiting ioloop"),
                ("info", "PROTOCOL(V2): [10.1.2.3:40001] exiting messagePump"),
            ],
        )

    def test_badMagic(self) -> None:
        """
        A wrong magic is shown as received, then refused at ERROR.
        """
        client = self.connect(magic=False)
        client.send(b"GET / HTTP/1.1\r\n")
        self.assertEqual(
            self.lines(1),
            [
                ("info", "CLIENT(10.1.2.3:40001): desired protocol magic 'GET '"),
                ("error", "client(10.1.2.3:40001) bad protocol magic 'GET '"),
            ],
        )

    def test_noMagic(self) -> None:
        """
        A client that leaves before sending the whole magic is Go's
        C{failed to read protocol version}: C{EOF} when nothing came,
        C{unexpected EOF} when part of it did; not when nsqd closes it.
        """
        self.connect(magic=False).lose()
        partial = self.connect(magic=False)
        partial.send(b"  ")
        partial.lose()
        stopping = self.connect(magic=False)
        self.factory.disconnectAll()
        stopping.lose()
        self.assertEqual(
            [line for line in self.lines() if line[0] == "error"],
            [
                ("error", "failed to read protocol version - EOF"),
                ("error", "failed to read protocol version - unexpected EOF"),
            ],
        )

    def test_fatalError(self) -> None:
        """
        A fatal error is Go's C{[<client>] - <error>} at ERROR, and the
        connection's end is logged with it (C{client(<client>) - <error>})
        between the two exit lines.
        """
        client = self.connect()
        since = len(self.events)
        client.send(b"BAD\n")
        client.lose()
        self.assertEqual(
            self.lines(since),
            [
                ("error", "[10.1.2.3:40001] - E_INVALID invalid command BAD"),
                ("info", "PROTOCOL(V2): [10.1.2.3:40001] exiting ioloop"),
                ("error", "client(10.1.2.3:40001) - E_INVALID invalid command BAD"),
                ("info", "PROTOCOL(V2): [10.1.2.3:40001] exiting messagePump"),
            ],
        )

    def test_nonFatalError(self) -> None:
        """
        A non-fatal error is logged at ERROR with its parent error, as Go
        logs a C{ClientErr}.
        """
        client = self.subscriber()
        since = len(self.events)
        client.send(b"FIN 0000000000000000\n")
        self.assertEqual(
            self.lines(since),
            [
                (
                    "error",
                    "[10.1.2.3:40001] - E_FIN_FAILED FIN 0000000000000000 failed "
                    "ID not in flight - ID not in flight",
                )
            ],
        )

    def test_heartbeatTimeout(self) -> None:
        """
        A client that stops answering heartbeats is dropped with Go's read
        error: C{client(<client>) - failed to read command - read tcp
        <local>-><remote>: i/o timeout}.
        """
        client = self.connect()
        since = len(self.events)
        self.clock.advance(self.config.client_timeout * 2)
        client.lose()
        self.assertIn(
            (
                "error",
                "client(10.1.2.3:40001) - failed to read command - read tcp "
                "10.0.0.1:12345->10.1.2.3:40001: i/o timeout",
            ),
            self.lines(since),
        )

    def test_reqClamped(self) -> None:
        """
        A REQ delay over C{--max-req-timeout} is logged as Go logs it,
        durations in nanoseconds.
        """
        self.setUpFactory(max_req_timeout=10.0)
        client = self.subscriber(rdy=1)
        self.publish(b"x")
        [(_, _, mid, _)] = client.messages()
        since = len(self.events)
        client.send(b"REQ " + mid + b" 99999999\n")
        self.assertEqual(
            self.lines(since),
            [
                (
                    "info",
                    "PROTOCOL(V2): [10.1.2.3:40001] REQ timeout 99999999000000 out "
                    "of range 0-10000000000. Setting to 10000000000",
                )
            ],
        )

    def test_upgrades(self) -> None:
        """
        Each compression IDENTIFY negotiates is logged as Go's C{upgrading
        connection to ...}.
        """
        snappy = self.connect()
        snappy.send(encodeIdentify({"feature_negotiation": True, "snappy": True}))
        deflate = self.connect()
        deflate.send(
            encodeIdentify(
                {"feature_negotiation": True, "deflate": True, "deflate_level": 3}
            )
        )
        upgrades = [text for _, text in self.lines() if "upgrading" in text]
        self.assertEqual(
            upgrades,
            [
                "PROTOCOL(V2): [10.1.2.3:40001] upgrading connection to snappy",
                "PROTOCOL(V2): [10.1.2.3:40002] upgrading connection to deflate "
                "(level 3)",
            ],
        )
