"""
Tests for L{txnsq.metrics.statsd} (the lines, datagrams and timing Go nsqd
1.3.0 sends) and L{txnsq.metrics.statsdservice} (pushing them over UDP).
"""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Sequence
from typing import Any

from zope.interface import implementer
from zope.interface.verify import verifyObject

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import (
    IHostnameResolver,
    IHostResolution,
    IListeningPort,
    IReactorTime,
    IReactorUDP,
    IResolutionReceiver,
    IUDPTransport,
)
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from txnsq.metrics import statsd
from txnsq.metrics.statsd import (
    DEFAULT_PACKET_SIZE,
    StatsSnapshot,
    hostKey,
    joinHostPort,
    packDatagrams,
    spreadOffsets,
    statsdLines,
    statsdPrefix,
)
from txnsq.metrics.statsdservice import (
    DIAL_TIMEOUT,
    StatsdService,
    makeStatsdService,
)
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import Broker
from txnsq.nsqd.stats import gatherStats, memoryStats

PREFIX = "nsq.host_4151."


def channel(name: str, **values: Any) -> dict[str, Any]:
    """
    A channel as C{/stats} reports it: every count 0 unless given.
    """
    stats: dict[str, Any] = {
        "channel_name": name,
        "depth": 0,
        "backend_depth": 0,
        "in_flight_count": 0,
        "deferred_count": 0,
        "message_count": 0,
        "requeue_count": 0,
        "timeout_count": 0,
        "client_count": 0,
        "clients": None,
        "paused": False,
        "e2e_processing_latency": {"count": 0, "percentiles": None},
    }
    stats.update(values)
    return stats


def topic(
    name: str, channels: Sequence[dict[str, Any]], **values: Any
) -> dict[str, Any]:
    """
    A topic as C{/stats} reports it: every count 0 unless given.
    """
    stats: dict[str, Any] = {
        "topic_name": name,
        "channels": list(channels),
        "depth": 0,
        "backend_depth": 0,
        "message_count": 0,
        "message_bytes": 0,
        "paused": False,
        "e2e_processing_latency": {"count": 0, "percentiles": None},
    }
    stats.update(values)
    return stats


def latency(*pairs: tuple[float, float]) -> dict[str, Any]:
    """
    An C{e2e_processing_latency} object with these C{(quantile, value)}
    percentiles.
    """
    return {
        "count": 5,
        "percentiles": [{"quantile": q, "value": v} for q, v in pairs],
    }


def memory(**values: int) -> dict[str, int]:
    """
    A C{memory} object: every figure 0 unless given.
    """
    figures = dict.fromkeys(
        [
            "heap_objects",
            "heap_idle_bytes",
            "heap_in_use_bytes",
            "heap_released_bytes",
            "gc_pause_usec_100",
            "gc_pause_usec_99",
            "gc_pause_usec_95",
            "next_gc_bytes",
            "gc_total_runs",
        ],
        0,
    )
    figures.update(values)
    return figures


SAMPLE: StatsSnapshot = {
    "topics": [
        topic(
            "orders",
            [
                channel(
                    "archive",
                    depth=3,
                    backend_depth=1,
                    in_flight_count=2,
                    deferred_count=1,
                    message_count=10,
                    requeue_count=4,
                    timeout_count=1,
                    client_count=2,
                    e2e_processing_latency=latency((0.99, 2400000.9)),
                ),
                channel("email"),
            ],
            depth=7,
            backend_depth=5,
            message_count=12,
            message_bytes=480,
            e2e_processing_latency=latency((0.99, 2500000.7), (0.5, 1000000.2)),
        )
    ],
    "memory": memory(
        heap_objects=1000,
        heap_in_use_bytes=4096000,
        gc_pause_usec_100=900,
        gc_pause_usec_99=800,
        gc_pause_usec_95=700,
        gc_total_runs=30,
    ),
}

SAMPLE_LINES = [
    "topic.orders.message_count:12|c",
    "topic.orders.message_bytes:480|c",
    "topic.orders.depth:7|g",
    "topic.orders.backend_depth:5|g",
    "topic.orders.e2e_processing_latency_99:2500000|g",
    "topic.orders.e2e_processing_latency_50:1000000|g",
    "topic.orders.channel.archive.message_count:10|c",
    "topic.orders.channel.archive.depth:3|g",
    "topic.orders.channel.archive.backend_depth:1|g",
    "topic.orders.channel.archive.in_flight_count:2|g",
    "topic.orders.channel.archive.deferred_count:1|g",
    "topic.orders.channel.archive.requeue_count:4|c",
    "topic.orders.channel.archive.timeout_count:1|c",
    "topic.orders.channel.archive.clients:2|g",
    "topic.orders.channel.archive.e2e_processing_latency_99:2400000|g",
    "topic.orders.channel.email.message_count:0|c",
    "topic.orders.channel.email.depth:0|g",
    "topic.orders.channel.email.backend_depth:0|g",
    "topic.orders.channel.email.in_flight_count:0|g",
    "topic.orders.channel.email.deferred_count:0|g",
    "topic.orders.channel.email.requeue_count:0|c",
    "topic.orders.channel.email.timeout_count:0|c",
    "topic.orders.channel.email.clients:0|g",
    "mem.heap_objects:1000|g",
    "mem.heap_idle_bytes:0|g",
    "mem.heap_in_use_bytes:4096000|g",
    "mem.heap_released_bytes:0|g",
    "mem.gc_pause_usec_100:900|g",
    "mem.gc_pause_usec_99:800|g",
    "mem.gc_pause_usec_95:700|g",
    "mem.next_gc_bytes:0|g",
    "mem.gc_runs:30|c",
]


class PrefixTests(SynchronousTestCase):
    """
    L{statsdPrefix} builds Go nsqd's prefix from C{--statsd-prefix}, the
    broadcast address and the HTTP port.
    """

    def test_hostKey(self) -> None:
        """
        Dots and colons become underscores, as Go's C{statsd.HostKey}.
        """
        self.assertEqual(hostKey("nsqd1.example.com:4151"), "nsqd1_example_com_4151")

    def test_joinHostPort(self) -> None:
        """
        An IPv6 host is bracketed, as Go's C{net.JoinHostPort}.
        """
        self.assertEqual(joinHostPort("nsqd1", "4151"), "nsqd1:4151")
        self.assertEqual(joinHostPort("::1", "4151"), "[::1]:4151")

    def test_default(self) -> None:
        """
        Go's default C{nsq.%s} gives C{nsq.<host_key>.} with the broadcast
        address's dots and the port's colon replaced.
        """
        self.assertEqual(
            statsdPrefix("nsq.%s", "nsqd1.example.com", 4151),
            "nsq.nsqd1_example_com_4151.",
        )

    def test_ipv6(self) -> None:
        """
        An IPv6 broadcast address keeps Go's brackets; only its colons
        become underscores.
        """
        self.assertEqual(statsdPrefix("nsq.%s", "::1", 4151), "nsq.[__1]_4151.")

    def test_dotAppendedOnce(self) -> None:
        """
        A dot is appended only when the prefix does not already end with
        one; every C{%s} is replaced.
        """
        self.assertEqual(statsdPrefix("stats.%s.nsqd", "h", 1), "stats.h_1.nsqd.")
        self.assertEqual(statsdPrefix("app.", "h", 1), "app.")
        self.assertEqual(statsdPrefix("%s.%s", "10.0.0.1", 2), "10_0_0_1_2.10_0_0_1_2.")

    def test_empty(self) -> None:
        """
        An empty C{--statsd-prefix} gives no prefix, not even a dot.
        """
        self.assertEqual(statsdPrefix("", "h", 4151), "")


class LinesTests(SynchronousTestCase):
    """
    L{statsdLines} gives Go nsqd's lines: names, order, counters as deltas,
    gauges as values.
    """

    def test_goNames(self) -> None:
        """
        The first push sends Go's names in Go's order: a topic's counters,
        gauges and latency, then each channel's, then the C{mem.*} family;
        counters count from 0 and every line carries the prefix.
        """
        self.assertEqual(
            statsdLines(SAMPLE, None, prefix=PREFIX),
            [PREFIX + line for line in SAMPLE_LINES],
        )

    def test_deltas(self) -> None:
        """
        Counters are what changed since the previous snapshot, gauges the
        current value; C{mem.gc_runs} is a delta too.
        """
        later: StatsSnapshot = {
            "topics": [
                topic(
                    "orders",
                    [
                        channel(
                            "archive",
                            message_count=15,
                            requeue_count=4,
                            timeout_count=3,
                            depth=9,
                        )
                    ],
                    message_count=20,
                    message_bytes=800,
                    depth=2,
                )
            ],
            "memory": memory(gc_total_runs=33, heap_objects=1200),
        }
        lines = statsdLines(later, SAMPLE)
        self.assertEqual(
            [line for line in lines if line.endswith("|c")],
            [
                "topic.orders.message_count:8|c",
                "topic.orders.message_bytes:320|c",
                "topic.orders.channel.archive.message_count:5|c",
                "topic.orders.channel.archive.requeue_count:0|c",
                "topic.orders.channel.archive.timeout_count:2|c",
                "mem.gc_runs:3|c",
            ],
        )
        self.assertIn("topic.orders.depth:2|g", lines)
        self.assertIn("topic.orders.channel.archive.depth:9|g", lines)
        self.assertIn("mem.heap_objects:1200|g", lines)

    def test_newAndRecreated(self) -> None:
        """
        A topic or channel the previous snapshot lacks counts from 0; a
        counter that went down (the topic was deleted and created again)
        sends a negative delta, as Go's unsigned subtraction converted to
        C{int64} does.
        """
        previous: StatsSnapshot = {"topics": [topic("a", [], message_count=100)]}
        current: StatsSnapshot = {
            "topics": [
                topic("a", [channel("fresh", message_count=4)], message_count=30),
                topic("b", [], message_count=7),
            ]
        }
        lines = statsdLines(current, previous, memStats=False)
        self.assertIn("topic.a.message_count:-70|c", lines)
        self.assertIn("topic.a.channel.fresh.message_count:4|c", lines)
        self.assertIn("topic.b.message_count:7|c", lines)

    def test_latencyNames(self) -> None:
        """
        A percentile is named by its quantile times 100 printed as Go's
        C{%.0f} (rounded half to even on the binary value), and its value is
        truncated to whole nanoseconds.
        """
        snapshot: StatsSnapshot = {
            "topics": [
                topic(
                    "t",
                    [],
                    e2e_processing_latency=latency(
                        (1.0, 9.9),
                        (0.999, 8.5),
                        (0.995, 7.0),
                        (0.95, 6.0),
                        (0.5, 5.0),
                        (0.125, 1.0),
                    ),
                )
            ]
        }
        lines = statsdLines(snapshot, memStats=False)
        self.assertEqual(
            [line for line in lines if "e2e" in line],
            [
                "topic.t.e2e_processing_latency_100:9|g",
                "topic.t.e2e_processing_latency_100:8|g",
                "topic.t.e2e_processing_latency_100:7|g",
                "topic.t.e2e_processing_latency_95:6|g",
                "topic.t.e2e_processing_latency_50:5|g",
                "topic.t.e2e_processing_latency_12:1|g",
            ],
        )

    def test_latencyNotFinite(self) -> None:
        """
        A value outside C{int64} (NaN included) does not raise: it is sent
        as Go's conversion gives it on amd64, the smallest C{int64}.
        """
        snapshot: StatsSnapshot = {
            "topics": [topic("t", [], e2e_processing_latency=latency((0.5, math.nan)))]
        }
        self.assertIn(
            "topic.t.e2e_processing_latency_50:-9223372036854775808|g",
            statsdLines(snapshot, memStats=False),
        )

    def test_memStatsOff(self) -> None:
        """
        Without C{--statsd-mem-stats}, or without memory in the snapshot,
        no C{mem.*} line is sent.
        """
        self.assertFalse(
            [line for line in statsdLines(SAMPLE, memStats=False) if "mem." in line]
        )
        self.assertFalse(
            [
                line
                for line in statsdLines({"topics": SAMPLE["topics"]})
                if "mem." in line
            ]
        )

    def test_noTopics(self) -> None:
        """
        A snapshot without topics (C{null} in Go's JSON) sends only the
        C{mem.*} family.
        """
        lines = statsdLines({"topics": None, "memory": memory()})
        self.assertEqual([line.split(".")[0] for line in lines], ["mem"] * 9)

    def test_excludeEphemeral(self) -> None:
        """
        With C{--statsd-exclude-ephemeral}, an ephemeral topic is left out
        with all its channels, and an ephemeral channel of a kept topic is
        left out; without it they are sent like any other.
        """
        snapshot: StatsSnapshot = {
            "topics": [
                topic("kept", [channel("c#ephemeral"), channel("durable")]),
                topic("gone#ephemeral", [channel("durable")]),
            ]
        }
        names = {
            line.split(":")[0].rsplit(".", 1)[0]
            for line in statsdLines(snapshot, memStats=False, excludeEphemeral=True)
        }
        self.assertEqual(names, {"topic.kept", "topic.kept.channel.durable"})
        names = {
            line.split(":")[0].rsplit(".", 1)[0]
            for line in statsdLines(snapshot, memStats=False)
        }
        self.assertEqual(
            names,
            {
                "topic.kept",
                "topic.kept.channel.c#ephemeral",
                "topic.kept.channel.durable",
                "topic.gone#ephemeral",
                "topic.gone#ephemeral.channel.durable",
            },
        )

    def test_fromGatherStats(self) -> None:
        """
        The snapshot nsqd builds from L{gatherStats} (without clients) and
        L{memoryStats} has every field the lines read.
        """
        broker = Broker(NSQDConfig(e2e_processing_latency_percentiles=[0.99]))
        broker.getChannel("t", "c", 0.0)
        broker.publish("t", [b"hello"], 0.0)
        stats = gatherStats(broker, [], includeClients=False, now=0.0)
        snapshot: StatsSnapshot = {"topics": stats.topics, "memory": memoryStats()}
        names = [line.split(":")[0] for line in statsdLines(snapshot)]
        self.assertEqual(
            names[:5],
            [
                "topic.t.message_count",
                "topic.t.message_bytes",
                "topic.t.depth",
                "topic.t.backend_depth",
                "topic.t.e2e_processing_latency_99",
            ],
        )
        self.assertIn("topic.t.channel.c.clients", names)
        self.assertEqual(names[-1], "mem.gc_runs")
        self.assertIn("topic.t.message_bytes:5|c", statsdLines(snapshot))

    def test_pure(self) -> None:
        """
        The module imports nothing from Twisted, Klein, treq, zope or
        txaio (it is part of the sans-IO core).
        """
        tree = ast.parse(inspect.getsource(statsd))
        imported: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                imported.append(node.module or "")
        forbidden = {"twisted", "klein", "treq", "zope", "txaio"}
        self.assertEqual(
            [name for name in imported if name.split(".")[0] in forbidden], []
        )


class PackTests(SynchronousTestCase):
    """
    L{packDatagrams} packs whole lines as Go's C{BoundaryBufferedWriter}.
    """

    def test_greedy(self) -> None:
        """
        Lines go in order, each ended by a newline, as many as fit; a line
        that does not fit starts the next datagram.
        """
        self.assertEqual(
            packDatagrams(["aaaa", "bbb", "cc", "d"], 9),
            [b"aaaa\nbbb\n", b"cc\nd\n"],
        )

    def test_exactFit(self) -> None:
        """
        A datagram may be exactly the packet size.
        """
        self.assertEqual(packDatagrams(["abc", "defg"], 9), [b"abc\ndefg\n"])

    def test_oversizedLineAlone(self) -> None:
        """
        A line longer than the packet size is never split: it goes out alone
        in a datagram of its own, between its neighbours'.
        """
        self.assertEqual(
            packDatagrams(["a", "x" * 20, "b"], 8),
            [b"a\n", b"x" * 20 + b"\n", b"b\n"],
        )

    def test_defaultSize(self) -> None:
        """
        A packet size of 0 or less is C{bufio}'s default, 4096 bytes.
        """
        lines = ["x" * 99] * 100
        for size in (0, -1):
            datagrams = packDatagrams(lines, size)
            self.assertEqual(len(datagrams[0]), DEFAULT_PACKET_SIZE - 96)
            self.assertEqual(len(datagrams), 3)

    def test_nothing(self) -> None:
        """
        No line, no datagram.
        """
        self.assertEqual(packDatagrams([], 508), [])

    @given(
        st.lists(st.text(alphabet="abc.:|_", min_size=0, max_size=40)),
        st.integers(min_value=1, max_value=64),
    )
    def test_properties(self, lines: list[str], size: int) -> None:
        """
        For any lines and size: the datagrams hold every line once, in
        order; each is at most the size unless it is one oversized line;
        and each full datagram could not have taken the next line.
        """
        datagrams = packDatagrams(lines, size)
        self.assertEqual(b"".join(datagrams), "".join(f"{x}\n" for x in lines).encode())
        for index, datagram in enumerate(datagrams):
            self.assertTrue(datagram.endswith(b"\n"))
            if len(datagram) > size:
                self.assertEqual(datagram.count(b"\n"), 1)
            if index + 1 < len(datagrams):
                nextLine = datagrams[index + 1].split(b"\n", 1)[0] + b"\n"
                self.assertGreater(len(datagram) + len(nextLine), size)


class SpreadTests(SynchronousTestCase):
    """
    L{spreadOffsets} spreads a push over the interval less a second, as
    Go's C{SpreadWriter}.
    """

    def test_spread(self) -> None:
        """
        Datagram C{i} of C{n} leaves C{i * (interval - 1s) / n} after the
        push starts, the step in whole nanoseconds.
        """
        self.assertEqual(spreadOffsets(3, 60.0), [0.0, 19.666666666, 39.333333332])
        self.assertEqual(spreadOffsets(4, 5.0), [0.0, 1.0, 2.0, 3.0])

    def test_tooShort(self) -> None:
        """
        With an interval of a second or less (where Go panics) every
        datagram leaves at once.
        """
        self.assertEqual(spreadOffsets(3, 1.0), [0.0, 0.0, 0.0])
        self.assertEqual(spreadOffsets(2, 0.5), [0.0, 0.0])

    def test_none(self) -> None:
        """
        No datagram, no offset.
        """
        self.assertEqual(spreadOffsets(0, 60.0), [])


# The service.


@implementer(IUDPTransport, IListeningPort)
class FakeUDPPort:
    """
    A bound UDP port that records what is written to it.

    @ivar written: C{(datagram, address)} for each write.
    @ivar error: raised by C{write} when set.
    """

    def __init__(self, interface: str) -> None:
        self.interface = interface
        self.written: list[tuple[bytes, tuple[str, int] | None]] = []
        self.error: Exception | None = None
        self.stopped = False

    def write(self, packet: bytes, addr: tuple[str, int] | None = None) -> None:
        if self.error is not None:
            raise self.error
        self.written.append((packet, addr))

    def connect(self, host: str, port: int) -> None:
        raise NotImplementedError("statsd does not connect")

    def getHost(self) -> IPv4Address:
        return IPv4Address("UDP", "0.0.0.0", 40000)

    def startListening(self) -> None:
        pass

    def stopListening(self) -> None:
        self.stopped = True

    def setBroadcastAllowed(self, enabled: bool) -> None:
        pass

    def getBroadcastAllowed(self) -> bool:
        return False


@implementer(IHostResolution)
class FakeResolution:
    """
    A lookup in progress.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        raise NotImplementedError()


@implementer(IHostnameResolver)
class FakeResolver:
    """
    Answers lookups from C{answers}, or leaves them unanswered (in
    C{pending}) when C{answers} lacks the name.

    @ivar lookups: C{(hostName, portNumber, transportSemantics)} for each
        lookup.
    """

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[tuple[str, int, str]] = []
        self.pending: list[IResolutionReceiver] = []

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        self.lookups.append((hostName, portNumber, transportSemantics))
        resolution = FakeResolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        if hostName not in self.answers:
            self.pending.append(resolutionReceiver)
            return resolution
        for host in self.answers[hostName]:
            kind = IPv6Address if ":" in host else IPv4Address
            resolutionReceiver.addressResolved(kind("UDP", host, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


@implementer(IReactorUDP)
class UDPReactor(MemoryReactorClock):
    """
    A memory reactor with a clock, a L{FakeResolver} and L{FakeUDPPort}s.

    @ivar udpPorts: the ports bound, in order.
    @ivar listenError: raised by C{listenUDP} when set.
    """

    def __init__(self) -> None:
        super().__init__()
        self.resolver = FakeResolver()
        self.installNameResolver(self.resolver)
        self.udpPorts: list[FakeUDPPort] = []
        self.listenError: Exception | None = None

    def listenUDP(
        self,
        port: int,
        protocol: DatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 8192,
    ) -> FakeUDPPort:
        if self.listenError is not None:
            raise self.listenError
        udp = FakeUDPPort(interface)
        self.udpPorts.append(udp)
        protocol.makeConnection(udp)
        return udp

    def datagrams(self) -> list[bytes]:
        """
        Every datagram written so far, on every port.
        """
        return [datagram for udp in self.udpPorts for datagram, _ in udp.written]


class Snapshots:
    """
    A gather callable that returns one snapshot after another (the last
    one again once exhausted) and counts its calls.
    """

    def __init__(self, *snapshots: StatsSnapshot) -> None:
        self.snapshots = list(snapshots)
        self.calls = 0

    def __call__(self) -> StatsSnapshot:
        snapshot = self.snapshots[min(self.calls, len(self.snapshots) - 1)]
        self.calls += 1
        return snapshot


def orders(count: int) -> StatsSnapshot:
    """
    A snapshot of one topic, C{orders}, with C{count} messages and no
    channel.
    """
    return {"topics": [topic("orders", [], message_count=count)]}


class ServiceTests(SynchronousTestCase):
    """
    L{StatsdService} pushes on Go's schedule and never lets UDP fail nsqd.
    """

    def setUp(self) -> None:
        """
        A fake reactor and captured log events.
        """
        self.reactor = UDPReactor()
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)

    def service(
        self, gather: Snapshots, address: str = "127.0.0.1:8125", **kwargs: Any
    ) -> StatsdService:
        """
        A started service pushing to C{address}, stopped at cleanup.
        """
        kwargs.setdefault("memStats", False)
        kwargs.setdefault("logNamespace", "txnsq.nsqd")
        service = StatsdService(address, gather, self.reactor, **kwargs)
        service.startService()

        def stop() -> None:
            if service.running:
                service.stopService()

        self.addCleanup(stop)
        return service

    def messages(self, level: LogLevel | None = None) -> list[str]:
        """
        The log messages so far, at C{level} if given.
        """
        return [
            formatEvent(event)
            for event in self.events
            if level is None or event["log_level"] == level
        ]

    def test_firstPushOneIntervalLater(self) -> None:
        """
        Nothing is sent at start: the first push comes one interval later,
        as Go's ticker first fires then, and the next one interval after.
        """
        gather = Snapshots(orders(3), orders(5))
        self.service(gather, interval=60.0)
        self.assertEqual((gather.calls, self.reactor.datagrams()), (0, []))
        self.reactor.advance(59.9)
        self.assertEqual(gather.calls, 0)
        self.reactor.advance(0.1)
        self.assertEqual(gather.calls, 1)
        self.assertEqual(
            self.reactor.datagrams(),
            [
                b"topic.orders.message_count:3|c\ntopic.orders.message_bytes:0|c\n"
                b"topic.orders.depth:0|g\ntopic.orders.backend_depth:0|g\n"
            ],
        )
        self.assertEqual(self.reactor.udpPorts[0].written[0][1], ("127.0.0.1", 8125))
        self.reactor.advance(60.0)
        self.assertEqual(gather.calls, 2)
        self.assertIn(b"topic.orders.message_count:2|c\n", self.reactor.datagrams()[1])
        self.assertEqual(
            self.messages(LogLevel.info),
            ["STATSD: pushing stats to 127.0.0.1:8125"] * 2,
        )

    def test_spread(self) -> None:
        """
        A push's datagrams are spread over the interval less one second,
        the first at once; one socket serves every push.
        """
        gather = Snapshots(orders(1))
        # Four lines of 31 to 34 bytes: one datagram each.
        self.service(gather, interval=5.0, packetSize=40)
        self.reactor.advance(5.0)
        self.assertEqual(len(self.reactor.datagrams()), 1)
        for sent in (2, 3, 4):
            self.reactor.advance(1.0)
            self.assertEqual(len(self.reactor.datagrams()), sent)
        self.reactor.advance(2.0)
        self.assertEqual(len(self.reactor.datagrams()), 5)
        self.assertEqual(len(self.reactor.udpPorts), 1)

    def test_stopSendsTheRest(self) -> None:
        """
        Stopping mid-push sends the datagrams still held at once (Go's
        spread writer skips its waits on exit), closes the socket, leaves
        nothing scheduled, and logs Go's C{STATSD: closing}.
        """
        service = self.service(Snapshots(orders(1)), interval=5.0, packetSize=40)
        self.reactor.advance(5.0)
        stopped = service.stopService()
        self.assertIsNone(self.successResultOf(stopped))
        self.assertEqual(len(self.reactor.datagrams()), 4)
        self.assertTrue(self.reactor.udpPorts[0].stopped)
        self.assertEqual(self.reactor.getDelayedCalls(), [])
        self.assertEqual(self.messages()[-1], "STATSD: closing")

    def test_hostNameResolvedEachPush(self) -> None:
        """
        A host name is looked up with the reactor's resolver, for UDP, at
        every push (so a moved statsd is followed), and the datagrams go to
        the address found.
        """
        self.reactor.resolver.answers["statsd.example"] = ["10.0.0.7", "10.0.0.8"]
        self.service(Snapshots(orders(1)), "statsd.example:8125", interval=10.0)
        self.reactor.advance(10.0)
        self.reactor.resolver.answers["statsd.example"] = ["10.0.0.9"]
        self.reactor.advance(10.0)
        self.assertEqual(
            self.reactor.resolver.lookups, [("statsd.example", 8125, "UDP")] * 2
        )
        self.assertEqual(
            [address for _, address in self.reactor.udpPorts[0].written],
            [("10.0.0.7", 8125), ("10.0.0.9", 8125)],
        )

    def test_unresolvedLoggedOncePerEpisode(self) -> None:
        """
        A host name without address: Go's C{failed to create UDP socket}
        error once for the whole episode, nothing gathered nor sent, and
        the previous snapshot kept, so the first push that gets through
        counts from it.  A later failure starts a new episode.
        """
        resolver = self.reactor.resolver
        resolver.answers["statsd.example"] = ["10.0.0.7"]
        gather = Snapshots(orders(3), orders(10), orders(12))
        self.service(gather, "statsd.example:8125", interval=10.0)
        self.reactor.advance(10.0)
        resolver.answers["statsd.example"] = []
        self.reactor.advance(10.0)
        self.reactor.advance(10.0)
        self.assertEqual(gather.calls, 1)
        errors = ["failed to create UDP socket to statsd(statsd.example:8125)"]
        self.assertEqual(self.messages(LogLevel.error), errors)

        resolver.answers["statsd.example"] = ["10.0.0.7"]
        self.reactor.advance(10.0)
        self.assertIn(b"topic.orders.message_count:7|c\n", self.reactor.datagrams()[-1])

        resolver.answers["statsd.example"] = []
        self.reactor.advance(10.0)
        self.assertEqual(self.messages(LogLevel.error), errors * 2)

    def test_lookupTimesOut(self) -> None:
        """
        A lookup gets Go's one-second dial timeout; a tick while a lookup is
        under way is dropped, as Go's loop is still dialling; an answer
        after the timeout is ignored.
        """
        gather = Snapshots(orders(1))
        service = self.service(gather, "slow.example:8125", interval=0.5)
        resolver = self.reactor.resolver
        self.reactor.advance(0.5)
        self.reactor.advance(0.5)
        self.assertEqual(len(resolver.lookups), 1)
        self.assertEqual(self.messages(LogLevel.error), [])
        self.reactor.advance(DIAL_TIMEOUT - 0.5)
        self.assertEqual(len(self.messages(LogLevel.error)), 1)
        self.assertEqual(len(resolver.lookups), 2)
        resolver.pending[0].addressResolved(IPv4Address("UDP", "10.0.0.7", 8125))
        resolver.pending[0].resolutionComplete()
        self.assertEqual(gather.calls, 0)
        self.assertIsNone(service.lastSnapshot)

    def test_stopWhileResolving(self) -> None:
        """
        Stopping during a lookup abandons it without an error.
        """
        service = self.service(Snapshots(orders(1)), "slow.example:8125", interval=10.0)
        self.reactor.advance(10.0)
        self.successResultOf(service.stopService())
        self.assertEqual(self.messages(LogLevel.error), [])
        self.assertEqual(self.reactor.getDelayedCalls(), [])

    def test_sendErrorsLoggedOncePerEpisode(self) -> None:
        """
        Datagrams that cannot be sent are dropped: one error for the
        episode however many fail, the service goes on, and a push that
        sends everything ends the episode.
        """
        gather = Snapshots(orders(1))
        self.service(gather, interval=5.0, packetSize=40)
        self.reactor.advance(5.0)
        port = self.reactor.udpPorts[0]
        port.error = OSError(11, "Resource temporarily unavailable")
        self.reactor.advance(5.0)
        self.reactor.advance(5.0)
        errors = [
            "STATSD: failed to send to 127.0.0.1:8125: "
            "[Errno 11] Resource temporarily unavailable"
        ]
        self.assertEqual(self.messages(LogLevel.error), errors)
        port.error = None
        self.reactor.advance(5.0)
        self.assertEqual(gather.calls, 4)
        self.reactor.advance(4.0)
        port.error = OSError(90, "Message too long")
        self.reactor.advance(1.0)
        self.assertEqual(len(self.messages(LogLevel.error)), 2)

    def test_gatherFailureLogged(self) -> None:
        """
        A snapshot that cannot be taken is logged once with its traceback
        and the timer keeps running.
        """
        calls: list[None] = []

        def broken() -> StatsSnapshot:
            calls.append(None)
            raise RuntimeError("no stats")

        service = StatsdService("127.0.0.1:8125", broken, self.reactor, interval=1.0)
        service.startService()
        self.addCleanup(service.stopService)
        self.reactor.advance(1.0)
        self.reactor.advance(1.0)
        self.assertEqual(len(calls), 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.reactor.datagrams(), [])

    def test_badAddress(self) -> None:
        """
        An address Go cannot dial fails each push (logged once), not the
        start; so does a socket that cannot be bound.
        """
        addresses = ["no-port", "127.0.0.1:99999", "127.0.0.1:no-such-service"]
        for address in addresses:
            self.service(Snapshots(orders(1)), address, interval=1.0)
        self.reactor.advance(1.0)
        self.reactor.advance(1.0)
        self.assertEqual(
            self.messages(LogLevel.error),
            [f"failed to create UDP socket to statsd({a})" for a in addresses],
        )
        self.reactor.listenError = CannotListenError("", 0, OSError("no"))
        self.service(Snapshots(orders(1)), "127.0.0.1:8125", interval=1.0)
        self.reactor.advance(1.0)
        self.reactor.advance(1.0)
        self.assertEqual(len(self.messages(LogLevel.error)), 4)
        self.assertEqual(self.reactor.udpPorts, [])

    def test_ipv6AndLocalHost(self) -> None:
        """
        An IPv6 statsd is sent to from an IPv6 socket; an empty host is this
        machine, as Go dials it.
        """
        self.service(Snapshots(orders(1)), "[::1]:8125", interval=1.0)
        self.service(Snapshots(orders(1)), ":8125", interval=1.0)
        self.reactor.advance(1.0)
        self.assertEqual(
            [(udp.interface, udp.written[0][1]) for udp in self.reactor.udpPorts],
            [("::", ("::1", 8125)), ("", ("127.0.0.1", 8125))],
        )

    def test_nonPositiveInterval(self) -> None:
        """
        An interval that is not positive is refused (Go's ticker panics).
        """
        for interval in (0.0, -1.0):
            self.assertRaises(
                ValueError,
                StatsdService,
                "127.0.0.1:8125",
                Snapshots(orders(1)),
                self.reactor,
                interval=interval,
            )


class MakeStatsdServiceTests(SynchronousTestCase):
    """
    L{makeStatsdService} configures the service from nsqd's options.
    """

    def test_noAddress(self) -> None:
        """
        Without C{--statsd-address} there is no service, as Go starts no
        statsd loop.
        """
        self.assertIsNone(makeStatsdService(NSQDConfig(), lambda: orders(0), Clock()))

    def test_fromConfig(self) -> None:
        """
        The options reach the service; the prefix is read at the first
        push, by when nsqd has replaced C{--statsd-prefix} with the prefix
        it computed once listening.
        """
        reactor = UDPReactor()
        config = NSQDConfig(
            statsd_address="127.0.0.1:8125",
            statsd_interval=5.0,
            statsd_mem_stats=False,
            statsd_udp_packet_size=100,
            statsd_exclude_ephemeral=True,
        )
        snapshot: StatsSnapshot = {
            "topics": [topic("t", []), topic("e#ephemeral", [])],
            "memory": memory(),
        }
        service = makeStatsdService(config, lambda: snapshot, reactor)
        assert service is not None
        self.assertEqual(service.step, 5.0)
        service.startService()
        self.addCleanup(service.stopService)
        config.statsd_prefix = "nsq.nsqd1_example_4151."
        reactor.advance(5.0)
        reactor.advance(2.0)
        [first, second] = reactor.datagrams()
        self.assertEqual(
            first,
            b"nsq.nsqd1_example_4151.topic.t.message_count:0|c\n"
            b"nsq.nsqd1_example_4151.topic.t.message_bytes:0|c\n",
        )
        self.assertTrue(second.startswith(b"nsq.nsqd1_example_4151.topic.t.depth:"))

    def test_interfaces(self) -> None:
        """
        The test doubles provide the interfaces the service relies on.
        """
        reactor = UDPReactor()
        self.assertTrue(verifyObject(IReactorUDP, reactor))
        self.assertTrue(verifyObject(IReactorTime, reactor))
        self.assertTrue(verifyObject(IHostnameResolver, reactor.resolver))
        self.assertTrue(verifyObject(IUDPTransport, FakeUDPPort("")))


# Real UDP.


@implementer(IReactorTime, IReactorUDP)
class _ClockedUDP:
    """
    The real reactor's UDP with a L{Clock}'s time, so a push happens when
    the test says and the datagrams still cross a real socket.
    """

    def __init__(self, clock: Clock, udp: IReactorUDP) -> None:
        self._clock = clock
        self._udp = udp

    def seconds(self) -> float:
        return self._clock.seconds()

    def callLater(self, delay: float, callable: Any, *args: Any, **kw: Any) -> Any:
        return self._clock.callLater(delay, callable, *args, **kw)

    def getDelayedCalls(self) -> Any:
        return self._clock.getDelayedCalls()

    def listenUDP(
        self,
        port: int,
        protocol: DatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 8192,
    ) -> IListeningPort:
        return self._udp.listenUDP(port, protocol, interface, maxPacketSize)


class _Receiver(DatagramProtocol):
    """
    Collects datagrams and fires C{done} once C{expected} have come.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.received: list[bytes] = []
        self.done: Deferred[list[bytes]] = Deferred()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append(datagram)
        if len(self.received) == self.expected:
            self.done.callback(self.received)


class RealUDPTests(TestCase):
    """
    The datagrams cross a real UDP socket on the loopback interface.
    """

    def test_received(self) -> Deferred[None]:
        """
        A statsd listening on C{127.0.0.1} receives the push's datagrams,
        each at most the packet size, holding every line once.
        """
        from twisted.internet import reactor as _reactor

        real: Any = _reactor
        expected = packDatagrams([PREFIX + line for line in SAMPLE_LINES], 508)
        receiver = _Receiver(expected=len(expected))
        listening = real.listenUDP(0, receiver, interface="127.0.0.1")
        self.addCleanup(listening.stopListening)
        clock = Clock()
        service = StatsdService(
            f"127.0.0.1:{listening.getHost().port}",
            Snapshots(SAMPLE),
            _ClockedUDP(clock, real),
            prefix=lambda: PREFIX,
            interval=1.0,
            packetSize=508,
            memStats=True,
        )
        service.startService()
        self.addCleanup(service.stopService)
        clock.advance(1.0)

        def check(received: list[bytes]) -> None:
            # Loopback keeps the order; each datagram is as packed.
            self.assertEqual(received, expected)
            self.assertGreater(len(received), 1)

        return receiver.done.addTimeout(10, real).addCallback(check)
