"""
Tests for L{txnsq.nsqd.lookupd}: nsqd's registration with nsqlookupd.

The peers run on a L{MemoryReactorClock}: a connection attempt shows up in
C{reactor.tcpClients}, the test accepts it with a L{StringTransport} (or
refuses it), plays nsqlookupd's side by hand and moves time with
C{advance}.  What the peer writes is decoded with nsqlookupd's own
server-side decoder (L{LookupdCommandDecoder}), so the tests read
L{Identify} / L{Register} / L{Unregister} / L{Ping} records rather than
bytes, except where the bytes themselves are the point (IDENTIFY's body).
"""

from __future__ import annotations

import json
import socket
import struct
from collections import Counter
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.interfaces import IProtocol
from twisted.internet.testing import (
    EventLoggingObserver,
    MemoryReactorClock,
    StringTransport,
)
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from txnsq import NSQ_VERSION
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.lookupd import PEER_TIMEOUT, PING_INTERVAL, LookupdPeers
from txnsq.nsqd.state import Broker
from txnsq.wire.errors import E_BAD_BODY, E_BAD_TOPIC, E_INVALID, ProtocolError
from txnsq.wire.lookup import (
    MAGIC_V1,
    Identify,
    LookupdCommandDecoder,
    LookupdRecord,
    Ping,
    Register,
    Unregister,
    encodeErrorReply,
    encodeReply,
    identifyReplyBody,
)

LOOKUPD = "127.0.0.1:4160"
OTHER_LOOKUPD = "127.0.0.1:5160"

#: What a Go nsqlookupd answers a valid IDENTIFY with.
IDENTIFY_REPLY = encodeReply(
    identifyReplyBody(
        broadcastAddress="lookupd.example",
        hostname="lookupd-host",
        httpPort=4161,
        tcpPort=4160,
        version=NSQ_VERSION,
    )
)
OK = encodeReply(b"OK")

#: ClientService's back-off: the n-th consecutive failure waits
#: C{min(1.5 ** n, 15)} seconds plus a jitter in [0, 1).
JITTER = 1.0

#: HostnameEndpoint reports a refused connection on its next attempt tick
#: (0.3 s); the harness also moves time in steps of C{STEP}.
ATTEMPT_DELAY = 0.3
STEP = 0.05


def _backoff(failures: int) -> float:
    return float(min(1.5**failures, PING_INTERVAL))


class FakeLookupd:
    """
    nsqlookupd's end of one accepted peer connection.

    @ivar protocol: the protocol the connection was made with (the
        endpoint's and ClientService's wrappers included, so losing the
        connection reaches ClientService).
    @ivar transport: the peer's transport; C{value()} is what it wrote.
    """

    def __init__(self, protocol: IProtocol, transport: StringTransport) -> None:
        self.protocol = protocol
        self.transport = transport
        self._decoder = LookupdCommandDecoder()
        self._read = 0
        self.lost = False

    def received(self) -> list[LookupdRecord]:
        """
        The commands the peer sent since the last call, decoded as
        nsqlookupd decodes them (the magic is checked, not returned).
        """
        data = self.transport.value()
        new, self._read = data[self._read :], len(data)
        return self._decoder.feed(new)

    def reply(self, *replies: bytes) -> None:
        """
        Deliver nsqlookupd replies (already framed) to the peer.
        """
        for data in replies:
            self.protocol.dataReceived(data)

    def identified(self) -> list[LookupdRecord]:
        """
        Check the peer sent IDENTIFY, answer it, and return what the peer
        sent next (its registrations).
        """
        [identify] = self.received()
        assert isinstance(identify, Identify), identify
        self.reply(IDENTIFY_REPLY)
        return self.received()

    def acknowledge(self, records: list[LookupdRecord]) -> None:
        """
        Answer each of C{records} with C{OK}.
        """
        self.reply(*(OK for _ in records))

    def close(self) -> None:
        """
        The connection ends (nsqlookupd closed it, or the peer's
        C{loseConnection} completed).
        """
        if not self.lost:
            self.lost = True
            self.protocol.connectionLost(Failure(ConnectionDone()))


class PeersHarness:
    """
    A broker and its L{LookupdPeers} on a L{MemoryReactorClock}, with ways
    to accept or refuse the connections the peers attempt.
    """

    def __init__(
        self,
        addresses: list[str] | None = None,
        ready: Any = None,
        **configChanges: Any,
    ) -> None:
        self.reactor = MemoryReactorClock()
        configChanges.setdefault("broadcast_address", "nsqd.example")
        configChanges.setdefault("broadcast_tcp_port", 4150)
        configChanges.setdefault("broadcast_http_port", 4151)
        self.config = NSQDConfig(
            nsqlookupd_tcp_addresses=[LOOKUPD] if addresses is None else addresses,
            **configChanges,
        )
        self.broker = Broker(self.config)
        self.peers = LookupdPeers(self.config, self.broker, self.reactor, ready)
        self._handled = 0

    def start(self) -> None:
        """
        Start the peers (as nsqd's service does).
        """
        self.peers.startService()

    def attempts(self, address: str = LOOKUPD) -> int:
        """
        How many connections to C{address} were attempted so far.
        """
        host, port = address.rsplit(":", 1)
        return sum(
            1 for c in self.reactor.tcpClients if (c[0], c[1]) == (host, int(port))
        )

    def _pending(self, address: str) -> int:
        host, port = address.rsplit(":", 1)
        index = None
        for i, client in enumerate(self.reactor.tcpClients):
            if (client[0], client[1]) == (host, int(port)):
                index = i
        assert index is not None, f"no connection attempt to {address}"
        return index

    def accept(self, address: str = LOOKUPD) -> FakeLookupd:
        """
        Complete the latest connection attempt to C{address}.
        """
        index = self._pending(address)
        host, port, factory, _, _ = self.reactor.tcpClients[index]
        peerAddress = IPv4Address("TCP", host, port)
        protocol = factory.buildProtocol(peerAddress)
        assert protocol is not None
        transport = StringTransport(peerAddress=peerAddress)
        protocol.makeConnection(transport)
        return FakeLookupd(protocol, transport)

    def refuse(self, address: str = LOOKUPD) -> None:
        """
        Fail the latest connection attempt to C{address}.
        """
        index = self._pending(address)
        factory = self.reactor.tcpClients[index][2]
        connector = self.reactor.connectors[index]
        factory.clientConnectionFailed(connector, Failure(ConnectionRefusedError()))

    def registered(self, address: str = LOOKUPD) -> FakeLookupd:
        """
        Accept a connection, answer IDENTIFY and acknowledge every
        registration: the peer is fully connected.
        """
        lookupd = self.accept(address)
        lookupd.acknowledge(lookupd.identified())
        return lookupd

    def elapse(self, seconds: float) -> None:
        """
        Let C{seconds} pass in small steps, so that whatever is scheduled
        along the way (retries, pings, timeouts) runs in turn.
        """
        end = self.reactor.seconds() + seconds
        while self.reactor.seconds() < end:
            self.reactor.advance(min(STEP, end - self.reactor.seconds()))

    def nextAttemptAfter(self, address: str = LOOKUPD, limit: float = 60.0) -> float:
        """
        Advance the clock in small steps until a new connection to
        C{address} is attempted; return how long that took.
        """
        before = self.attempts(address)
        start = self.reactor.seconds()
        # Small steps: a Clock schedules what runs during one advance()
        # relative to the advanced time, so one big step would not cascade.
        while self.attempts(address) == before:
            if self.reactor.seconds() - start > limit:
                raise AssertionError(f"no new attempt to {address} in {limit}s")
            self.reactor.advance(STEP)
        return self.reactor.seconds() - start


def _expectedIdentify(
    broadcastAddress: str = "nsqd.example", tcpPort: int = 4150, httpPort: int = 4151
) -> bytes:
    """
    The IDENTIFY Go nsqd 1.3.0 sends: C{json.Marshal} of a map, so the keys
    come sorted and there is no white space.
    """
    body = json.dumps(
        {
            "broadcast_address": broadcastAddress,
            "hostname": socket.gethostname(),
            "http_port": httpPort,
            "tcp_port": tcpPort,
            "version": NSQ_VERSION,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    return b"IDENTIFY\n" + struct.pack(">i", len(body)) + body


def _captureLogs(testCase: SynchronousTestCase) -> EventLoggingObserver:
    """
    Collect what is logged during the rest of C{testCase}.
    """
    events = EventLoggingObserver()
    globalLogPublisher.addObserver(events)
    testCase.addCleanup(globalLogPublisher.removeObserver, events)
    return events


def _messages(events: EventLoggingObserver, level: LogLevel | None = None) -> str:
    """
    Every logged message at C{level} (any level if L{None}), one a line.
    """
    return "\n".join(
        formatEvent(event)
        for event in events
        if level is None or event["log_level"] == level
    )


class IdentifyTests(SynchronousTestCase):
    """
    On every connection the peer sends the magic and IDENTIFY, as Go nsqd's
    C{connectCallback} does.
    """

    def test_magicThenIdentify(self) -> None:
        """
        The first bytes on a new connection are C{"  V1"} and then exactly
        Go's IDENTIFY: the JSON keys sorted (C{broadcast_address},
        C{hostname}, C{http_port}, C{tcp_port}, C{version}), the OS host
        name, the configured broadcast address and ports, version 1.3.0.
        """
        harness = PeersHarness()
        harness.start()
        lookupd = harness.accept()
        self.assertEqual(lookupd.transport.value(), MAGIC_V1 + _expectedIdentify())

    def test_identifyValuesFollowConfig(self) -> None:
        """
        The broadcast address and ports in IDENTIFY come from
        C{--broadcast-address}, C{--broadcast-tcp-port} and
        C{--broadcast-http-port}.
        """
        harness = PeersHarness(
            broadcast_address="10.1.2.3",
            broadcast_tcp_port=5150,
            broadcast_http_port=5151,
        )
        harness.start()
        lookupd = harness.accept()
        self.assertEqual(
            lookupd.transport.value(),
            MAGIC_V1 + _expectedIdentify("10.1.2.3", 5150, 5151),
        )

    def test_identifyWaitsUntilListening(self) -> None:
        """
        IDENTIFY waits for C{ready} (nsqd's listeners), so the ports it
        reports are the bound ones even when nsqd listens on port 0.
        """
        listening: Deferred[None] = Deferred()
        harness = PeersHarness(
            ready=lambda: listening, broadcast_tcp_port=0, broadcast_http_port=0
        )
        harness.start()
        lookupd = harness.accept()
        self.assertEqual(lookupd.transport.value(), MAGIC_V1)
        harness.config.broadcast_tcp_port = 40001
        harness.config.broadcast_http_port = 40002
        listening.callback(None)
        self.assertEqual(
            lookupd.transport.value(),
            MAGIC_V1 + _expectedIdentify(tcpPort=40001, httpPort=40002),
        )

    def test_identifyErrorReplyDropsConnection(self) -> None:
        """
        An error reply to IDENTIFY is logged, no REGISTER follows, and the
        connection is dropped (ClientService will retry).
        """
        events = _captureLogs(self)
        harness = PeersHarness()
        harness.broker.getTopic("t")
        harness.start()
        lookupd = harness.accept()
        lookupd.received()
        # What nsqlookupd answers an nsqd that has no HTTP port.
        error = ProtocolError(E_BAD_BODY, "IDENTIFY missing fields")
        lookupd.reply(encodeErrorReply(error))
        self.assertEqual(lookupd.received(), [])
        self.assertTrue(lookupd.transport.disconnecting)
        self.assertIn("E_BAD_BODY IDENTIFY missing fields", _messages(events))

    def test_identifyUnparsableReplyDropsConnection(self) -> None:
        """
        A reply to IDENTIFY that is not JSON makes Go nsqd close the peer
        ("parsing response"): no REGISTER follows and the connection is
        dropped.
        """
        harness = PeersHarness()
        harness.broker.getTopic("t")
        harness.start()
        lookupd = harness.accept()
        lookupd.received()
        lookupd.reply(OK)
        sent = lookupd.received()
        self.assertEqual(
            (sent, lookupd.transport.disconnecting),
            ([], True),
            "Go nsqd closes the lookupd peer when the IDENTIFY reply is not "
            "JSON (json.Unmarshal fails -> lp.Close()); txnsq went on to "
            f"register {sent!r} and kept the connection "
            f"(disconnecting={lookupd.transport.disconnecting})",
        )

    def test_identifyTimeoutDropsConnection(self) -> None:
        """
        No reply to IDENTIFY within Go's 1 s read deadline drops the
        connection; a reply just in time does not.
        """
        harness = PeersHarness()
        harness.start()
        late = harness.accept()
        harness.reactor.advance(PEER_TIMEOUT - 0.01)
        self.assertFalse(late.transport.disconnecting)
        harness.reactor.advance(0.01)
        self.assertTrue(late.transport.disconnecting)

        harness2 = PeersHarness()
        harness2.start()
        onTime = harness2.accept()
        harness2.reactor.advance(PEER_TIMEOUT - 0.01)
        onTime.reply(IDENTIFY_REPLY)
        harness2.reactor.advance(PEER_TIMEOUT)
        self.assertFalse(onTime.transport.disconnecting)


class RegistrationTests(SynchronousTestCase):
    """
    After IDENTIFY's reply the peer registers every topic and channel the
    broker has.
    """

    def setUp(self) -> None:
        self.harness = PeersHarness()
        broker = self.harness.broker
        broker.getChannel("with_channels", "c1", 0)
        broker.getChannel("with_channels", "c2", 0)
        broker.getTopic("bare")
        broker.getChannel("eph#ephemeral", "ch#ephemeral", 0)
        self.harness.start()

    def test_nothingBeforeIdentifyReply(self) -> None:
        """
        No REGISTER is sent before nsqlookupd answered IDENTIFY (it would
        refuse it: C{E_INVALID client must IDENTIFY}).
        """
        lookupd = self.harness.accept()
        [identify] = lookupd.received()
        self.assertIsInstance(identify, Identify)
        self.assertEqual(lookupd.received(), [])

    def test_everyChannelAndTopicRegistered(self) -> None:
        """
        Every channel is registered as C{REGISTER topic channel} and every
        topic without channels as C{REGISTER topic}, ephemeral ones
        included, so nsqlookupd knows the whole topology.
        """
        lookupd = self.harness.accept()
        records = lookupd.identified()
        self.assertTrue(all(isinstance(r, Register) for r in records), records)
        self.assertTrue(
            {
                Register("with_channels", "c1"),
                Register("with_channels", "c2"),
                Register("bare"),
                Register("eph#ephemeral", "ch#ephemeral"),
            }.issubset(records),
            records,
        )

    def test_registrationsExactlyAsGo(self) -> None:
        """
        Go's C{connectCallback} sends C{REGISTER topic channel} for each
        channel, and C{REGISTER topic} only for topics with no channel (a
        channel registration registers its topic too); nothing else.
        """
        lookupd = self.harness.accept()
        records = lookupd.identified()
        expected = Counter(
            [
                Register("with_channels", "c1"),
                Register("with_channels", "c2"),
                Register("bare"),
                Register("eph#ephemeral", "ch#ephemeral"),
            ]
        )
        self.assertEqual(
            Counter(records),
            expected,
            "on connect Go nsqd registers only the channels of a topic that "
            "has channels (no bare REGISTER <topic>); txnsq sent "
            f"{records!r}",
        )

    def test_topologyChangeBeforeIdentifyReplyIncluded(self) -> None:
        """
        Topics created and deleted between connecting and IDENTIFY's reply
        are reflected in the registrations that follow the reply.
        """
        lookupd = self.harness.accept()
        self.harness.broker.getTopic("early")
        self.harness.broker.deleteTopic("bare")
        records = lookupd.identified()
        self.assertIn(Register("early"), records)
        self.assertNotIn(Register("bare"), records)

    def test_topicCreatedDuringRegistrationRegistered(self) -> None:
        """
        A topic created after IDENTIFY's reply, while the registrations are
        still unanswered, is registered too (Go queues the notification
        and sends it once the connect callback is done).
        """
        lookupd = self.harness.accept()
        records = lookupd.identified()
        self.harness.broker.getTopic("late")
        lookupd.acknowledge(records)
        records += lookupd.received()
        self.assertIn(
            Register("late"),
            records,
            "a topic created while the initial REGISTERs await their "
            "replies is never registered (LookupdPeer.send drops it because "
            "_protocol is set only after every REGISTER reply); sent: "
            f"{records!r}",
        )

    def test_topicDeletedDuringRegistrationUnregistered(self) -> None:
        """
        A topic deleted while the initial registrations are unanswered is
        unregistered afterwards, so nsqlookupd does not keep advertising
        it.
        """
        lookupd = self.harness.accept()
        records = lookupd.identified()
        self.assertIn(Register("bare"), records)
        self.harness.broker.deleteTopic("bare")
        lookupd.acknowledge(records)
        later = lookupd.received()
        self.assertIn(
            Unregister("bare"),
            later,
            "a topic deleted while the initial REGISTERs await their replies "
            "stays registered at nsqlookupd (the UNREGISTER is dropped); "
            f"sent afterwards: {later!r}",
        )

    def test_registerErrorReplyLogged(self) -> None:
        """
        An error reply to one of the initial REGISTERs is logged with the
        command and nsqlookupd's error text (nsqlookupd closes the
        connection after it, so without the log the peer would reconnect
        and fail again silently).
        """
        events = _captureLogs(self)
        lookupd = self.harness.accept()
        records = lookupd.identified()
        error = ProtocolError(E_BAD_TOPIC, "REGISTER topic name 'bare' is not valid")
        lookupd.reply(encodeErrorReply(error), *(OK for _ in records[1:]))
        lookupd.close()
        self.assertIn(
            "E_BAD_TOPIC REGISTER topic name 'bare' is not valid",
            _messages(events),
            "an error reply to an initial REGISTER is swallowed "
            "(DeferredList(consumeErrors=True) in _registerAll): nothing "
            "logged",
        )


class TopologyTests(SynchronousTestCase):
    """
    Once registered, topology changes in the broker become REGISTER and
    UNREGISTER commands, in the order they happen.
    """

    def setUp(self) -> None:
        self.harness = PeersHarness()
        self.harness.start()
        self.lookupd = self.harness.registered()
        self.broker = self.harness.broker

    def test_topicCreated(self) -> None:
        """
        A new topic is C{REGISTER topic}.
        """
        self.broker.getTopic("t")
        self.assertEqual(self.lookupd.received(), [Register("t")])

    def test_channelCreated(self) -> None:
        """
        A new channel of a new topic is C{REGISTER topic} then
        C{REGISTER topic channel}; a new channel of an existing topic just
        the latter.
        """
        self.broker.getChannel("t", "c", 0)
        self.broker.getChannel("t", "d", 0)
        self.assertEqual(
            self.lookupd.received(),
            [Register("t"), Register("t", "c"), Register("t", "d")],
        )

    def test_channelDeleted(self) -> None:
        """
        A deleted channel is C{UNREGISTER topic channel}.
        """
        self.broker.getChannel("t", "c", 0)
        self.lookupd.received()
        self.broker.deleteChannel("t", "c")
        self.assertEqual(self.lookupd.received(), [Unregister("t", "c")])

    def test_topicDeleted(self) -> None:
        """
        A deleted topic is C{UNREGISTER topic} first (which removes the
        producer from the topic's channels at nsqlookupd as well); anything
        after it only unregisters that topic's channels.
        """
        self.broker.getChannel("t", "c", 0)
        self.lookupd.received()
        self.broker.deleteTopic("t")
        records = self.lookupd.received()
        self.assertEqual(records[:1], [Unregister("t")])
        self.assertEqual(set(records[1:]) - {Unregister("t", "c")}, set())

    def test_ephemeralChannelLastConsumer(self) -> None:
        """
        An ephemeral channel deleted when its last consumer leaves is
        unregistered, and its ephemeral topic, left without channels, too.
        """
        channel = self.broker.getChannel("e#ephemeral", "c#ephemeral", 0)
        self.lookupd.received()
        self.broker.consumerLeft(channel)
        self.assertEqual(
            self.lookupd.received(),
            [Unregister("e#ephemeral", "c#ephemeral"), Unregister("e#ephemeral")],
        )

    def test_pauseNotSent(self) -> None:
        """
        Pausing is not a topology change nsqlookupd hears about.
        """
        self.broker.getChannel("t", "c", 0)
        self.lookupd.received()
        self.broker.pauseTopic("t", True, 0)
        self.broker.pauseChannel("t", "c", True, 0)
        self.assertEqual(self.lookupd.received(), [])

    def test_everyPeerTold(self) -> None:
        """
        With two lookupds, both hear about every change.
        """
        harness = PeersHarness([LOOKUPD, OTHER_LOOKUPD])
        harness.start()
        first = harness.registered(LOOKUPD)
        second = harness.registered(OTHER_LOOKUPD)
        harness.broker.getTopic("t")
        self.assertEqual(first.received(), [Register("t")])
        self.assertEqual(second.received(), [Register("t")])

    def test_errorReplyLogged(self) -> None:
        """
        An error reply to a REGISTER is logged at ERROR, as Go logs a
        failed command: C{LOOKUPD(<address>): <command> - <error>}.
        """
        events = _captureLogs(self)
        self.broker.getTopic("t")
        self.lookupd.received()
        error = ProtocolError(E_BAD_TOPIC, "REGISTER topic name 't' is not valid")
        self.lookupd.reply(encodeErrorReply(error))
        self.assertEqual(
            _messages(events, LogLevel.error),
            "LOOKUPD(127.0.0.1:4160): REGISTER t - "
            "E_BAD_TOPIC REGISTER topic name 't' is not valid",
        )

    def test_replyTimeoutDropsConnection(self) -> None:
        """
        A REGISTER left unanswered for 1 s drops the connection.
        """
        self.broker.getTopic("t")
        self.harness.reactor.advance(PEER_TIMEOUT)
        self.assertTrue(self.lookupd.transport.disconnecting)

    def test_oversizedReplyDropsConnection(self) -> None:
        """
        A reply whose size is over C{--max-body-size} is refused (Go's
        C{readResponseBounded}): logged, connection dropped.
        """
        events = _captureLogs(self)
        self.broker.getTopic("t")
        size = self.harness.config.max_body_size + 1
        self.lookupd.reply(struct.pack(">i", size))
        self.assertTrue(self.lookupd.transport.disconnecting)
        self.assertIn(str(size), _messages(events, LogLevel.error))


class PingTests(SynchronousTestCase):
    """
    A connected peer PINGs every 15 seconds; an unanswered PING drops the
    connection.
    """

    def setUp(self) -> None:
        self.harness = PeersHarness()
        self.harness.start()
        self.reactor = self.harness.reactor
        self.lookupd = self.harness.registered()

    def test_pingEvery15Seconds(self) -> None:
        """
        A PING goes out 15 s after start, and every 15 s after that while
        nsqlookupd answers.
        """
        self.reactor.advance(PING_INTERVAL - 0.01)
        self.assertEqual(self.lookupd.received(), [])
        self.reactor.advance(0.01)
        self.assertEqual(self.lookupd.received(), [Ping()])
        self.lookupd.reply(OK)
        self.reactor.advance(PING_INTERVAL)
        self.assertEqual(self.lookupd.received(), [Ping()])
        self.lookupd.reply(OK)
        self.reactor.advance(PING_INTERVAL)
        self.assertEqual(self.lookupd.received(), [Ping()])
        self.assertFalse(self.lookupd.transport.disconnecting)

    def test_unansweredPingDropsConnection(self) -> None:
        """
        A PING unanswered after 1 s drops the connection and logs why.
        """
        events = _captureLogs(self)
        self.reactor.advance(PING_INTERVAL)
        self.assertEqual(self.lookupd.received(), [Ping()])
        self.reactor.advance(PEER_TIMEOUT - 0.01)
        self.assertFalse(self.lookupd.transport.disconnecting)
        self.reactor.advance(0.01)
        self.assertTrue(self.lookupd.transport.disconnecting)
        self.assertRegex(
            _messages(events, LogLevel.error),
            r"^LOOKUPD\(127\.0\.0\.1:4160\): PING - read tcp \S+->\S+: i/o timeout$",
        )

    def test_errorReplyToPingLogged(self) -> None:
        """
        An error reply to PING is logged at ERROR.
        """
        events = _captureLogs(self)
        self.reactor.advance(PING_INTERVAL)
        self.lookupd.received()
        self.lookupd.reply(encodeErrorReply(ProtocolError(E_INVALID, "oops")))
        self.assertEqual(
            _messages(events, LogLevel.error),
            "LOOKUPD(127.0.0.1:4160): PING - E_INVALID oops",
        )

    def test_noPingWhileDisconnected(self) -> None:
        """
        While the connection is down nothing is written and pinging does
        not fail; the next connection is pinged again.
        """
        self.lookupd.close()
        transport = self.lookupd.transport
        written = transport.value()
        self.reactor.advance(PING_INTERVAL)
        self.assertEqual(transport.value(), written)
        again = self.harness.registered()
        self.reactor.advance(PING_INTERVAL)
        self.assertEqual(again.received(), [Ping()])


class ReconnectTests(SynchronousTestCase):
    """
    Connections come from a ClientService with back-off: lost or refused
    connections are retried after a delay that grows to 15 s, and each new
    connection IDENTIFYs and registers everything again.
    """

    def test_unreachableDoesNotBlock(self) -> None:
        """
        Starting with an unreachable nsqlookupd returns at once, and the
        broker's changes meanwhile neither fail nor write anything.
        """
        harness = PeersHarness()
        self.assertIsNone(harness.peers.startService())
        harness.refuse()
        harness.broker.getChannel("t", "c", 0)
        harness.broker.deleteTopic("t")
        harness.reactor.advance(PING_INTERVAL)
        harness.nextAttemptAfter()
        self.assertEqual(harness.attempts(), 2)

    def test_firstAttemptImmediate(self) -> None:
        """
        The first connection is attempted as soon as the peers start.
        """
        harness = PeersHarness()
        self.assertEqual(harness.attempts(), 0)
        harness.start()
        self.assertEqual(harness.attempts(), 1)

    def test_lostConnectionRetriedAfterBackoff(self) -> None:
        """
        A lost connection is retried after the first back-off delay (1.5 s
        plus jitter), not before.
        """
        harness = PeersHarness()
        harness.start()
        harness.registered().close()
        waited = harness.nextAttemptAfter()
        self.assertGreaterEqual(waited, _backoff(1))
        self.assertLess(waited, _backoff(1) + JITTER + 2 * STEP)

    def test_backoffGrowsToFifteenSeconds(self) -> None:
        """
        Consecutive refusals make the delay grow by 1.5x up to 15 s (Go
        nsqd retries on its next 15 s PING at the latest).
        """
        harness = PeersHarness()
        harness.start()
        waits = []
        for failures in range(1, 10):
            harness.refuse()
            waited = harness.nextAttemptAfter()
            waits.append(waited)
            self.assertGreaterEqual(waited, _backoff(failures), waits)
            self.assertLess(
                waited, _backoff(failures) + ATTEMPT_DELAY + JITTER + 2 * STEP, waits
            )

    def test_backoffResetBySuccess(self) -> None:
        """
        After a connection succeeded, the next loss waits the first delay
        again, however many failures came before.
        """
        harness = PeersHarness()
        harness.start()
        for _ in range(6):
            harness.refuse()
            harness.nextAttemptAfter()
        harness.registered().close()
        self.assertLess(harness.nextAttemptAfter(), _backoff(1) + JITTER + 2 * STEP)

    def test_reconnectRegistersAgain(self) -> None:
        """
        A new connection sends the magic, IDENTIFY and the registrations
        of the broker's current topology (changes made while disconnected
        included).
        """
        harness = PeersHarness()
        harness.broker.getTopic("kept")
        harness.broker.getTopic("dropped")
        harness.start()
        first = harness.registered()
        first.close()
        harness.broker.deleteTopic("dropped")
        harness.broker.getChannel("new", "c", 0)
        harness.nextAttemptAfter()
        second = harness.accept()
        self.assertTrue(second.transport.value().startswith(MAGIC_V1 + b"IDENTIFY\n"))
        records = second.identified()
        self.assertIn(Register("kept"), records)
        self.assertIn(Register("new", "c"), records)
        self.assertNotIn(Register("dropped"), records)
        self.assertEqual(first.transport.value().count(b"IDENTIFY"), 1)

    def test_timedOutConnectionRetried(self) -> None:
        """
        A connection dropped for an unanswered command is retried and
        registers again.
        """
        harness = PeersHarness()
        harness.broker.getTopic("t")
        harness.start()
        first = harness.registered()
        harness.reactor.advance(PING_INTERVAL)
        harness.reactor.advance(PEER_TIMEOUT)
        self.assertTrue(first.transport.disconnecting)
        first.close()
        harness.nextAttemptAfter()
        self.assertEqual(harness.accept().identified(), [Register("t")])


class SetAddressesTests(SynchronousTestCase):
    """
    L{LookupdPeers.setAddresses} (what C{PUT /config/nsqlookupd_tcp_addresses}
    calls) connects new addresses and drops removed ones.
    """

    def test_addAddressConnects(self) -> None:
        """
        A new address gets a peer that connects and registers at once; the
        config lists the new addresses.
        """
        harness = PeersHarness()
        harness.broker.getTopic("t")
        harness.start()
        harness.registered()
        harness.peers.setAddresses([LOOKUPD, OTHER_LOOKUPD])
        self.assertEqual(
            harness.config.nsqlookupd_tcp_addresses, [LOOKUPD, OTHER_LOOKUPD]
        )
        self.assertEqual(harness.attempts(OTHER_LOOKUPD), 1)
        self.assertEqual(harness.accept(OTHER_LOOKUPD).identified(), [Register("t")])

    def test_keptAddressUntouched(self) -> None:
        """
        An address still listed keeps its connection: no new attempt, no
        second IDENTIFY.
        """
        harness = PeersHarness()
        harness.start()
        lookupd = harness.registered()
        harness.peers.setAddresses([OTHER_LOOKUPD, LOOKUPD])
        self.assertEqual(harness.attempts(LOOKUPD), 1)
        self.assertFalse(lookupd.transport.disconnecting)
        harness.broker.getTopic("t")
        self.assertEqual(lookupd.received(), [Register("t")])

    def test_removedAddressDisconnected(self) -> None:
        """
        A removed address's connection is closed, it is never retried, and
        it hears about no more changes.
        """
        harness = PeersHarness([LOOKUPD, OTHER_LOOKUPD])
        harness.start()
        kept = harness.registered(LOOKUPD)
        removed = harness.registered(OTHER_LOOKUPD)
        harness.peers.setAddresses([LOOKUPD])
        self.assertEqual(harness.config.nsqlookupd_tcp_addresses, [LOOKUPD])
        self.assertEqual(list(harness.peers.peers), [LOOKUPD])
        self.assertTrue(removed.transport.disconnecting)
        removed.close()
        harness.broker.getTopic("t")
        self.assertEqual(removed.received(), [])
        self.assertEqual(kept.received(), [Register("t")])
        kept.reply(OK)
        harness.elapse(4 * PING_INTERVAL)
        self.assertEqual(harness.attempts(OTHER_LOOKUPD), 1)

    def test_removedWhileConnectingNeverRetried(self) -> None:
        """
        Removing an address whose nsqlookupd is unreachable stops the
        retries.
        """
        harness = PeersHarness()
        harness.start()
        harness.refuse()
        harness.peers.setAddresses([])
        harness.elapse(4 * PING_INTERVAL)
        self.assertEqual(harness.attempts(), 1)

    def test_emptyThenBack(self) -> None:
        """
        An address removed and listed again gets a fresh connection that
        registers everything.
        """
        harness = PeersHarness()
        harness.broker.getTopic("t")
        harness.start()
        harness.registered().close()
        harness.peers.setAddresses([])
        harness.peers.setAddresses([LOOKUPD])
        self.assertEqual(harness.accept().identified(), [Register("t")])

    def test_duplicatesOnePeer(self) -> None:
        """
        An address listed twice gets one peer and one connection (Go skips
        addresses it already has).
        """
        harness = PeersHarness([LOOKUPD, LOOKUPD])
        harness.start()
        self.assertEqual(list(harness.peers.peers), [LOOKUPD])
        self.assertEqual(harness.attempts(), 1)

    def test_notRunningNoConnection(self) -> None:
        """
        Before nsqd starts, setting addresses connects nothing; starting
        connects each one.
        """
        harness = PeersHarness([])
        harness.peers.setAddresses([LOOKUPD, OTHER_LOOKUPD])
        self.assertEqual(harness.reactor.tcpClients, [])
        harness.start()
        self.assertEqual(
            (harness.attempts(LOOKUPD), harness.attempts(OTHER_LOOKUPD)), (1, 1)
        )


class StopTests(SynchronousTestCase):
    """
    Stopping the peers closes their connections for good.
    """

    def test_stopClosesAndStopsPinging(self) -> None:
        """
        C{stopService} drops the connection, and afterwards nothing is
        pinged, reconnected or registered.
        """
        harness = PeersHarness()
        harness.start()
        lookupd = harness.registered()
        stopped = harness.peers.stopService()
        self.assertTrue(lookupd.transport.disconnecting)
        lookupd.close()
        self.successResultOf(stopped)
        written = lookupd.transport.value()
        harness.broker.getTopic("t")
        harness.elapse(4 * PING_INTERVAL)
        self.assertEqual(lookupd.transport.value(), written)
        self.assertEqual(harness.attempts(), 1)

    def test_stopWhileRetrying(self) -> None:
        """
        Stopping while waiting to retry an unreachable nsqlookupd cancels
        the retry.
        """
        harness = PeersHarness()
        harness.start()
        harness.refuse()
        self.successResultOf(harness.peers.stopService())
        harness.elapse(4 * PING_INTERVAL)
        self.assertEqual(harness.attempts(), 1)


class TopicStartTests(SynchronousTestCase):
    """
    A new topic waits for its channels from nsqlookupd; whatever happens
    meanwhile, those waiting for it are answered.
    """

    def peers(self, addresses: list[str]) -> tuple[Broker, LookupdPeers, Any]:
        """
        A broker and its lookupd peers on a memory reactor.
        """
        reactor = MemoryReactorClock()
        config = NSQDConfig(node_id=1, nsqlookupd_tcp_addresses=addresses)
        broker = Broker(config)
        return broker, LookupdPeers(config, broker, reactor), reactor

    def test_noLookupdStartsAtOnce(self) -> None:
        """
        Without lookupd addresses a new topic starts at once.
        """
        broker, _, _ = self.peers([])
        self.assertFalse(broker.getTopic("t").starting)

    def test_deletedWhileStartingAnswersWaiters(self) -> None:
        """
        A topic deleted before the lookupds answered still releases the
        publishers waiting for it, and pre-creates nothing.
        """
        broker, peers, _ = self.peers(["127.0.0.1:4160"])
        next(iter(peers.peers.values())).httpAddress = "127.0.0.1:4161"
        topic = broker.getTopic("t")
        self.assertTrue(topic.starting)
        answered: list[bool] = []
        topic.whenStarted(lambda: answered.append(True))
        broker.deleteTopic("t")
        peers._preCreate({"c"}, topic)
        self.assertEqual(answered, [True])
        self.assertEqual(topic.channels, {})
        self.assertNotIn("t", broker.topics)


class GoLogLinesTests(SynchronousTestCase):
    """
    What the peers log is what Go nsqd 1.3.0's C{lookup.go} and
    C{lookup_peer.go} log, in its words and at its levels, under the
    configured address.
    """

    def setUp(self) -> None:
        self.events = _captureLogs(self)

    def info(self, since: int = 0) -> list[str]:
        """
        The INFO lines logged so far, from the C{since}-th event on.
        """
        return [
            formatEvent(event)
            for event in list(self.events)[since:]
            if event["log_level"] == LogLevel.info
        ]

    def test_connectingAndRegistering(self) -> None:
        """
        Adding a peer, connecting, IDENTIFY's answer and each initial
        REGISTER are logged at INFO as Go logs them; the peer info is Go's
        C{%+v} of its C{peerInfo}.
        """
        harness = PeersHarness()
        harness.broker.getChannel("t", "c", 0)
        harness.start()
        lookupd = harness.accept()
        lookupd.identified()
        self.assertEqual(
            self.info(),
            [
                "LOOKUP(127.0.0.1:4160): adding peer",
                "LOOKUP connecting to 127.0.0.1:4160",
                "LOOKUPD(127.0.0.1:4160): peer info {TCPPort:4160 HTTPPort:4161 "
                f"Version:{NSQ_VERSION} BroadcastAddress:lookupd.example}}",
                "LOOKUPD(127.0.0.1:4160): REGISTER t c",
            ],
        )

    def test_topologyNotifications(self) -> None:
        """
        Each topology change sent to a lookupd is logged with Go's branch
        word: C{topic REGISTER t}, C{channel REGISTER t c}, and the
        UNREGISTERs of a deletion.
        """
        harness = PeersHarness()
        harness.start()
        harness.registered()
        since = len(self.events)
        harness.broker.getChannel("t", "c", 0)
        harness.broker.deleteTopic("t")
        self.assertEqual(
            self.info(since),
            [
                "LOOKUPD(127.0.0.1:4160): topic REGISTER t",
                "LOOKUPD(127.0.0.1:4160): channel REGISTER t c",
                "LOOKUPD(127.0.0.1:4160): topic UNREGISTER t",
                "LOOKUPD(127.0.0.1:4160): channel UNREGISTER t c",
            ],
        )

    def test_invalidIdentifyReply(self) -> None:
        """
        A bare C{E_INVALID} answer to IDENTIFY is Go's INFO C{lookupd
        returned E_INVALID}; any other answer that is not JSON is its
        ERROR C{parsing response - <answer>}.
        """
        harness = PeersHarness()
        harness.start()
        lookupd = harness.accept()
        lookupd.received()
        lookupd.reply(encodeReply(b"E_INVALID"))
        self.assertIn(
            "LOOKUPD(127.0.0.1:4160): lookupd returned E_INVALID", self.info()
        )

        events = _captureLogs(self)
        other = PeersHarness()
        other.start()
        second = other.accept()
        second.received()
        second.reply(OK)
        self.assertEqual(
            _messages(events, LogLevel.error),
            "LOOKUPD(127.0.0.1:4160): parsing response - OK",
        )

    def test_noBroadcastAddress(self) -> None:
        """
        A lookupd whose IDENTIFY answer has no broadcast address gets Go's
        ERROR C{no broadcast address}; registration goes on.
        """
        harness = PeersHarness()
        harness.broker.getTopic("t")
        harness.start()
        lookupd = harness.accept()
        lookupd.received()
        lookupd.reply(encodeReply(b'{"tcp_port":4160,"http_port":4161}'))
        self.assertIn(
            "LOOKUPD(127.0.0.1:4160): no broadcast address",
            _messages(self.events, LogLevel.error).splitlines(),
        )
        self.assertEqual(lookupd.received(), [Register("t")])

    def test_refusedConnection(self) -> None:
        """
        A refused connection is Go's ERROR for a failed dial, and Twisted's
        own C{Scheduling retry} line is not logged.
        """
        harness = PeersHarness()
        harness.start()
        harness.refuse()
        harness.elapse(ATTEMPT_DELAY + STEP)
        self.assertEqual(
            _messages(self.events, LogLevel.error),
            "LOOKUPD(127.0.0.1:4160): PING - "
            "dial tcp 127.0.0.1:4160: connect: connection refused",
        )
        self.assertNotIn("Scheduling retry", _messages(self.events))

    def test_removedAndClosing(self) -> None:
        """
        A removed address is Go's C{LOOKUP(<address>): removing peer}, and
        stopping is its C{LOOKUP: closing}.
        """
        harness = PeersHarness([LOOKUPD, OTHER_LOOKUPD])
        harness.start()
        since = len(self.events)
        harness.peers.setAddresses([LOOKUPD])
        harness.peers.stopService()
        self.assertEqual(
            self.info(since),
            ["LOOKUP(127.0.0.1:5160): removing peer", "LOOKUP: closing"],
        )
