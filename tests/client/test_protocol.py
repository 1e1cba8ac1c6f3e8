"""
Tests for L{txnsq.client.protocol.NSQClientProtocol}: byte-level behaviour
on a L{StringTransport}, then against the real nsqd protocol in memory.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from tests.client._memory import MemoryNetwork
from txnsq.client import (
    ConnectionClosed,
    IdentifyOptions,
    IdentifyResponse,
    NSQBadMessage,
    NSQBadTopic,
    NSQClientProtocol,
    NSQError,
    NSQInvalid,
    NSQMessageNotInFlight,
    UnexpectedResponse,
)
from txnsq.client.protocol import MAGIC_V2
from txnsq.wire.compression import SNAPPY_STREAM_IDENTIFIER, SnappyEncoder
from txnsq.wire.frames import (
    FRAME_TYPE_ERROR,
    encodeError,
    encodeFrame,
    encodeMessageFrame,
    encodeResponse,
)

MESSAGE_ID = b"0123456789abcdef"


class RecordingDelegate:
    """
    A L{ClientDelegate} that records what it is told.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[int, int, bytes, bytes]] = []
        self.heartbeats = 0
        self.errors: list[NSQError] = []
        self.closed: list[Failure] = []

    def messageReceived(
        self,
        connection: NSQClientProtocol,
        timestamp: int,
        attempts: int,
        messageID: bytes,
        body: bytes,
    ) -> None:
        """
        Record a message.
        """
        self.messages.append((timestamp, attempts, messageID, body))

    def heartbeatReceived(self, connection: NSQClientProtocol) -> None:
        """
        Count a heartbeat.
        """
        self.heartbeats += 1

    def errorReceived(self, connection: NSQClientProtocol, error: NSQError) -> None:
        """
        Record an error.
        """
        self.errors.append(error)

    def connectionClosed(self, connection: NSQClientProtocol, reason: Failure) -> None:
        """
        Record the end.
        """
        self.closed.append(reason)


def connected(
    clock: Clock | None = None,
) -> tuple[NSQClientProtocol, StringTransport, RecordingDelegate]:
    """
    A protocol on a L{StringTransport}, connected, magic cleared.
    """
    delegate = RecordingDelegate()
    protocol = NSQClientProtocol(clock or Clock(), delegate)
    transport = StringTransport()
    protocol.makeConnection(transport)
    transport.clear()
    return protocol, transport, delegate


def identified(
    clock: Clock | None = None, options: IdentifyOptions | None = None
) -> tuple[NSQClientProtocol, StringTransport, RecordingDelegate]:
    """
    As L{connected}, after an IDENTIFY answered C{OK}.
    """
    protocol, transport, delegate = connected(clock)
    protocol.identify(options or IdentifyOptions(featureNegotiation=False))
    protocol.dataReceived(encodeResponse(b"OK"))
    transport.clear()
    return protocol, transport, delegate


def identifyBody(written: bytes) -> dict[str, Any]:
    """
    The JSON body of an IDENTIFY command in C{written}.
    """
    line, rest = written.split(b"\n", 1)
    assert line == b"IDENTIFY", line
    (size,) = struct.unpack(">i", rest[:4])
    assert len(rest) == 4 + size
    body: dict[str, Any] = json.loads(rest[4:])
    return body


class ConnectionTests(SynchronousTestCase):
    """
    Connecting and closing.
    """

    def test_magic(self) -> None:
        """
        The first bytes on a new connection are the V2 magic, and nothing
        else is sent unasked.
        """
        protocol = NSQClientProtocol(Clock())
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.assertEqual(transport.value(), MAGIC_V2)
        self.assertEqual(MAGIC_V2, b"  V2")

    def test_lostFailsPending(self) -> None:
        """
        When the connection ends, every command still waiting fails with
        L{ConnectionClosed} (carrying the reason), the delegate hears of it,
        and later commands fail at once without writing.
        """
        protocol, transport, delegate = identified()
        first = protocol.publish("t", b"a")
        second = protocol.startClose()
        reason = Failure(ConnectionDone())
        protocol.connectionLost(reason)
        for d in (first, second):
            error = self.failureResultOf(d, ConnectionClosed).value
            self.assertIs(error.reason, reason)
        self.assertEqual(delegate.closed, [reason])
        transport.clear()
        self.failureResultOf(protocol.publish("t", b"b"), ConnectionClosed)
        self.assertFalse(protocol.ready(1))
        self.assertEqual(transport.value(), b"")

    def test_whenClosed(self) -> None:
        """
        L{NSQClientProtocol.whenClosed} fires when the connection ends, and
        at once afterwards.
        """
        protocol, _, _ = connected()
        waiting = protocol.whenClosed()
        self.assertNoResult(waiting)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(waiting)
        self.successResultOf(protocol.whenClosed())


class IdentifyTests(SynchronousTestCase):
    """
    IDENTIFY: what is sent and how the reply is read.
    """

    def test_allOptions(self) -> None:
        """
        Every IDENTIFY option is sent under nsqd's JSON key and unit.
        """
        protocol, transport, _ = connected()
        options = IdentifyOptions(
            clientID="c1",
            hostname="h.example",
            userAgent="ua/1",
            featureNegotiation=True,
            heartbeatIntervalMs=5000,
            outputBufferSize=8192,
            outputBufferTimeoutMs=100,
            sampleRate=50,
            msgTimeoutMs=30000,
            tls=False,
            snappy=False,
            deflate=False,
            deflateLevel=3,
            topologyZone="z",
            topologyRegion="r",
        )
        protocol.identify(options)
        self.assertEqual(
            identifyBody(transport.value()),
            {
                "client_id": "c1",
                "hostname": "h.example",
                "user_agent": "ua/1",
                "feature_negotiation": True,
                "heartbeat_interval": 5000,
                "output_buffer_size": 8192,
                "output_buffer_timeout": 100,
                "sample_rate": 50,
                "msg_timeout": 30000,
                "tls_v1": False,
                "snappy": False,
                "deflate": False,
                "deflate_level": 3,
                "topology_zone": "z",
                "topology_region": "r",
            },
        )

    def test_defaultsLeftOut(self) -> None:
        """
        Options left at L{None} are not sent, so nsqd applies its own
        defaults; identity fields and feature negotiation always are.
        """
        protocol, transport, _ = connected()
        protocol.identify(IdentifyOptions(clientID="c", hostname="h"))
        body = identifyBody(transport.value())
        self.assertEqual(
            set(body),
            {
                "client_id",
                "hostname",
                "user_agent",
                "feature_negotiation",
                "tls_v1",
                "snappy",
                "deflate",
            },
        )
        self.assertTrue(body["user_agent"].startswith("txnsq/"))

    def test_negotiatedReply(self) -> None:
        """
        A JSON reply is parsed into an L{IdentifyResponse} and kept on the
        protocol.
        """
        protocol, _, _ = connected()
        d = protocol.identify(IdentifyOptions())
        reply = {
            "max_rdy_count": 100,
            "version": "1.3.0",
            "max_msg_timeout": 900000,
            "msg_timeout": 60000,
            "tls_v1": False,
            "deflate": False,
            "deflate_level": 6,
            "max_deflate_level": 6,
            "snappy": False,
            "sample_rate": 0,
            "auth_required": True,
            "output_buffer_size": 16384,
            "output_buffer_timeout": 250,
        }
        protocol.dataReceived(encodeResponse(json.dumps(reply).encode()))
        response = self.successResultOf(d)
        self.assertEqual(
            (response.negotiated, response.maxRdyCount, response.version),
            (True, 100, "1.3.0"),
        )
        self.assertTrue(response.authRequired)
        self.assertEqual(response.upgrades, [])
        self.assertIs(protocol.identifyResponse, response)

    def test_okReply(self) -> None:
        """
        A bare C{OK} (no feature negotiation) gives nsqd's defaults,
        including the 2500 C{max_rdy_count} clients must assume.
        """
        protocol, _, _ = connected()
        d = protocol.identify(IdentifyOptions(featureNegotiation=False))
        protocol.dataReceived(encodeResponse(b"OK"))
        response = self.successResultOf(d)
        self.assertEqual(response, IdentifyResponse())
        self.assertEqual(response.maxRdyCount, 2500)
        self.assertFalse(response.negotiated)

    def test_upgradeOKRequired(self) -> None:
        """
        When nsqd switches on snappy, IDENTIFY fires only once nsqd's C{OK}
        arrives through the snappy stream, and later frames are read
        through it too.
        """
        protocol, transport, _ = connected()
        d = protocol.identify(IdentifyOptions(snappy=True))
        encode = SnappyEncoder()
        protocol.dataReceived(
            encodeResponse(json.dumps({"snappy": True}).encode())
            + encode(encodeResponse(b"OK"))
        )
        self.assertTrue(self.successResultOf(d).snappy)
        transport.clear()
        published = protocol.publish("t", b"x")
        self.assertTrue(transport.value().startswith(SNAPPY_STREAM_IDENTIFIER))
        protocol.dataReceived(encode(encodeResponse(b"OK")))
        self.successResultOf(published)

    def test_badReply(self) -> None:
        """
        A reply that is neither C{OK} nor a JSON object fails IDENTIFY and
        drops the connection.
        """
        protocol, transport, _ = connected()
        d = protocol.identify(IdentifyOptions())
        protocol.dataReceived(encodeResponse(b"[1, 2]"))
        self.failureResultOf(d, UnexpectedResponse)
        self.assertTrue(transport.disconnecting)
        self.flushLoggedErrors()

    def test_identifyError(self) -> None:
        """
        An error frame answering IDENTIFY fails it with the typed error.
        """
        protocol, transport, _ = connected()
        d = protocol.identify(IdentifyOptions(heartbeatIntervalMs=999))
        protocol.dataReceived(
            encodeError(b"E_BAD_BODY IDENTIFY heartbeat interval (999) is invalid")
        )
        error = self.failureResultOf(d, NSQError).value
        self.assertEqual(error.code, "E_BAD_BODY")
        self.assertEqual(
            error.description, "IDENTIFY heartbeat interval (999) is invalid"
        )
        self.assertTrue(transport.disconnecting)


class ResponseMatchingTests(SynchronousTestCase):
    """
    Responses and errors are matched, in order, to the commands nsqd
    answers, and only to those.
    """

    def test_fifo(self) -> None:
        """
        Answers go to waiting commands oldest first: C{OK} fires the first
        publish; an error frame fails the second with the L{NSQError}
        subclass for its code, carrying code and text.
        """
        protocol, _, _ = identified()
        first = protocol.publish("t", b"1")
        second = protocol.multiPublish("t", [b"2", b"3"])
        third = protocol.deferredPublish("t", 10, b"4")
        protocol.dataReceived(
            encodeResponse(b"OK") + encodeError(b"E_MPUB_FAILED MPUB failed exiting")
        )
        self.assertIsNone(self.successResultOf(first))
        error = self.failureResultOf(second, NSQError).value
        self.assertEqual(
            (error.code, error.description), ("E_MPUB_FAILED", "MPUB failed exiting")
        )
        self.assertTrue(error.fatal)
        self.assertEqual(type(error).__name__, "NSQPublishFailed")
        # Commands behind a fatal error fail when nsqd closes.
        self.assertNoResult(third)
        protocol.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(third, ConnectionClosed)

    def test_nonFatalErrorNotMatched(self) -> None:
        """
        An C{E_FIN_FAILED} arriving while a publish waits is not taken as
        the publish's answer: it goes to the delegate, the connection stays
        open, and the publish gets the C{OK} that follows.
        """
        protocol, transport, delegate = identified()
        protocol.finish(MESSAGE_ID)
        published = protocol.publish("t", b"x")
        protocol.dataReceived(
            encodeError(b"E_FIN_FAILED FIN 0123456789abcdef failed ID not in flight")
        )
        self.assertNoResult(published)
        [error] = delegate.errors
        self.assertIsInstance(error, NSQMessageNotInFlight)
        self.assertEqual(error.code, "E_FIN_FAILED")
        self.assertFalse(error.fatal)
        self.assertFalse(transport.disconnecting)
        protocol.dataReceived(encodeResponse(b"OK"))
        self.successResultOf(published)

    def test_fatalErrorWithNothingWaiting(self) -> None:
        """
        A fatal error when no command waits (caused by RDY, FIN, REQ, TOUCH
        or NOP) goes to the delegate, and the connection is closed.
        """
        protocol, transport, delegate = identified()
        protocol.dataReceived(
            encodeError(b"E_INVALID RDY count 3000 out of range 0-2500")
        )
        [error] = delegate.errors
        self.assertIsInstance(error, NSQInvalid)
        self.assertTrue(transport.disconnecting)
        self.assertTrue(protocol.closed)

    def test_heartbeat(self) -> None:
        """
        A heartbeat is answered with C{NOP} at once, is reported to the
        delegate, and is never taken as a command's answer.
        """
        protocol, transport, delegate = identified()
        published = protocol.publish("t", b"x")
        transport.clear()
        protocol.dataReceived(encodeResponse(b"_heartbeat_"))
        self.assertEqual(transport.value(), b"NOP\n")
        self.assertEqual(delegate.heartbeats, 1)
        self.assertNoResult(published)

    def test_unexpectedResponse(self) -> None:
        """
        A response when no command waits is a protocol violation: the
        connection is dropped.
        """
        protocol, transport, _ = identified()
        protocol.dataReceived(encodeResponse(b"OK"))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_wrongResponse(self) -> None:
        """
        A publish answered with something other than C{OK} fails with
        L{UnexpectedResponse} and drops the connection.
        """
        protocol, transport, _ = identified()
        published = protocol.publish("t", b"x")
        protocol.dataReceived(encodeResponse(b"CLOSE_WAIT"))
        self.failureResultOf(published, UnexpectedResponse)
        self.assertTrue(transport.disconnecting)

    def test_unknownFrameType(self) -> None:
        """
        A frame type other than response, error or message drops the
        connection.
        """
        protocol, transport, _ = identified()
        protocol.dataReceived(encodeFrame(7, b"?"))
        self.assertTrue(transport.disconnecting)

    def test_frameTooLarge(self) -> None:
        """
        A frame announcing more than C{maxFrameSize} bytes drops the
        connection before buffering it.
        """
        protocol = NSQClientProtocol(Clock(), maxFrameSize=100)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(struct.pack(">ii", 1000, FRAME_TYPE_ERROR))
        self.assertTrue(transport.disconnecting)

    def test_closeWait(self) -> None:
        """
        CLS is written as C{CLS} and fires on C{CLOSE_WAIT}.
        """
        protocol, transport, _ = identified()
        d = protocol.startClose()
        self.assertEqual(transport.value(), b"CLS\n")
        protocol.dataReceived(encodeResponse(b"CLOSE_WAIT"))
        self.successResultOf(d)

    def test_authenticate(self) -> None:
        """
        AUTH sends the secret as a sized body and fires with nsqd's JSON.
        """
        protocol, transport, _ = identified()
        d = protocol.authenticate(b"s3cret")
        self.assertEqual(transport.value(), b"AUTH\n\x00\x00\x00\x06s3cret")
        reply = {"identity": "i", "identity_url": "", "permission_count": 1}
        protocol.dataReceived(encodeResponse(json.dumps(reply).encode()))
        self.assertEqual(self.successResultOf(d), reply)

    def test_splitFrames(self) -> None:
        """
        However the frames are split across reads, the same results come
        out in the same order.
        """
        stream = (
            encodeResponse(b"OK")
            + encodeMessageFrame(123, 2, MESSAGE_ID, b"body")
            + encodeResponse(b"_heartbeat_")
            + encodeError(b"E_TOUCH_FAILED TOUCH x failed")
            + encodeResponse(b"OK")
        )
        for size in (1, 2, 3, 7, 64):
            protocol, _, delegate = identified()
            first = protocol.publish("t", b"1")
            second = protocol.publish("t", b"2")
            for i in range(0, len(stream), size):
                protocol.dataReceived(stream[i : i + size])
            self.successResultOf(first)
            self.successResultOf(second)
            self.assertEqual(delegate.messages, [(123, 2, MESSAGE_ID, b"body")])
            self.assertEqual(delegate.heartbeats, 1)
            self.assertEqual([e.code for e in delegate.errors], ["E_TOUCH_FAILED"])


class CommandTests(SynchronousTestCase):
    """
    The bytes of each command, and local validation.
    """

    def test_unansweredCommands(self) -> None:
        """
        RDY, FIN, REQ, TOUCH and NOP are written as nsqd expects and wait
        for nothing.
        """
        protocol, transport, _ = identified()
        self.assertTrue(protocol.ready(25))
        self.assertTrue(protocol.finish(MESSAGE_ID))
        self.assertTrue(protocol.requeue(MESSAGE_ID, 1500))
        self.assertTrue(protocol.touch(MESSAGE_ID))
        self.assertTrue(protocol.nop())
        self.assertEqual(
            transport.value(),
            b"RDY 25\nFIN 0123456789abcdef\nREQ 0123456789abcdef 1500\n"
            b"TOUCH 0123456789abcdef\nNOP\n",
        )
        self.assertEqual(protocol.pendingCount, 0)

    def test_publishCommands(self) -> None:
        """
        PUB, MPUB and DPUB carry their sized bodies.
        """
        protocol, transport, _ = identified()
        protocol.publish("t", b"abc")
        protocol.multiPublish("t", [b"a", b"bc"])
        protocol.deferredPublish("t", 250, b"d")
        self.assertEqual(
            transport.value(),
            b"PUB t\n\x00\x00\x00\x03abc"
            b"MPUB t\n\x00\x00\x00\x0f\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x02bc"
            b"DPUB t 250\n\x00\x00\x00\x01d",
        )
        self.assertEqual(protocol.pendingCount, 3)

    def test_subscribe(self) -> None:
        """
        SUB names topic and channel and fires on C{OK}.
        """
        protocol, transport, _ = identified()
        d = protocol.subscribe("t", "c#ephemeral")
        self.assertEqual(transport.value(), b"SUB t c#ephemeral\n")
        protocol.dataReceived(encodeResponse(b"OK"))
        self.successResultOf(d)

    def test_localValidation(self) -> None:
        """
        What nsqd would reject as fatal (bad names, empty bodies, an empty
        MPUB, a negative defer) fails locally with nsqd's code and text and
        is not sent, so other commands on the connection are unharmed.
        """
        protocol, transport, _ = identified()
        cases = [
            (
                protocol.publish("bad topic", b"x"),
                "E_BAD_TOPIC",
                'PUB topic name "bad topic" is not valid',
            ),
            (
                protocol.publish("t", b""),
                "E_BAD_MESSAGE",
                "PUB invalid message body size 0",
            ),
            (
                protocol.multiPublish("t", []),
                "E_BAD_BODY",
                "MPUB invalid message count 0",
            ),
            (
                protocol.multiPublish("t", [b"a", b""]),
                "E_BAD_MESSAGE",
                "MPUB invalid message(1) body size 0",
            ),
            (
                protocol.multiPublish("x" * 65, [b"a"]),
                "E_BAD_TOPIC",
                f'E_BAD_TOPIC MPUB topic name "{"x" * 65}" is not valid',
            ),
            (
                protocol.deferredPublish("t", -5, b"a"),
                "E_INVALID",
                "DPUB could not parse timeout -5",
            ),
            (
                protocol.subscribe("t", "c!"),
                "E_BAD_CHANNEL",
                'SUB channel name "c!" is not valid',
            ),
        ]
        for d, code, text in cases:
            error = self.failureResultOf(d, NSQError).value
            self.assertEqual((error.code, error.description), (code, text))
        self.failureResultOf(protocol.publish("bad topic", b"x"), NSQBadTopic)
        self.failureResultOf(protocol.publish("t", b""), NSQBadMessage)
        self.assertEqual(transport.value(), b"")
        self.assertRaises(TypeError, protocol.publish, "t", "text")
        self.assertRaises(ValueError, protocol.finish, b"short")
        self.assertRaises(ValueError, protocol.ready, -1)


class ReadTimeoutTests(SynchronousTestCase):
    """
    A connection that hears nothing for two heartbeat intervals is dropped.
    """

    def test_silenceDrops(self) -> None:
        """
        With a 1 s heartbeat interval, 2 s without a byte from nsqd drop
        the connection; anything received restarts the wait.
        """
        clock = Clock()
        protocol, transport, _ = identified(
            clock, IdentifyOptions(featureNegotiation=False, heartbeatIntervalMs=1000)
        )
        clock.advance(1.5)
        protocol.dataReceived(encodeResponse(b"_heartbeat_"))
        clock.advance(1.9)
        self.assertFalse(transport.disconnecting)
        clock.advance(0.2)
        self.assertTrue(transport.disconnecting)

    def test_disabled(self) -> None:
        """
        With heartbeats disabled (C{-1}) there is no read timeout.
        """
        clock = Clock()
        identified(
            clock, IdentifyOptions(featureNegotiation=False, heartbeatIntervalMs=-1)
        )
        self.assertEqual(clock.getDelayedCalls(), [])


class _ClientFactory(Factory):
    """
    Builds one L{NSQClientProtocol} and remembers it.
    """

    def __init__(self, clock: Clock, delegate: RecordingDelegate) -> None:
        self.clock = clock
        self.delegate = delegate
        self.built: NSQClientProtocol | None = None

    def buildProtocol(self, addr: object) -> NSQClientProtocol:
        """
        Build the protocol.
        """
        self.built = NSQClientProtocol(self.clock, self.delegate)
        return self.built


class AgainstNSQDTests(SynchronousTestCase):
    """
    The protocol against txnsq's nsqd protocol and broker, in memory.
    """

    def connect(
        self, **config: Any
    ) -> tuple[MemoryNetwork, Any, NSQClientProtocol, RecordingDelegate]:
        """
        An in-memory nsqd and a connected client.
        """
        network = MemoryNetwork()
        nsqd = network.nsqd(**config)
        delegate = RecordingDelegate()
        factory = _ClientFactory(network.clock, delegate)
        self.successResultOf(nsqd.endpoint().connect(factory))
        assert factory.built is not None
        return network, nsqd, factory.built, delegate

    def test_identifyNegotiates(self) -> None:
        """
        nsqd's feature-negotiation reply is read: its version and limits.
        """
        network, _, protocol, _ = self.connect(max_rdy_count=200)
        d = protocol.identify(IdentifyOptions(msgTimeoutMs=5000))
        network.flush()
        response = self.successResultOf(d)
        self.assertEqual(response.version, "1.3.0")
        self.assertEqual(response.maxRdyCount, 200)
        self.assertEqual(response.msgTimeoutMs, 5000)
        self.assertEqual(response.upgrades, [])

    def test_publishSubscribeFinish(self) -> None:
        """
        PUB, MPUB and DPUB are answered C{OK}; after SUB and RDY the
        messages arrive with their bodies and first-attempt counts; FIN
        empties nsqd's in-flight table.
        """
        network, nsqd, protocol, delegate = self.connect()
        protocol.identify(IdentifyOptions())
        results = [
            protocol.publish("t", b"one"),
            protocol.multiPublish("t", [b"two", b"three"]),
            protocol.deferredPublish("t", 0, b"four"),
            protocol.subscribe("t", "c"),
        ]
        network.flush()
        for d in results:
            self.assertIsNone(self.successResultOf(d))
        protocol.ready(10)
        network.flush()
        self.assertEqual(
            [m[3] for m in delegate.messages], [b"one", b"two", b"three", b"four"]
        )
        self.assertEqual({m[1] for m in delegate.messages}, {1})
        channel = nsqd.channel("t", "c")
        self.assertEqual(len(channel.inFlight), 4)
        for m in delegate.messages:
            protocol.finish(m[2])
        network.flush()
        self.assertEqual(len(channel.inFlight), 0)
        self.assertEqual(delegate.errors, [])

    def test_compressionUpgrades(self) -> None:
        """
        Against txnsq's nsqd, snappy and deflate are negotiated and a
        publish and a delivery go through the compressed streams.
        """
        for options in (IdentifyOptions(snappy=True), IdentifyOptions(deflate=True)):
            network, _, protocol, delegate = self.connect()
            d = protocol.identify(options)
            network.flush()
            self.assertNotEqual(self.successResultOf(d).upgrades, [])
            results = [protocol.publish("t", b"zipped"), protocol.subscribe("t", "c")]
            network.flush()
            for result in results:
                self.assertIsNone(self.successResultOf(result))
            protocol.ready(1)
            network.flush()
            self.assertEqual([m[3] for m in delegate.messages], [b"zipped"])

    def test_finTwiceNotFatal(self) -> None:
        """
        A second FIN of a message gets nsqd's non-fatal C{E_FIN_FAILED},
        which goes to the delegate; the connection keeps working.
        """
        network, _, protocol, delegate = self.connect()
        protocol.identify(IdentifyOptions())
        protocol.subscribe("t", "c")
        protocol.publish("t", b"x")
        protocol.ready(1)
        network.flush()
        [(_, _, messageID, _)] = delegate.messages
        protocol.finish(messageID)
        protocol.finish(messageID)
        published = protocol.publish("t", b"y")
        network.flush()
        self.successResultOf(published)
        [error] = delegate.errors
        self.assertEqual(
            str(error), f"E_FIN_FAILED FIN {messageID.decode()} failed ID not in flight"
        )
        self.assertFalse(protocol.closed)

    def test_serverErrorTyped(self) -> None:
        """
        A message larger than nsqd's C{--max-msg-size} fails with
        L{NSQBadMessage} carrying nsqd's code and text; nsqd closes the
        connection, so a publish pipelined behind it fails with
        L{ConnectionClosed}.
        """
        network, _, protocol, delegate = self.connect(max_msg_size=10)
        protocol.identify(IdentifyOptions())
        network.flush()
        tooBig = protocol.publish("t", b"x" * 11)
        behind = protocol.publish("t", b"ok")
        network.flush()
        error = self.failureResultOf(tooBig, NSQBadMessage).value
        self.assertEqual(error.code, "E_BAD_MESSAGE")
        self.assertEqual(error.description, "PUB message too big 11 > 10")
        self.failureResultOf(behind, ConnectionClosed)
        self.assertEqual(len(delegate.closed), 1)

    def test_heartbeatsKeepAlive(self) -> None:
        """
        With a 1 s heartbeat interval, a client that does nothing but let
        the protocol answer heartbeats stays connected well past nsqd's
        two-interval read deadline.
        """
        network, nsqd, protocol, delegate = self.connect()
        protocol.identify(IdentifyOptions(heartbeatIntervalMs=1000))
        network.advance(10)
        self.assertGreaterEqual(delegate.heartbeats, 9)
        self.assertFalse(protocol.closed)
        self.assertEqual(len(nsqd.connections), 1)

    def test_clsThenFin(self) -> None:
        """
        After CLS nsqd answers C{CLOSE_WAIT}, delivers nothing more, and
        still accepts FIN for a message in flight.
        """
        network, nsqd, protocol, delegate = self.connect()
        protocol.identify(IdentifyOptions())
        protocol.subscribe("t", "c")
        protocol.publish("t", b"x")
        protocol.ready(1)
        network.flush()
        closing = protocol.startClose()
        network.flush()
        self.successResultOf(closing)
        protocol.publish("t", b"later")
        [(_, _, messageID, _)] = delegate.messages
        protocol.finish(messageID)
        network.flush()
        self.assertEqual(len(delegate.messages), 1)
        self.assertEqual(delegate.errors, [])
        self.assertEqual(len(nsqd.channel("t", "c").inFlight), 0)
