"""
Tests for L{txnsq.nsqd.service.NSQDService}.
"""

from __future__ import annotations

import tempfile
from typing import Any

from zope.interface import implementer

from twisted.application.service import Service
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Site

from tests._certs import writeCertificates
from tests.metrics.test_statsd import UDPReactor
from txnsq._endpoints import ListenError, ipPort
from txnsq.metrics.statsdservice import StatsdService
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.options import versionString
from txnsq.nsqd.protocol import NSQDFactory
from txnsq.nsqd.service import NSQDService, TopologyLog, logClosing
from txnsq.nsqd.state import Broker, Message
from txnsq.nsqd.state.metadata import DeferredTimes
from txnsq.nsqd.state.quantile import mergedResult
from txnsq.nsqd.stats import GCPauseRecorder


def _config(**changes: Any) -> NSQDConfig:
    """
    A config listening on loopback, with C{changes}.
    """
    changes.setdefault("tcp_address", "127.0.0.1:4150")
    changes.setdefault("http_address", "127.0.0.1:4151")
    # Each service locks its data path, so each gets a folder of its own.
    changes.setdefault("data_path", tempfile.mkdtemp(dir="."))
    return NSQDConfig(node_id=7, **changes)


def _closed(log: list[str]) -> DeferredTimes:
    """
    Stand-in for L{Broker.close}: record the call, report nothing deferred.
    """
    log.append("broker close")
    return DeferredTimes()


@implementer(IListeningPort)
class _HeldPort:
    """
    A port whose C{stopListening} does not finish until the test says so.
    """

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.stopped: Deferred[None] = Deferred()

    def startListening(self) -> None:
        """
        Already listening.
        """

    def stopListening(self) -> Deferred[None]:
        """
        Note the call; finish when C{stopped} fires.
        """
        self.log.append("tcp stopListening")
        return self.stopped

    def getHost(self) -> IPv4Address:
        """
        A fixed address.
        """
        return IPv4Address("TCP", "127.0.0.1", 4150)


@implementer(IStreamServerEndpoint)
class _Endpoint:
    """
    Listens at once with a given port.
    """

    def __init__(self, port: IListeningPort) -> None:
        self.port = port

    def listen(self, factory: Any) -> Deferred[IListeningPort]:
        """
        The port, already listening.
        """
        return succeed(self.port)


class _Consumer:
    """
    An always-ready consumer that keeps what it is sent.
    """

    msgTimeout = 60.0
    sampleRate = 0

    def __init__(self) -> None:
        self.received: list[Message] = []

    def capacity(self) -> int:
        """
        Room for anything.
        """
        return 100

    def sendMessages(self, messages: list[Message]) -> None:
        """
        Keep the messages.
        """
        self.received.extend(messages)

    def messagesFinished(self, messages: list[Message]) -> None:
        """
        Nothing to count.
        """

    def messageDone(self, message: Message, outcome: int) -> None:
        """
        Nothing to count.
        """

    def inFlightReset(self) -> None:
        """
        Nothing to reset.
        """

    def channelClosed(self) -> None:
        """
        Nothing to close.
        """


class _ListenFailingReactor(MemoryReactorClock):
    """
    A reactor whose ports are all in use.
    """

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> Any:
        """
        Fail as an address in use does.
        """
        raise CannotListenError(interface, port, OSError(98, "Address already in use"))


class NSQDServiceTests(SynchronousTestCase):
    """
    L{NSQDService} listens, scans and stops as Go's nsqd does.
    """

    def setUp(self) -> None:
        """
        A memory reactor and a log of events.
        """
        self.reactor = MemoryReactorClock()
        # What EventLoggingObserver.createWithCleanup does; it is annotated
        # for trial's TestCase only, and this is a SynchronousTestCase.
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)

    def _messages(self) -> list[str]:
        return [formatEvent(event) for event in self.events]

    def test_listensOnTCPAddress(self) -> None:
        """
        Starting listens on C{--tcp-address} with the broker's
        L{NSQDFactory}, and L{NSQDService.whenTCPListening} gives the port.
        """
        service = NSQDService(_config(), self.reactor)
        waiting = service.whenTCPListening()
        self.assertNoResult(waiting)
        service.privilegedStartService()
        service.startService()
        self.assertEqual(len(self.reactor.tcpServers), 1)
        port, factory, _backlog, interface = self.reactor.tcpServers[0]
        self.assertEqual((port, interface), (4150, "127.0.0.1"))
        self.assertIsInstance(factory, NSQDFactory)
        self.assertIdentical(factory, service.factory)
        self.assertIdentical(service.factory.broker, service.broker)
        self.assertEqual(ipPort(self.successResultOf(waiting).getHost()), 4150)

    def test_broadcastPorts(self) -> None:
        """
        Broadcast ports left at 0 become the bound ports, as in Go; set ones
        are kept.
        """
        service = NSQDService(_config(), self.reactor)
        service.serveHTTP(lambda secure: Site(Resource()))
        service.startService()
        self.assertEqual(
            (service.config.broadcast_tcp_port, service.config.broadcast_http_port),
            (4150, 4151),
        )
        other = NSQDService(_config(broadcast_tcp_port=5150), self.reactor)
        other.startService()
        self.assertEqual(other.config.broadcast_tcp_port, 5150)

    def test_addresses(self) -> None:
        """
        IPv6, all-interfaces and unix socket addresses listen as Go would.
        """
        NSQDService(_config(tcp_address="[::1]:4150"), self.reactor).startService()
        NSQDService(_config(tcp_address=":4152"), self.reactor).startService()
        NSQDService(_config(tcp_address="/tmp/nsqd.sock"), self.reactor).startService()
        self.assertEqual(
            [(port, interface) for port, _, _, interface in self.reactor.tcpServers],
            [(4150, "::1"), (4152, "")],
        )
        self.assertEqual(self.reactor.unixServers[0][0], "/tmp/nsqd.sock")

    def test_logsLikeGo(self) -> None:
        """
        Starting logs Go's version, ID and C{TCP: listening on} lines in
        the C{txnsq.nsqd} namespace.
        """
        NSQDService(_config(), self.reactor).startService()
        messages = self._messages()
        self.assertIn(versionString(), messages)
        self.assertIn("ID: 7", messages)
        self.assertIn("TCP: listening on 0.0.0.0:4150", messages)
        for event in self.events:
            self.assertTrue(event["log_namespace"].startswith("txnsq.nsqd"))

    def test_queueScanTimer(self) -> None:
        """
        L{Broker.queueScan} runs every C{queue_scan_interval} with the
        reactor's time.
        """
        service = NSQDService(_config(queue_scan_interval=0.25), self.reactor)
        scans: list[float] = []
        self.patch(service.broker, "queueScan", scans.append)
        self.assertEqual(service.scanService.step, 0.25)
        self.reactor.advance(100.0)
        service.startService()
        self.assertEqual(scans, [100.0])
        self.reactor.advance(0.25)
        self.reactor.advance(0.25)
        self.assertEqual(scans, [100.0, 100.25, 100.5])
        self.successResultOf(service.stopService())
        self.reactor.advance(1.0)
        self.assertEqual(len(scans), 3)

    def test_orderedStop(self) -> None:
        """
        Stopping stops accepting connections first and waits for that, then
        closes the clients, stops the scan timer and finally closes the
        broker; other children stop after the broker.
        """
        service = NSQDService(_config(), self.reactor)
        log: list[str] = []
        port = _HeldPort(log)
        service.tcpService.endpoint = _Endpoint(port)

        class Peer(Service):
            def stopService(self) -> None:
                log.append("peer stopService")
                Service.stopService(self)

        Peer().setServiceParent(service)
        self.patch(
            service.factory, "disconnectAll", lambda: log.append("disconnectAll")
        )
        self.patch(service.broker, "close", lambda: _closed(log))
        realStop = service.scanService.stopService

        def scanStop() -> Any:
            log.append("scan stopService")
            return realStop()

        self.patch(service.scanService, "stopService", scanStop)
        service.startService()

        stopping = service.stopService()
        self.assertEqual(log, ["tcp stopListening"])
        self.assertNoResult(stopping)
        self.assertFalse(service.running)
        port.stopped.callback(None)
        self.assertEqual(
            log,
            [
                "tcp stopListening",
                "disconnectAll",
                "scan stopService",
                "broker close",
                "peer stopService",
            ],
        )
        self.successResultOf(stopping)
        self.assertIn("NSQ: bye", self._messages())

    def test_brokerClosedEvenIfListenerFails(self) -> None:
        """
        If stopping the listener fails, the broker is still closed (its
        messages are still flushed) and the failure is reported.
        """
        service = NSQDService(_config(), self.reactor)
        log: list[str] = []
        port = _HeldPort(log)
        service.tcpService.endpoint = _Endpoint(port)
        self.patch(service.broker, "close", lambda: _closed(log))
        service.startService()
        stopping = service.stopService()
        port.stopped.errback(RuntimeError("boom"))
        self.assertEqual(log, ["tcp stopListening", "broker close"])
        self.failureResultOf(stopping, RuntimeError)

    def test_listenFailure(self) -> None:
        """
        An address in use makes starting fail with Go's C{listen (...)
        failed} message.
        """
        service = NSQDService(_config(), _ListenFailingReactor())
        with self.assertRaises(ListenError) as raised:
            service.privilegedStartService()
        self.assertIn("listen (127.0.0.1:4150) failed - ", str(raised.exception))

    def test_noHTTPUntilServed(self) -> None:
        """
        Until L{NSQDService.serveHTTP} is called nothing listens on
        C{--http-address} and L{NSQDService.whenHTTPListening} fails.
        """
        service = NSQDService(_config(), self.reactor)
        service.startService()
        self.assertIsNone(service.httpService)
        self.assertEqual(len(self.reactor.tcpServers), 1)
        self.failureResultOf(service.whenHTTPListening(), RuntimeError)

    def test_serveHTTP(self) -> None:
        """
        L{NSQDService.serveHTTP} listens on C{--http-address} with the site
        it is given for plain HTTP; without a certificate there is no HTTPS.
        """
        site = Site(Resource())
        asked: list[bool] = []

        def makeSite(secure: bool) -> Site:
            asked.append(secure)
            return site

        service = NSQDService(_config(), self.reactor)
        service.serveHTTP(makeSite)
        service.startService()
        self.assertEqual(asked, [False])
        port, served, _, interface = self.reactor.tcpServers[1]
        self.assertEqual((port, interface), (4151, "127.0.0.1"))
        self.assertIdentical(served, site)
        self.assertIsNone(service.httpsService)
        listening = self.successResultOf(service.whenHTTPListening())
        self.assertEqual(ipPort(listening.getHost()), 4151)
        self.assertIn("HTTP: listening on 0.0.0.0:4151", self._messages())
        self.successResultOf(service.stopService())

    def test_serveHTTPS(self) -> None:
        """
        With a certificate, key and C{--https-address}, the site made for
        C{secure=True} listens there behind TLS, and its bound port is
        noted.
        """
        files = writeCertificates(self.mktemp())
        service = NSQDService(
            _config(
                https_address="127.0.0.1:4152",
                tls_cert=files.serverCert,
                tls_key=files.serverKey,
            ),
            self.reactor,
        )
        sites = {secure: Site(Resource()) for secure in (False, True)}
        service.serveHTTP(sites.__getitem__)
        self.assertIsNone(service.boundHTTPSPort)
        service.startService()
        port, factory, _, _ = self.reactor.tcpServers[2]
        self.assertEqual(port, 4152)
        assert isinstance(factory, TLSMemoryBIOFactory)
        self.assertIdentical(factory.wrappedFactory, sites[True])
        self.assertEqual(service.boundHTTPSPort, 4152)
        self.successResultOf(service.stopService())

    def test_serveHTTPOnce(self) -> None:
        """
        Serving HTTP twice is a mistake.
        """
        service = NSQDService(_config(), self.reactor)
        service.serveHTTP(lambda secure: Site(Resource()))
        self.assertRaises(
            RuntimeError, service.serveHTTP, lambda secure: Site(Resource())
        )

    def test_httpDisabled(self) -> None:
        """
        An empty C{--http-address} disables HTTP even when served.
        """
        service = NSQDService(_config(http_address=""), self.reactor)
        service.serveHTTP(lambda secure: Site(Resource()))
        self.assertIsNone(service.httpService)

    def test_boundTCPPort(self) -> None:
        """
        L{NSQDService.boundTCPPort} is the port TCP listens on, once it
        does.
        """
        service = NSQDService(_config(), self.reactor)
        self.assertIsNone(service.boundTCPPort)
        service.startService()
        self.assertEqual(service.boundTCPPort, 4150)
        self.successResultOf(service.stopService())

    def test_e2eLatencyWithoutHTTP(self) -> None:
        """
        An nsqd without an HTTP listener still tracks e2e processing
        latency: with percentiles configured, its channels get a window
        that a C{FIN} adds to.
        """
        service = NSQDService(
            _config(http_address="", e2e_processing_latency_percentiles=[0.99]),
            self.reactor,
        )
        service.startService()
        self.assertIsNone(service.httpService)
        now = self.reactor.seconds()
        channel = service.broker.getChannel("t", "c", now)
        window = channel.e2eLatency
        assert window is not None
        self.assertEqual(window.percentiles, [0.99])
        consumer = _Consumer()
        channel.addConsumer(consumer)
        service.broker.publish("t", [b"body"], now)
        channel.pump(now)
        [message] = consumer.received
        channel.finish(consumer, message.id, now + 1.0)
        self.assertEqual(mergedResult([window], [0.99], now + 1.0)[0], 1)
        self.successResultOf(service.stopService())

    def test_gcPauses(self) -> None:
        """
        The service holds the process's garbage collection pause recorder,
        for C{/stats}.
        """
        service = NSQDService(_config(), self.reactor)
        self.assertIs(service.gcPauses, GCPauseRecorder.install())


class StatsdTests(SynchronousTestCase):
    """
    L{NSQDService} computes Go's statsd prefix and pushes its stats to
    C{--statsd-address}.
    """

    def setUp(self) -> None:
        """
        A memory reactor with UDP, and a log of events.
        """
        self.reactor = UDPReactor()
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)

    def started(self, **changes: Any) -> NSQDService:
        """
        A started service serving HTTP (on 4151 unless C{changes} say
        otherwise), stopped at cleanup.
        """
        changes.setdefault("broadcast_address", "nsqd1.example")
        service = NSQDService(_config(**changes), self.reactor)
        service.serveHTTP(lambda secure: Site(Resource()))
        service.privilegedStartService()
        service.startService()
        self.addCleanup(service.stopService)
        return service

    def test_prefixOnceListening(self) -> None:
        """
        Once listening, C{statsd_prefix} holds the prefix Go's C{nsqd.New}
        computes (and C{GET /config/statsd_prefix} answers): C{%s} replaced
        by the broadcast address and HTTP port, the bound one when
        C{--broadcast-http-port} is 0, and a dot appended.
        """
        self.assertEqual(self.started().config.statsd_prefix, "nsq.nsqd1_example_4151.")
        self.assertEqual(
            self.started(
                broadcast_http_port=80, statsd_prefix="%s.nsqd"
            ).config.statsd_prefix,
            "nsqd1_example_80.nsqd.",
        )
        self.assertEqual(self.started(statsd_prefix="").config.statsd_prefix, "")

    def test_prefixWithoutHTTP(self) -> None:
        """
        Without an HTTP listener the port in the prefix is 0, as in Go.
        """
        service = self.started(http_address="")
        self.assertEqual(service.config.statsd_prefix, "nsq.nsqd1_example_0.")

    def test_prefixComputedOnce(self) -> None:
        """
        Starting again does not apply the template to the computed prefix.
        """
        service = self.started(statsd_prefix="a.%s")
        self.successResultOf(service.stopService())
        service.config.broadcast_address = "other"
        service.startService()
        self.assertEqual(service.config.statsd_prefix, "a.nsqd1_example_4151.")

    def test_noStatsdAddress(self) -> None:
        """
        Without C{--statsd-address} there is no statsd service, as Go
        starts no C{statsdLoop}.
        """
        service = self.started()
        self.assertIsNone(service.statsdService)
        self.assertFalse(
            [child for child in service if isinstance(child, StatsdService)]
        )
        self.reactor.advance(60.0)
        self.assertEqual(self.reactor.udpPorts, [])

    def test_pushes(self) -> None:
        """
        With C{--statsd-address}, every C{--statsd-interval} nsqd sends its
        topics' and channels' lines with the computed prefix, and the
        C{mem.*} lines.
        """
        service = self.started(statsd_address="127.0.0.1:8125", statsd_interval=10.0)
        assert service.statsdService is not None
        self.assertIn(service.statsdService, list(service))
        self.assertEqual(service.statsdService.step, 10.0)
        service.broker.getChannel("t", "c", self.reactor.seconds())
        service.broker.publish("t", [b"hello"], self.reactor.seconds())
        self.reactor.advance(10.0)
        self.reactor.advance(10.0)
        lines = b"".join(self.reactor.datagrams()).decode().splitlines()
        prefix = "nsq.nsqd1_example_4151."
        self.assertTrue(all(line.startswith(prefix) for line in lines), lines)
        names = {line[len(prefix) :].partition(":")[0] for line in lines}
        self.assertIn("topic.t.message_count", names)
        self.assertIn("topic.t.channel.c.clients", names)
        self.assertIn("mem.gc_runs", names)
        self.assertIn(prefix + "topic.t.message_bytes:5|c", lines)
        self.assertIn(prefix + "topic.t.channel.c.depth:1|g", lines)

    def test_memStatsOff(self) -> None:
        """
        With C{--statsd-mem-stats=false} no C{mem.*} line is sent.
        """
        self.started(
            statsd_address="127.0.0.1:8125",
            statsd_interval=10.0,
            statsd_mem_stats=False,
        )
        self.reactor.advance(10.0)
        self.reactor.advance(10.0)
        self.assertNotIn(b"mem.", b"".join(self.reactor.datagrams()))

    def test_stopsAfterTheBroker(self) -> None:
        """
        The statsd service stops with nsqd, after the broker has closed,
        where Go's C{statsdLoop} ends.
        """
        service = self.started(statsd_address="127.0.0.1:8125")
        self.successResultOf(service.stopService())
        messages = [formatEvent(event) for event in self.events]
        self.assertLess(
            messages.index("NSQ: closing topics"), messages.index("STATSD: closing")
        )
        assert service.statsdService is not None
        self.assertFalse(service.statsdService.running)


class TopologyLogTests(SynchronousTestCase):
    """
    L{TopologyLog} and L{logClosing} log topics and channels as Go 1.3.0's
    C{nsqd.go}, C{topic.go} and C{channel.go} do, at INFO.
    """

    def setUp(self) -> None:
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)
        self.broker = Broker(NSQDConfig())
        self.broker.observers.append(TopologyLog(self.broker))

    def lines(self) -> list[str]:
        """
        The INFO lines logged so far.
        """
        return [
            formatEvent(event)
            for event in self.events
            if event["log_level"] == LogLevel.info
        ]

    def test_createdAndDeleted(self) -> None:
        """
        Creation, a channel's deletion (named by its topic, then by itself)
        and a topic's deletion (its channels named by themselves only) are
        Go's lines; pausing logs nothing, as in Go.
        """
        self.broker.getChannel("t", "a", 0)
        self.broker.getChannel("t", "b", 0)
        self.broker.pauseTopic("t", True, 0)
        self.broker.deleteChannel("t", "a")
        self.broker.deleteTopic("t")
        self.assertEqual(
            self.lines(),
            [
                "TOPIC(t): created",
                "TOPIC(t): new channel(a)",
                "TOPIC(t): new channel(b)",
                "TOPIC(t): deleting channel a",
                "CHANNEL(a): deleting",
                "TOPIC(t): deleting",
                "TOPIC(t): closing ... messagePump",
                "CHANNEL(b): deleting",
            ],
        )

    def test_closing(self) -> None:
        """
        At shutdown each topic and channel is closing, and what each
        flushes to its backend is counted as Go counts it.
        """
        now = 0.0
        self.broker.getChannel("held", "c", now)
        self.broker.pauseTopic("held", True, now)
        self.broker.publish("held", [b"x", b"y", b"z"], now)
        self.broker.getChannel("flowing", "c", now)
        self.broker.publish("flowing", [b"x", b"y"], now)
        self.broker.publish("flowing", [b"z"], now, deferMs=5000)
        since = len(self.lines())
        logClosing(self.broker)
        self.assertEqual(
            self.lines()[since:],
            [
                "TOPIC(held): closing",
                "TOPIC(held): closing ... messagePump",
                "CHANNEL(c): closing",
                "TOPIC(held): flushing 3 memory messages to backend",
                "TOPIC(flowing): closing",
                "TOPIC(flowing): closing ... messagePump",
                "CHANNEL(c): closing",
                "CHANNEL(c): flushing 2 memory 0 in-flight 1 deferred messages "
                "to backend",
            ],
        )
