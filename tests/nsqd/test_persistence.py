"""
nsqd persistence end to end, in process: an L{NSQDService} on 127.0.0.1
port 0 with the real reactor, real TCP clients, graceful stops
(C{stopService}) and restarts on the same data path.

Covers what survives a restart (queued messages, topology, pause flags,
defer times), C{--mem-queue-size=0}, recovery from damaged files, Go nsqd
1.3.0's data directories (C{tests/data/golden/datadir}) in both directions,
and the data-path lock.

Nothing here sleeps to let something happen: waits are on frames, and
"nothing else arrives" is proved with a barrier (L{Client.barrier}): C{FIN}s
of an unknown ID whose C{E_FIN_FAILED} replies come after every frame the
commands before them caused (frames go out in order), together with the
broker's own counts.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import struct
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import deferLater
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from txnsq._go.exit import Fatal
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.diskqueue import DiskQueue
from txnsq.nsqd.persistence import Persistence
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.state import Broker
from txnsq.nsqd.state.channel import Channel
from txnsq.nsqd.state.metadata import DataPathLocked
from txnsq.nsqd.state.topic import Topic
from txnsq.wire.commands import encodeCommand, encodeMPub
from txnsq.wire.frames import (
    FRAME_TYPE_ERROR,
    FRAME_TYPE_MESSAGE,
    FRAME_TYPE_RESPONSE,
)
from txnsq.wire.message import decodeMessage

from ._realserver import Frame, FrameClient, reactor

GOLDEN_DATADIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "data", "golden", "datadir"
)

OK: Frame = (FRAME_TYPE_RESPONSE, b"OK")
HEARTBEAT = b"_heartbeat_"

#: A well-formed message ID that is never in flight: the barrier's FIN.
UNKNOWN_ID = b"0" * 16
BARRIER_ERROR = b"E_FIN_FAILED FIN " + UNKNOWN_ID + b" failed ID not in flight"

#: How long to wait for one frame before calling it lost (seconds); only
#: reached when the test fails.
FRAME_WAIT = 10.0


# The server.


def nsqdConfig(dataPath: str, **changes: Any) -> NSQDConfig:
    """
    A config for an in-process nsqd on C{dataPath}: TCP on a free loopback
    port, no HTTP.
    """
    changes.setdefault("node_id", 7)
    changes.setdefault("broadcast_address", "127.0.0.1")
    return NSQDConfig(
        tcp_address="127.0.0.1:0", http_address="", data_path=dataPath, **changes
    )


async def startNSQD(testCase: TestCase, dataPath: str, **changes: Any) -> NSQDService:
    """
    Start an L{NSQDService} on C{dataPath} and wait until it listens; it is
    stopped (gracefully) when C{testCase} ends, if still running.
    """
    service = NSQDService(nsqdConfig(dataPath, **changes), reactor)
    service.startService()

    async def stopIfRunning() -> None:
        if service.running:
            await service.stopService()

    testCase.addCleanup(lambda: Deferred.fromCoroutine(stopIfRunning()))
    await service.whenTCPListening()
    return service


def newDataPath(testCase: TestCase) -> str:
    """
    A fresh, empty data directory.
    """
    path: str = os.path.abspath(testCase.mktemp())
    os.makedirs(path)
    return path


def scheduledBy(service: NSQDService) -> list[IDelayedCall]:
    """
    The reactor's pending calls to methods of C{service}'s TCP factory or
    broker.
    """
    owners = (service.factory, service.broker)
    return [
        call
        for call in reactor.getDelayedCalls()
        if any(
            getattr(getattr(call, "func", None), "__self__", None) is owner
            for owner in owners
        )
    ]


def now() -> float:
    """
    The clock the services use (the real reactor's).
    """
    return float(reactor.seconds())


def topicOf(service: NSQDService, name: str) -> Topic:
    """
    The broker's topic C{name} (the test fails if it does not exist).
    """
    topic = service.broker.topics.get(name)
    assert topic is not None, f"no topic {name!r}: {sorted(service.broker.topics)}"
    return topic


def channelOf(service: NSQDService, topicName: str, name: str) -> Channel:
    """
    The broker's channel C{topicName:name} (the test fails if it does not
    exist).
    """
    channel = topicOf(service, topicName).channels.get(name)
    assert channel is not None, f"no channel {topicName}:{name}"
    return channel


# Clients.


class Delivery(NamedTuple):
    """
    One message frame as a consumer saw it.
    """

    id: bytes
    body: bytes
    attempts: int
    timestamp: int
    receivedAt: float


class Client:
    """
    A raw V2 client on a L{FrameClient}: publishes and consumes, replying
    to heartbeats.
    """

    def __init__(self, frames: FrameClient) -> None:
        self.frames = frames

    async def nextFrame(self) -> Frame:
        """
        The next frame that is not a heartbeat (answered with NOP).

        @raise AssertionError: the connection closed or nothing came.
        """
        while True:
            frame = await self.frames.frame(FRAME_WAIT)
            assert frame is not None, "connection closed or no frame in time"
            if frame == (FRAME_TYPE_RESPONSE, HEARTBEAT):
                self.frames.send(b"NOP\n")
                continue
            return frame

    async def command(self, data: bytes) -> Frame:
        """
        Send one command and return the frame that answers it (on a
        connection that receives no messages meanwhile).
        """
        self.frames.send(data)
        return await self.nextFrame()

    async def publish(self, topic: str, bodies: list[bytes], batch: int = 500) -> None:
        """
        Publish C{bodies} in order with MPUB (PUB for a single body),
        waiting for each C{OK}.
        """
        name = topic.encode()
        for start in range(0, len(bodies), batch):
            chunk = bodies[start : start + batch]
            if len(chunk) == 1:
                data = encodeCommand(b"PUB", name, body=chunk[0])
            else:
                data = encodeMPub(name, chunk)
            reply = await self.command(data)
            assert reply == OK, f"publish to {topic!r} answered {reply!r}"

    async def deferredPublish(self, topic: str, delayMs: int, body: bytes) -> None:
        """
        DPUB one message.
        """
        data = encodeCommand(b"DPUB", topic.encode(), b"%d" % delayMs, body=body)
        reply = await self.command(data)
        assert reply == OK, f"DPUB answered {reply!r}"

    async def subscribe(self, topic: str, channel: str, rdy: int = 50) -> None:
        """
        SUB (waiting for its C{OK}), then RDY C{rdy}.
        """
        reply = await self.command(b"SUB %s %s\n" % (topic.encode(), channel.encode()))
        assert reply == OK, f"SUB {topic} {channel} answered {reply!r}"
        if rdy:
            self.frames.send(b"RDY %d\n" % rdy)

    async def receive(self, count: int, finish: bool = True) -> list[Delivery]:
        """
        The next C{count} messages, each FINished at once unless told not.

        @raise AssertionError: anything but a message frame came.
        """
        out: list[Delivery] = []
        while len(out) < count:
            frameType, data = await self.nextFrame()
            assert frameType == FRAME_TYPE_MESSAGE, (
                f"after {len(out)} of {count} messages: {(frameType, data)!r}"
            )
            timestamp, attempts, messageID, body = decodeMessage(data)
            out.append(Delivery(messageID, body, attempts, timestamp, now()))
            if finish:
                self.frames.send(b"FIN %s\n" % messageID)
        return out

    async def barrier(self) -> list[Delivery]:
        """
        Wait until nsqd has answered every command sent so far with all it
        causes at once, using C{FIN}s of an unknown ID, whose
        C{E_FIN_FAILED} replies are the markers.

        nsqd handles a whole read at a time and delivers the messages it
        freed (by RDY, FIN, REQ) at the end of the read, after the replies
        to its commands.  So the first marker only proves that the read
        holding the earlier commands was handled; a second marker, sent once
        the first came back, arrives in a later read and is answered after
        the deliveries of the earlier one.

        @return: the messages that arrived meanwhile (FINished).
        """
        extra: list[Delivery] = []
        for _ in range(2):
            self.frames.send(b"FIN %s\n" % UNKNOWN_ID)
            while True:
                frameType, data = await self.nextFrame()
                if frameType != FRAME_TYPE_MESSAGE:
                    break
                timestamp, attempts, messageID, body = decodeMessage(data)
                extra.append(Delivery(messageID, body, attempts, timestamp, now()))
                self.frames.send(b"FIN %s\n" % messageID)
            assert (frameType, data) == (FRAME_TYPE_ERROR, BARRIER_ERROR), (
                f"unexpected frame {(frameType, data)!r}"
            )
        return extra

    async def leave(self) -> None:
        """
        CLS (so nsqd sends this consumer nothing more) and disconnect.
        """
        reply = await self.command(b"CLS\n")
        assert reply == (FRAME_TYPE_RESPONSE, b"CLOSE_WAIT"), f"CLS answered {reply!r}"
        await self.frames.close()


async def connectAddress(testCase: TestCase, host: str, port: int) -> Client:
    """
    A new client connection to the nsqd at C{host:port} (magic sent),
    closed when C{testCase} ends.
    """
    endpoint = TCP4ClientEndpoint(reactor, host, port)
    frames = FrameClient()
    await connectProtocol(endpoint, frames)
    testCase.addCleanup(lambda: Deferred.fromCoroutine(frames.close()))
    frames.send(b"  V2")
    return Client(frames)


async def connect(testCase: TestCase, service: NSQDService) -> Client:
    """
    A new client connection to C{service}, closed when C{testCase} ends.
    """
    port = await service.whenTCPListening()
    address = port.getHost()
    return await connectAddress(testCase, address.host, address.port)  # type: ignore[attr-defined]


async def waitUntil(
    condition: Callable[[], bool], what: str, limit: float = FRAME_WAIT
) -> None:
    """
    Let the reactor run until C{condition()} holds (checked every 10 ms).

    @raise AssertionError: it did not within C{limit} seconds.
    """
    for _ in range(int(limit / 0.01)):
        if condition():
            return
        await deferLater(reactor, 0.01)
    assert condition(), f"never happened: {what}"


async def consumeAll(
    testCase: TestCase,
    service: NSQDService,
    topic: str,
    channel: str,
    count: int,
) -> list[Delivery]:
    """
    Subscribe a new consumer (RDY 50), receive and FIN C{count} messages,
    check that nothing more arrives (the channel is then left with nothing
    queued, in flight or deferred), and let the consumer go.
    """
    return await consumeAllBut(testCase, service, topic, channel, count, deferred=0)


async def consumeAllBut(
    testCase: TestCase,
    service: NSQDService,
    topic: str,
    channel: str,
    count: int,
    deferred: int,
) -> list[Delivery]:
    """
    Like L{consumeAll}, but C{deferred} messages are expected to stay in
    the channel's deferred queue, undelivered.
    """
    client = await connect(testCase, service)
    await client.subscribe(topic, channel)
    messages = await client.receive(count)
    extra = await client.barrier()
    testCase.assertEqual(extra, [], f"delivered early from {topic}/{channel}")
    state = channelOf(service, topic, channel)
    testCase.assertEqual(
        (state.depth(), len(state.inFlight), state.deferredCount()),
        (0, 0, deferred),
        f"{topic}/{channel}: (queued, in flight, deferred)",
    )
    await client.leave()
    return messages


def assertSameSequence(
    testCase: TestCase, actual: list[Any], expected: list[Any], label: str = ""
) -> None:
    """
    Fail unless C{actual == expected}, naming the first difference: trial's
    own diff of two long lists takes minutes.
    """
    if actual == expected:
        return
    index = next(
        (i for i, (a, e) in enumerate(zip(actual, expected)) if a != e),
        min(len(actual), len(expected)),
    )
    testCase.fail(
        f"{label}: {len(actual)} items, {len(expected)} expected; first"
        f" difference at {index}: {actual[index : index + 3]!r} !="
        f" {expected[index : index + 3]!r}"
    )


def bodiesOf(messages: Iterable[Delivery]) -> list[bytes]:
    """
    The bodies, in order.
    """
    return [m.body for m in messages]


# Reading a data directory the way Go nsqd reads it, independently of
# txnsq.nsqd.diskqueue.

_RECORD_LENGTH = struct.Struct(">i")
_META = re.compile(rb"(-?\d+)\n(-?\d+),(-?\d+)\n(-?\d+),(-?\d+)\n\Z")


class Record(NamedTuple):
    """
    One record of a go-diskqueue segment file.
    """

    fileNum: int
    offset: int
    size: int
    timestamp: int
    attempts: int
    id: bytes
    body: bytes


class QueueFiles(NamedTuple):
    """
    What a disk queue holds, read as go-diskqueue v1.1.0 reads it.
    """

    metaText: bytes
    depth: int
    readFileNum: int
    readPos: int
    writeFileNum: int
    writePos: int
    unread: list[Record]


def segmentName(queue: str, fileNum: int) -> str:
    """
    go-diskqueue's segment file name.
    """
    return f"{queue}.diskqueue.{fileNum:06d}.dat"


def readRecords(path: str, fileNum: int) -> list[Record]:
    """
    Every record of one segment file (the test fails on a malformed one).
    """
    with open(path, "rb") as f:
        data = f.read()
    records = []
    offset = 0
    while offset < len(data):
        assert len(data) - offset >= 4, f"{path}: partial length at {offset}"
        (size,) = _RECORD_LENGTH.unpack_from(data, offset)
        payload = data[offset + 4 : offset + 4 + size]
        assert size >= 26 and len(payload) == size, f"{path}: bad record at {offset}"
        timestamp, attempts, messageID, body = decodeMessage(payload)
        records.append(
            Record(fileNum, offset, size, timestamp, attempts, messageID, body)
        )
        offset += 4 + size
    return records


def readQueue(dataPath: str, queue: str) -> QueueFiles:
    """
    The metadata of disk queue C{queue} and its unread records, from the
    read position to the write position.
    """
    with open(os.path.join(dataPath, f"{queue}.diskqueue.meta.dat"), "rb") as f:
        metaText = f.read()
    match = _META.match(metaText)
    assert match is not None, f"{queue}: metadata {metaText!r}"
    depth, readFileNum, readPos, writeFileNum, writePos = map(int, match.groups())
    unread = []
    for fileNum in range(readFileNum, writeFileNum + 1):
        path = os.path.join(dataPath, segmentName(queue, fileNum))
        if not os.path.exists(path):
            continue
        for record in readRecords(path, fileNum):
            if fileNum == readFileNum and record.offset < readPos:
                continue
            if fileNum == writeFileNum and record.offset >= writePos:
                continue
            unread.append(record)
    return QueueFiles(
        metaText, depth, readFileNum, readPos, writeFileNum, writePos, unread
    )


def topology(nsqdDat: dict[str, Any]) -> tuple[Any, ...]:
    """
    C{nsqd.dat}'s content as sets (Go writes topics and channels in map
    order): C{(version, {(topic, paused, channels is null,
    {(channel, paused)})})}.
    """
    topics = frozenset(
        (
            topic["name"],
            topic["paused"],
            topic["channels"] is None,
            frozenset((c["name"], c["paused"]) for c in topic["channels"] or ()),
        )
        for topic in nsqdDat["topics"] or ()
    )
    return (nsqdDat["version"], topics)


def readNSQDDat(dataPath: str) -> dict[str, Any]:
    """
    The parsed C{nsqd.dat}.
    """
    with open(os.path.join(dataPath, "nsqd.dat"), "rb") as f:
        value: dict[str, Any] = json.load(f)
    return value


def errorEvents(observer: EventLoggingObserver) -> list[str]:
    """
    The text of every event logged at error level or above.
    """
    return [
        formatEvent(event) or ""
        for event in observer
        if event.get("log_level") in (LogLevel.error, LogLevel.critical)
    ]


# Golden data directories.


def goldenCases() -> list[str]:
    """
    The golden data directory names.
    """
    return sorted(
        name
        for name in os.listdir(GOLDEN_DATADIR)
        if os.path.isfile(os.path.join(GOLDEN_DATADIR, name, "manifest.json"))
    )


def loadManifest(case: str) -> dict[str, Any]:
    """
    The manifest of golden case C{case}.
    """
    with open(os.path.join(GOLDEN_DATADIR, case, "manifest.json"), "rb") as f:
        value: dict[str, Any] = json.load(f)
    return value


_BASE_FLAGS = re.compile(
    r"--(tcp-address|http-address|data-path|broadcast-address)=.*\Z"
)


def goldenConfig(manifest: dict[str, Any]) -> dict[str, Any]:
    """
    The manifest's C{nsqd_flags} that shape storage, as L{NSQDConfig}
    fields; the listener flags are replaced by the test's own.

    @raise ValueError: a flag this translation does not know (a new golden
        case needs it added here).
    """
    changes: dict[str, Any] = {}
    for flag in manifest["nsqd_flags"]:
        if _BASE_FLAGS.match(flag):
            continue
        name, _, value = flag.partition("=")
        if name == "--mem-queue-size":
            changes["mem_queue_size"] = int(value)
        elif name == "--max-bytes-per-file":
            changes["max_bytes_per_file"] = int(value)
        else:
            raise ValueError(f"untranslated golden flag {flag!r}")
    return changes


def copyGolden(case: str, target: str) -> None:
    """
    Copy golden case C{case}'s data files (not the manifest) into the
    empty directory C{target}, writable as nsqd left them (mode 0600).
    """
    source = os.path.join(GOLDEN_DATADIR, case)
    for name in os.listdir(source):
        if name == "manifest.json":
            continue
        shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
        os.chmod(os.path.join(target, name), 0o600)


# The tests.


class RestartTests(TestCase):
    """
    Queued messages and topology survive a graceful stop and a restart on
    the same data path.
    """

    timeout = 120

    async def _publishStopRestartConsume(self, count: int, **changes: Any) -> None:
        dataPath = newDataPath(self)
        bodies = [b"persist-%05d" % i for i in range(count)]
        first = await startNSQD(self, dataPath, **changes)
        # The channel exists (as if a consumer had come and gone) but has
        # no consumer: everything stays queued.
        first.broker.getChannel("persist", "existing", now())
        producer = await connect(self, first)
        await producer.publish("persist", bodies)
        self.assertEqual(channelOf(first, "persist", "existing").depth(), count)
        await first.stopService()

        second = await startNSQD(self, dataPath, **changes)
        self.assertEqual(channelOf(second, "persist", "existing").depth(), count)
        messages = await consumeAll(self, second, "persist", "existing", count)
        assertSameSequence(self, sorted(bodiesOf(messages)), bodies)
        self.assertEqual(len({m.id for m in messages}), count)
        self.assertEqual({m.attempts for m in messages}, {1})

    async def test_fiveThousandInMemorySurvive(self) -> None:
        """
        5,000 messages published with no consumer, all held in the memory
        queue (default C{--mem-queue-size}), are written to disk by a
        graceful stop and delivered after a restart, each exactly once and
        on its first attempt.
        """
        await self._publishStopRestartConsume(5000)

    async def test_fiveThousandOverflowingMemorySurvive(self) -> None:
        """
        With a memory queue smaller than the backlog (1,000 of 5,000 in
        memory, the rest already on disk), a graceful stop appends the
        memory queue to the disk queue and every message is delivered
        exactly once after a restart.
        """
        await self._publishStopRestartConsume(5000, mem_queue_size=1000)

    async def test_topicWithoutChannelSurvives(self) -> None:
        """
        Messages held by a topic that has no channel are written to the
        topic's disk queue at shutdown; after a restart the first channel
        created gets all of them, in order.
        """
        dataPath = newDataPath(self)
        bodies = [b"waiting-%04d" % i for i in range(1500)]
        first = await startNSQD(self, dataPath)
        producer = await connect(self, first)
        await producer.publish("lonely", bodies)
        await first.stopService()
        self.assertEqual(readQueue(dataPath, "lonely").depth, len(bodies))

        second = await startNSQD(self, dataPath)
        self.assertEqual(topicOf(second, "lonely").depth(), len(bodies))
        self.assertEqual(topicOf(second, "lonely").channels, {})
        messages = await consumeAll(self, second, "lonely", "late", len(bodies))
        assertSameSequence(self, bodiesOf(messages), bodies)

    async def test_inFlightSurvivesWithAttempts(self) -> None:
        """
        A message in flight (delivered, not finished) at shutdown is written
        to disk with its attempts and delivered again after a restart with
        attempts + 1; queued messages are not lost alongside it.
        """
        dataPath = newDataPath(self)
        first = await startNSQD(self, dataPath)
        consumer = await connect(self, first)
        await consumer.subscribe("flight", "c", rdy=1)
        producer = await connect(self, first)
        await producer.publish("flight", [b"held", b"queued-1", b"queued-2"])
        [held] = await consumer.receive(1, finish=False)
        self.assertEqual((held.body, held.attempts), (b"held", 1))
        await first.stopService()

        second = await startNSQD(self, dataPath)
        messages = await consumeAll(self, second, "flight", "c", 3)
        self.assertEqual(
            sorted((m.body, m.attempts) for m in messages),
            [(b"held", 2), (b"queued-1", 1), (b"queued-2", 1)],
        )
        self.assertIn(held.id, {m.id for m in messages})

    async def test_topologyAndPauseFlagsSurvive(self) -> None:
        """
        Topics, channels and their paused flags survive a restart (ephemeral
        ones do not), C{nsqd.dat} has Go's shape, and after the restart a
        paused topic keeps holding and a paused channel keeps withholding
        what it held.
        """
        dataPath = newDataPath(self)
        first = await startNSQD(self, dataPath)
        broker = first.broker
        t = now()
        broker.getChannel("alpha", "a-open", t)
        broker.getChannel("alpha", "a-paused", t)
        broker.getChannel("alpha", "gone#ephemeral", t)
        broker.getTopic("beta")
        broker.getChannel("gamma", "g-open", t)
        broker.getChannel("skipped#ephemeral", "whatever", t)
        self.assertTrue(broker.pauseTopic("gamma", True, t))
        self.assertTrue(broker.pauseChannel("alpha", "a-paused", True, t))
        producer = await connect(self, first)
        await producer.publish("alpha", [b"alpha-1", b"alpha-2"])
        await producer.publish("gamma", [b"gamma-1", b"gamma-2", b"gamma-3"])
        await first.stopService()

        expected = (
            "1.3.0",
            frozenset(
                {
                    (
                        "alpha",
                        False,
                        False,
                        frozenset({("a-open", False), ("a-paused", True)}),
                    ),
                    ("beta", False, True, frozenset()),
                    ("gamma", True, False, frozenset({("g-open", False)})),
                }
            ),
        )
        self.assertEqual(topology(readNSQDDat(dataPath)), expected)

        second = await startNSQD(self, dataPath)
        broker = second.broker
        self.assertEqual(sorted(broker.topics), ["alpha", "beta", "gamma"])
        self.assertEqual(
            {
                name: (
                    topic.paused,
                    {c.name: c.paused for c in topic.channels.values()},
                )
                for name, topic in broker.topics.items()
            },
            {
                "alpha": (False, {"a-open": False, "a-paused": True}),
                "beta": (False, {}),
                "gamma": (True, {"g-open": False}),
            },
        )
        # Paused things hold their messages: nothing reaches a consumer.
        self.assertEqual(topicOf(second, "gamma").depth(), 3)
        self.assertEqual(channelOf(second, "alpha", "a-paused").depth(), 2)
        for topicName, channelName in (("alpha", "a-paused"), ("gamma", "g-open")):
            client = await connect(self, second)
            await client.subscribe(topicName, channelName)
            self.assertEqual(await client.barrier(), [])
        self.assertEqual(topicOf(second, "gamma").depth(), 3)
        self.assertEqual(channelOf(second, "alpha", "a-paused").depth(), 2)
        # The open channel delivers as usual.
        messages = await consumeAll(self, second, "alpha", "a-open", 2)
        assertSameSequence(self, bodiesOf(messages), [b"alpha-1", b"alpha-2"])


class RestoreFanOutTests(TestCase):
    """
    A topic restored with a backlog hands it to every channel listed in
    C{nsqd.dat}: Go creates all of a topic's channels before its pump
    starts (C{LoadMetadata}, then C{topic.Start}).
    """

    timeout = 120

    async def _assertEveryChannelGetsAll(
        self, service: NSQDService, topicName: str, channels: list[str], count: int
    ) -> None:
        topic = topicOf(service, topicName)
        await waitUntil(lambda: topic.depth() == 0, f"{topicName} handed over")
        self.assertEqual(
            {name: channelOf(service, topicName, name).depth() for name in channels},
            dict.fromkeys(channels, count),
            f"the {count} messages the topic held at start must reach every"
            " channel restored from nsqd.dat, not only the first one created",
        )

    async def test_goTopicBacklogReachesEveryChannel(self) -> None:
        """
        A Go data directory whose topic queue holds unread messages (golden
        case C{c}) and whose C{nsqd.dat} lists two channels for that topic
        (as Go writes it when its topic pump lagged at shutdown) delivers
        every message to both channels.
        """
        dataPath = newDataPath(self)
        copyGolden("c_topic_without_channel", dataPath)
        dat = {
            "topics": [
                {
                    "name": "golden_c",
                    "paused": False,
                    "channels": [
                        {"name": "one", "paused": False},
                        {"name": "two", "paused": False},
                    ],
                }
            ],
            "version": "1.3.0",
        }
        with open(os.path.join(dataPath, "nsqd.dat"), "w") as f:
            json.dump(dat, f)
        service = await startNSQD(self, dataPath)
        await self._assertEveryChannelGetsAll(service, "golden_c", ["one", "two"], 500)

    async def test_backlogLeftByShutdownReachesEveryChannel(self) -> None:
        """
        A topic that was still handing a large backlog to its two channels
        (in batches, after an unpause) when nsqd stopped gracefully keeps
        the rest in its own queue; after a restart, both channels get every
        message.
        """
        dataPath = newDataPath(self)
        count = 30000
        first = await startNSQD(self, dataPath)
        for channel in ("one", "two"):
            first.broker.getChannel("fan", channel, now())
        self.assertTrue(first.broker.pauseTopic("fan", True, now()))
        producer = await connect(self, first)
        await producer.publish("fan", [b"fan-%05d" % i for i in range(count)])
        # One message per reactor turn, so that the hand-over started by
        # the unpause is far from done when the stop closes the broker.
        topicOf(first, "fan").drainBatch = 1
        self.assertTrue(first.broker.pauseTopic("fan", False, now()))
        await first.stopService()
        # What stopping leaves scheduled is ShutdownTests' concern.
        for call in scheduledBy(first):
            call.cancel()
        self.assertGreater(readQueue(dataPath, "fan").depth, 0)

        second = await startNSQD(self, dataPath)
        await self._assertEveryChannelGetsAll(second, "fan", ["one", "two"], count)


class ShutdownTests(TestCase):
    """
    A graceful stop leaves nothing running.
    """

    timeout = 60

    async def test_nothingScheduledAfterStopMidHandOver(self) -> None:
        """
        Stopping while a topic is handing a large backlog to its channels
        (one batch per reactor turn) leaves no call of the service's
        scheduled once the stop finished: the hand-over ends with the
        broker, and nothing keeps polling the closed queues.
        """
        dataPath = newDataPath(self)
        service = await startNSQD(self, dataPath)
        service.broker.getChannel("busy", "c", now())
        self.assertTrue(service.broker.pauseTopic("busy", True, now()))
        producer = await connect(self, service)
        await producer.publish("busy", [b"busy-%05d" % i for i in range(30000)])
        # One message per reactor turn: still handing over when stopped.
        topicOf(service, "busy").drainBatch = 1
        self.assertTrue(service.broker.pauseTopic("busy", False, now()))
        await service.stopService()
        # A few reactor turns: a call re-armed on every turn shows up.
        await deferLater(reactor, 0.05)
        leftover = scheduledBy(service)
        names = [
            getattr(getattr(call, "func", None), "__qualname__", repr(call))
            for call in leftover
        ]
        for call in leftover:
            call.cancel()
        self.assertEqual(names, [], "calls still scheduled after stopService returned")


class MemQueueSizeZeroTests(TestCase):
    """
    With C{--mem-queue-size=0} every channel message goes through the
    channel's disk queue and still arrives in order.
    """

    timeout = 120

    async def test_liveConsumersInOrder(self) -> None:
        """
        Two channels with a consumer each receive every message of a mix of
        PUBs and MPUBs in publish order; afterwards each channel's disk
        queue has written, and read, exactly those records.
        """
        dataPath = newDataPath(self)
        service = await startNSQD(self, dataPath, mem_queue_size=0)
        consumers = {}
        for channel in ("one", "two"):
            consumers[channel] = await connect(self, service)
            await consumers[channel].subscribe("zero", channel, rdy=50)
        bodies = [b"zero-%04d" % i for i in range(2000)]
        producer = await connect(self, service)
        await producer.publish("zero", bodies[:1], batch=1)
        await producer.publish("zero", bodies[1:1000], batch=97)
        await producer.publish("zero", bodies[1000:1010], batch=1)
        await producer.publish("zero", bodies[1010:], batch=330)
        for channel, consumer in consumers.items():
            messages = await consumer.receive(len(bodies))
            assertSameSequence(self, bodiesOf(messages), bodies, channel)
            self.assertEqual(await consumer.barrier(), [])
        await service.stopService()

        size = sum(4 + 26 + len(body) for body in bodies)
        for channel in ("one", "two"):
            queue = readQueue(dataPath, f"zero:{channel}")
            self.assertEqual(queue.metaText, b"0\n0,%d\n0,%d\n" % (size, size))
            records = readRecords(
                os.path.join(dataPath, segmentName(f"zero:{channel}", 0)), 0
            )
            assertSameSequence(self, [r.body for r in records], bodies, channel)

    async def test_inOrderAcrossRestart(self) -> None:
        """
        Messages queued on disk with C{--mem-queue-size=0}, in several
        segment files, arrive in publish order on every channel after a
        restart.
        """
        dataPath = newDataPath(self)
        changes = {"mem_queue_size": 0, "max_bytes_per_file": 4096}
        first = await startNSQD(self, dataPath, **changes)
        for channel in ("one", "two"):
            first.broker.getChannel("zero", channel, now())
        bodies = [b"restart-zero-%04d" % i for i in range(1000)]
        producer = await connect(self, first)
        await producer.publish("zero", bodies, batch=64)
        self.assertEqual(channelOf(first, "zero", "one").backendDepth(), len(bodies))
        await first.stopService()
        files = sorted(f for f in os.listdir(dataPath) if f.startswith("zero:one."))
        self.assertGreater(len(files), 3, files)

        second = await startNSQD(self, dataPath, **changes)
        for channel in ("one", "two"):
            messages = await consumeAll(self, second, "zero", channel, len(bodies))
            assertSameSequence(self, bodiesOf(messages), bodies, channel)


class RecoveryTests(TestCase):
    """
    Damaged files are logged and worked around; nothing else is lost.
    """

    timeout = 120

    async def _segmentedQueue(self, dataPath: str) -> list[bytes]:
        """
        Run nsqd once to leave channel C{damaged:c} with 100 records of 40
        bytes over four 1,000-byte segments (25 records each), then stop.
        """
        changes = {"mem_queue_size": 0, "max_bytes_per_file": 1000}
        service = await startNSQD(self, dataPath, **changes)
        service.broker.getChannel("damaged", "c", now())
        bodies = [b"damaged-%02d" % i for i in range(100)]
        producer = await connect(self, service)
        await producer.publish("damaged", bodies, batch=10)
        await service.stopService()
        self.assertEqual(
            readQueue(dataPath, "damaged:c").metaText, b"100\n0,0\n3,1000\n"
        )
        return bodies

    async def test_truncatedMiddleSegment(self) -> None:
        """
        A segment cut in the middle of its last record is logged at error
        level and renamed C{.bad}; every record before the cut and every
        record in later segments is still delivered, in order.
        """
        dataPath = newDataPath(self)
        bodies = await self._segmentedQueue(dataPath)
        segment = os.path.join(dataPath, segmentName("damaged:c", 1))
        os.truncate(segment, 1000 - 20)

        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        changes = {"mem_queue_size": 0, "max_bytes_per_file": 1000}
        service = await startNSQD(self, dataPath, **changes)
        lost = bodies[49]
        messages = await consumeAll(self, service, "damaged", "c", len(bodies) - 1)
        assertSameSequence(self, bodiesOf(messages), [b for b in bodies if b != lost])
        self.assertTrue(os.path.exists(segment + ".bad"))
        errors = errorEvents(observer)
        self.assertTrue(
            any(segmentName("damaged:c", 1) in text for text in errors), errors
        )

    async def test_truncatedWriteSegment(self) -> None:
        """
        When the last segment (the one written to) lost its tail, the
        records before the cut are delivered, the error is logged, and new
        messages are written to a fresh segment and delivered after them.
        """
        dataPath = newDataPath(self)
        bodies = await self._segmentedQueue(dataPath)
        segment = os.path.join(dataPath, segmentName("damaged:c", 3))
        # Records 75..99 live in segment 3; keep 75..79 and half of 80.
        os.truncate(segment, 5 * 40 + 20)

        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        changes = {"mem_queue_size": 0, "max_bytes_per_file": 1000}
        service = await startNSQD(self, dataPath, **changes)
        consumer = await connect(self, service)
        await consumer.subscribe("damaged", "c")
        messages = await consumer.receive(80)
        assertSameSequence(self, bodiesOf(messages), bodies[:80])
        self.assertEqual(await consumer.barrier(), [])
        self.assertTrue(
            any(segmentName("damaged:c", 3) in text for text in errorEvents(observer)),
            errorEvents(observer),
        )
        producer = await connect(self, service)
        later = [b"after-damage-%d" % i for i in range(30)]
        await producer.publish("damaged", later, batch=7)
        assertSameSequence(self, bodiesOf(await consumer.receive(len(later))), later)
        self.assertEqual(await consumer.barrier(), [])
        self.assertTrue(os.path.exists(segment + ".bad"))

    async def test_recordsBeyondStaleMetadataDelivered(self) -> None:
        """
        After a crash the metadata can lag behind the data (it is synced
        only every C{--sync-every} operations or C{--sync-timeout}): the
        records written after the last sync are beyond its write position
        and not in its depth.  As in go-diskqueue, writing moves to a new
        segment and every record of the old one is read and delivered, in
        order, even though the depth the metadata gave has run out.
        """
        dataPath = newDataPath(self)
        changes = {"mem_queue_size": 0}
        first = await startNSQD(self, dataPath, **changes)
        first.broker.getChannel("crash", "c", now())
        synced = [b"synced-%03d" % i for i in range(100)]
        producer = await connect(self, first)
        await producer.publish("crash", synced)
        await first.stopService()
        # What a crash leaves: records appended after the last metadata
        # sync (the metadata still says 100).
        unsynced = [b"unsynced-%03d" % i for i in range(50)]
        with open(os.path.join(dataPath, segmentName("crash:c", 0)), "ab") as f:
            for i, body in enumerate(unsynced):
                payload = struct.pack(">qH", 1, 0) + b"%016x" % (0xC0FFEE00 + i) + body
                f.write(struct.pack(">i", len(payload)) + payload)
        self.assertEqual(readQueue(dataPath, "crash:c").depth, len(synced))

        second = await startNSQD(self, dataPath, **changes)
        consumer = await connect(self, second)
        await consumer.subscribe("crash", "c")
        messages = await consumer.receive(len(synced))
        messages += await consumer.barrier()
        assertSameSequence(
            self,
            bodiesOf(messages),
            synced + unsynced,
            "records past the stale metadata must be delivered too",
        )

    async def test_garbageNSQDDat(self) -> None:
        """
        An C{nsqd.dat} that is not JSON stops the start with Go's C{failed
        to load metadata - failed to parse metadata in PATH - ...} (rather
        than starting without the topology and overwriting the file that
        names it); the file and the queues on disk are left as they were.
        """
        dataPath = newDataPath(self)
        first = await startNSQD(self, dataPath)
        first.broker.getChannel("kept", "c", now())
        producer = await connect(self, first)
        await producer.publish("kept", [b"kept"])
        await first.stopService()
        garbage = b"\x00{not json at all"
        metadataPath = os.path.join(dataPath, "nsqd.dat")
        with open(metadataPath, "wb") as f:
            f.write(garbage)

        second = NSQDService(nsqdConfig(dataPath), reactor)
        error = self.assertRaises(Fatal, second.startService)
        self.assertTrue(
            str(error).startswith(
                f"failed to load metadata - failed to parse metadata in {metadataPath} - "
            ),
            str(error),
        )
        with open(metadataPath, "rb") as f:
            self.assertEqual(f.read(), garbage)
        self.assertEqual(readQueue(dataPath, "kept:c").depth, 1)

    async def test_garbageQueueMetadata(self) -> None:
        """
        A disk queue whose metadata file is garbage is logged at error
        level and starts empty without overwriting its segment files; the
        other queues of the topic lose nothing, and new messages reach every
        channel.
        """
        dataPath = newDataPath(self)
        first = await startNSQD(self, dataPath)
        for channel in ("broken", "intact"):
            first.broker.getChannel("meta", channel, now())
        bodies = [b"meta-%03d" % i for i in range(200)]
        producer = await connect(self, first)
        await producer.publish("meta", bodies)
        await first.stopService()
        metaFile = os.path.join(dataPath, "meta:broken.diskqueue.meta.dat")
        with open(metaFile, "wb") as f:
            f.write(b"garbage\xff\n")
        segment = os.path.join(dataPath, segmentName("meta:broken", 0))
        with open(segment, "rb") as f:
            segmentBytes = f.read()

        observer = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        second = await startNSQD(self, dataPath)
        errors = errorEvents(observer)
        self.assertTrue(
            any("DISKQUEUE(meta:broken)" in text for text in errors), errors
        )
        self.assertEqual(channelOf(second, "meta", "broken").depth(), 0)
        messages = await consumeAll(self, second, "meta", "intact", len(bodies))
        assertSameSequence(self, bodiesOf(messages), bodies)

        later = [b"later-%02d" % i for i in range(20)]
        producer = await connect(self, second)
        await producer.publish("meta", later)
        for channel in ("broken", "intact"):
            messages = await consumeAll(self, second, "meta", channel, len(later))
            assertSameSequence(self, bodiesOf(messages), later, channel)
        await second.stopService()
        with open(segment, "rb") as f:
            self.assertEqual(f.read(), segmentBytes, "old segment was overwritten")


class DeferredTests(TestCase):
    """
    txnsq keeps defer times across restarts (Go loses them) while leaving
    the deferred messages in the queue files where Go can read them.
    """

    timeout = 120

    async def test_deferredNotDeliveredEarly(self) -> None:
        """
        DPUBs of an hour and a REQ of ten minutes stay deferred through two
        restarts (one without a consumer, one with); a 1.5 s DPUB published
        before the first restart is delivered no sooner than its due time;
        a DPUB to a topic without a channel starts its delay when a channel
        takes it.  On disk, every deferred message is an ordinary record of
        the channel's disk queue, as Go would write and read it.
        """
        dataPath = newDataPath(self)
        first = await startNSQD(self, dataPath)
        consumer = await connect(self, first)
        await consumer.subscribe("later", "c", rdy=1)
        producer = await connect(self, first)
        await producer.publish("later", [b"requeued"])
        [requeued] = await consumer.receive(1, finish=False)
        consumer.frames.send(b"RDY 0\nREQ %s 600000\n" % requeued.id)
        self.assertEqual(await consumer.barrier(), [])
        await producer.deferredPublish("later", 3600000, b"long-1")
        await producer.deferredPublish("later", 1500, b"short")
        await producer.deferredPublish("later", 3600000, b"long-2")
        await producer.publish("later", [b"plain"])
        await producer.deferredPublish("nochannel", 3600000, b"topic-long")
        channel = channelOf(first, "later", "c")
        self.assertEqual((channel.deferredCount(), channel.depth()), (4, 1))
        await first.stopService()

        # What Go would read: plain records, memory queue first, then the
        # deferred ones; the defer times live only in txnsq's extra file.
        queue = readQueue(dataPath, "later:c")
        self.assertEqual(queue.depth, 5)
        self.assertEqual(
            [(r.body, r.attempts) for r in queue.unread],
            [
                (b"plain", 0),
                (b"short", 0),
                (b"requeued", 1),
                (b"long-1", 0),
                (b"long-2", 0),
            ],
        )
        self.assertEqual(
            [r.body for r in readQueue(dataPath, "nochannel").unread], [b"topic-long"]
        )
        self.assertTrue(os.path.exists(os.path.join(dataPath, "nsqd.deferred.json")))

        # A restart with no consumer keeps every defer time.
        second = await startNSQD(self, dataPath)
        await second.stopService()

        third = await startNSQD(self, dataPath)
        consumer = await connect(self, third)
        await consumer.subscribe("later", "c", rdy=50)
        [plain] = await consumer.receive(1)
        self.assertEqual((plain.body, plain.attempts), (b"plain", 1))
        [short] = await consumer.receive(1)
        self.assertEqual((short.body, short.attempts), (b"short", 1))
        self.assertGreaterEqual(short.receivedAt, short.timestamp / 1e9 + 1.5)
        self.assertEqual(await consumer.barrier(), [])
        self.assertEqual(channelOf(third, "later", "c").deferredCount(), 3)
        # The topic's deferred DPUB waits in the new channel.
        topicConsumer = await connect(self, third)
        await topicConsumer.subscribe("nochannel", "c")
        self.assertEqual(await topicConsumer.barrier(), [])
        self.assertEqual(channelOf(third, "nochannel", "c").deferredCount(), 1)
        await third.stopService()

        # Read back into the deferred queue and written out again: still
        # deferred after another restart.
        fourth = await startNSQD(self, dataPath)
        for topicName, count in (("later", 3), ("nochannel", 1)):
            consumer = await connect(self, fourth)
            await consumer.subscribe(topicName, "c")
            self.assertEqual(await consumer.barrier(), [])
            channel = channelOf(fourth, topicName, "c")
            self.assertEqual((channel.deferredCount(), channel.depth()), (count, 0))

    async def test_deferredWithMemQueueSizeZero(self) -> None:
        """
        With C{--mem-queue-size=0}, a DPUB to a topic without a channel is
        stored in the topic's disk queue at once, and a DPUB to a channel
        waits in its deferred queue; after a restart neither is delivered
        early, and an ordinary message published with them is.
        """
        dataPath = newDataPath(self)
        first = await startNSQD(self, dataPath, mem_queue_size=0)
        first.broker.getChannel("withchannel", "c", now())
        producer = await connect(self, first)
        await producer.deferredPublish("withchannel", 3600000, b"channel-long")
        await producer.deferredPublish("nochannel", 3600000, b"topic-long")
        await producer.publish("nochannel", [b"topic-plain"])
        self.assertEqual(topicOf(first, "nochannel").backendDepth(), 2)
        await first.stopService()

        second = await startNSQD(self, dataPath, mem_queue_size=0)
        [plain] = await consumeAllBut(self, second, "nochannel", "c", 1, deferred=1)
        self.assertEqual(plain.body, b"topic-plain")
        await consumeAllBut(self, second, "withchannel", "c", 0, deferred=1)

    async def test_goReadsDeferredAsOrdinary(self) -> None:
        """
        Without txnsq's C{nsqd.deferred.json} (as Go nsqd would see the
        directory), the deferred messages are ordinary queued records and
        are delivered at once, like Go's own data directory in golden case
        C{f}.
        """
        dataPath = newDataPath(self)
        first = await startNSQD(self, dataPath)
        first.broker.getChannel("later", "c", now())
        producer = await connect(self, first)
        await producer.deferredPublish("later", 3600000, b"long")
        await producer.publish("later", [b"plain"])
        await first.stopService()
        os.remove(os.path.join(dataPath, "nsqd.deferred.json"))

        second = await startNSQD(self, dataPath)
        messages = await consumeAll(self, second, "later", "c", 2)
        assertSameSequence(self, bodiesOf(messages), [b"plain", b"long"])

    async def test_noDeferredFileWithoutDeferred(self) -> None:
        """
        A shutdown with nothing deferred leaves no C{nsqd.deferred.json}:
        the directory holds only the files Go nsqd writes.
        """
        dataPath = newDataPath(self)
        first = await startNSQD(self, dataPath)
        producer = await connect(self, first)
        await producer.publish("plain", [b"x"])
        await first.stopService()
        self.assertEqual(
            sorted(os.listdir(dataPath)),
            ["nsqd.dat", "plain.diskqueue.000000.dat", "plain.diskqueue.meta.dat"],
        )


class GoldenDataDirTests(TestCase):
    """
    Go nsqd 1.3.0's data directories start under txnsq with every queued
    message and the topology, and txnsq writes the same layout.
    """

    timeout = 120

    def test_casesPresent(self) -> None:
        """
        The golden directories this class reads are there (so the loop
        below cannot pass by reading nothing).
        """
        self.assertEqual(
            goldenCases(),
            [
                "a_channel_disk_queue_mem0",
                "b_channel_flushed_at_shutdown",
                "c_topic_without_channel",
                "d_paused_topic_and_channel",
                "e_multi_segment_partially_consumed",
                "f_deferred_and_in_flight_at_shutdown",
            ],
        )

    async def _startOnGolden(self, case: str) -> tuple[dict[str, Any], NSQDService]:
        manifest = loadManifest(case)
        dataPath = newDataPath(self)
        copyGolden(case, dataPath)
        service = await startNSQD(self, dataPath, **goldenConfig(manifest))
        return manifest, service

    def _assertTopology(self, manifest: dict[str, Any], service: NSQDService) -> None:
        """
        The broker has the topics, channels and paused flags of the
        manifest's C{nsqd.dat}, and each queue the depth of the manifest's
        metadata.
        """
        broker = service.broker
        expected = {
            topic["name"]: (
                topic["paused"],
                {c["name"]: c["paused"] for c in topic["channels"] or ()},
            )
            for topic in manifest["nsqd_dat"]["topics"]
        }
        actual = {
            name: (topic.paused, {c.name: c.paused for c in topic.channels.values()})
            for name, topic in broker.topics.items()
        }
        self.assertEqual(actual, expected)
        for queue, info in manifest["queues"].items():
            topicName, _, channelName = queue.partition(":")
            if channelName:
                depth = channelOf(service, topicName, channelName).depth()
            else:
                depth = topicOf(service, topicName).depth()
            self.assertEqual(depth, info["depth"], queue)

    async def _checkDelivery(self, case: str) -> NSQDService:
        """
        Start on a copy of golden case C{case}, check the topology and
        depths, consume every C{expected_delivery} list and compare.

        @return: the running service.
        """
        manifest, service = await self._startOnGolden(case)
        self._assertTopology(manifest, service)
        for key, expected in manifest["expected_delivery"].items():
            topicName, channelName = key.split("/")
            messages = await consumeAll(
                self, service, topicName, channelName, len(expected)
            )
            assertSameSequence(
                self,
                [(m.body.decode("utf-8"), m.attempts) for m in messages],
                [(e["body"], e["attempts_on_delivery"]) for e in expected],
                key,
            )
        return service

    async def test_channelDiskQueueMem0(self) -> None:
        """
        Golden case C{a}: 1000 messages in a channel disk queue written with
        C{--mem-queue-size=0} are delivered in order, attempts 1.
        """
        await self._checkDelivery("a_channel_disk_queue_mem0")

    async def test_channelFlushedAtShutdown(self) -> None:
        """
        Golden case C{b}: 1000 messages Go flushed from the channel's memory
        queue at shutdown are delivered in order, attempts 1.
        """
        await self._checkDelivery("b_channel_flushed_at_shutdown")

    async def test_topicWithoutChannel(self) -> None:
        """
        Golden case C{c}: the 500 messages of a topic without channel go to
        the first channel subscribed, in order.
        """
        await self._checkDelivery("c_topic_without_channel")

    async def test_pausedTopicAndChannel(self) -> None:
        """
        Golden case C{d}: the active channel delivers its two messages; the
        paused topic and the paused channel keep theirs (depths 3 and 2) and
        deliver nothing to a subscribed consumer.
        """
        service = await self._checkDelivery("d_paused_topic_and_channel")
        for topicName, channelName in (
            ("golden_paused_topic", "golden_channel"),
            ("golden_topic", "ch_paused"),
        ):
            client = await connect(self, service)
            await client.subscribe(topicName, channelName)
            self.assertEqual(await client.barrier(), [], f"{topicName}/{channelName}")
        self.assertEqual(topicOf(service, "golden_paused_topic").depth(), 3)
        self.assertEqual(channelOf(service, "golden_topic", "ch_paused").depth(), 2)

    async def test_multiSegmentPartiallyConsumed(self) -> None:
        """
        Golden case C{e}: reading resumes inside segment 1 at Go's read
        position, across four 4 KiB segments, and delivers the 200 unread
        messages in order.
        """
        await self._checkDelivery("e_multi_segment_partially_consumed")

    async def test_deferredAndInFlightAtShutdown(self) -> None:
        """
        Golden case C{f}: Go's directory carries no defer times, so the
        deferred messages arrive at once, in file order, and the message
        that was in flight arrives with attempts 2.
        """
        await self._checkDelivery("f_deferred_and_in_flight_at_shutdown")

    # Layout: txnsq writes what Go writes.

    async def _reproduce(
        self, case: str, setup: Any, consumedOnly: frozenset[str] = frozenset()
    ) -> None:
        """
        Run txnsq with the case's flags on an empty directory, let C{setup}
        publish the same bodies the same way, stop gracefully, and compare
        the directory with the golden one: file names and modes, C{nsqd.dat}
        (as sets), each queue's metadata text, data file sizes and record
        counts, and the unread records (position, body, attempts).

        @param consumedOnly: queues that hold nothing unread and whose read
            and write positions may differ from Go's (so their data files
            and metadata text are not compared, only what they hold).
        """
        manifest = loadManifest(case)
        dataPath = newDataPath(self)
        service = await startNSQD(self, dataPath, **goldenConfig(manifest))
        await setup(service)
        await service.stopService()

        def compared(names: Iterable[str]) -> list[str]:
            return sorted(
                name
                for name in names
                if not any(
                    name.startswith(f"{queue}.diskqueue.0") for queue in consumedOnly
                )
            )

        self.assertEqual(compared(os.listdir(dataPath)), compared(manifest["files"]))
        for name in compared(manifest["files"]):
            mode = os.stat(os.path.join(dataPath, name)).st_mode & 0o777
            self.assertEqual(mode, 0o600, name)
        self.assertEqual(
            topology(readNSQDDat(dataPath)), topology(manifest["nsqd_dat"])
        )
        for queueName, info in manifest["queues"].items():
            queue = readQueue(dataPath, queueName)
            if queueName in consumedOnly:
                self.assertEqual((queue.depth, queue.unread), (0, []), queueName)
                self.assertEqual(info["messages"], [], queueName)
                continue
            self.assertEqual(queue.metaText.decode(), info["meta_text"], queueName)
            for dataFile in info["data_files"]:
                path = os.path.join(dataPath, dataFile["file"])
                records = readRecords(path, dataFile["file_num"])
                self.assertEqual(os.path.getsize(path), dataFile["size"])
                self.assertEqual(len(records), dataFile["records"])
            assertSameSequence(
                self,
                [
                    (r.fileNum, r.offset, r.body.decode(), r.attempts)
                    for r in queue.unread
                ],
                [
                    (m["file_num"], m["offset"], m["body"], m["attempts"])
                    for m in info["messages"]
                ],
                queueName,
            )

    async def test_layoutChannelDiskQueueMem0(self) -> None:
        """
        Golden case C{a} reproduced: with C{--mem-queue-size=0}, 1000
        messages published with four MPUBs to a topic with one channel and
        no consumer leave the channel's disk queue, C{nsqd.dat} and the
        files as Go nsqd 1.3.0 does.

        The topic's own queue is compared only for what it holds (nothing):
        Go's topic pump writes each message through the topic's disk queue
        and leaves the consumed segment (C{0\n0,51000\n0,51000\n}); txnsq
        hands messages straight to the channels when the topic has no
        backlog, so its topic queue stays at C{0\n0,0\n0,0\n}.
        """

        async def setup(service: NSQDService) -> None:
            service.broker.getChannel("golden_a", "golden_channel", now())
            producer = await connect(self, service)
            bodies = [b"a-%04d golden message" % i for i in range(1, 1001)]
            await producer.publish("golden_a", bodies, batch=250)

        await self._reproduce(
            "a_channel_disk_queue_mem0", setup, consumedOnly=frozenset({"golden_a"})
        )

    async def test_layoutChannelFlushedAtShutdown(self) -> None:
        """
        Golden case C{b} reproduced: a topic and channel created, 1000
        messages published with four MPUBs and held in the channel's memory
        queue, then a graceful stop, leave the same files, metadata texts and
        records as Go nsqd 1.3.0.
        """

        async def setup(service: NSQDService) -> None:
            service.broker.getChannel("golden_b", "golden_channel", now())
            producer = await connect(self, service)
            bodies = [b"b-%04d golden message" % i for i in range(1, 1001)]
            await producer.publish("golden_b", bodies, batch=250)

        await self._reproduce("b_channel_flushed_at_shutdown", setup)

    async def test_layoutTopicWithoutChannel(self) -> None:
        """
        Golden case C{c} reproduced: 500 messages published with two MPUBs to
        a topic that never had a channel, then a graceful stop, leave the
        same files, metadata texts and records as Go nsqd 1.3.0 (and
        C{"channels":null} in C{nsqd.dat}).
        """

        async def setup(service: NSQDService) -> None:
            producer = await connect(self, service)
            bodies = [b"c-%04d waiting for a channel" % i for i in range(1, 501)]
            await producer.publish("golden_c", bodies, batch=250)

        await self._reproduce("c_topic_without_channel", setup)


class DataPathLockTests(TestCase):
    """
    Two nsqds cannot share a data path.
    """

    async def test_secondServiceRefused(self) -> None:
        """
        A second L{NSQDService} on a data path in use fails to start with
        Go's C{cannot flock directory ... (possibly in use by another
        instance of nsqd)}, without touching the first one's files; once
        the first stopped, the path is free again.
        """
        dataPath = newDataPath(self)
        first = await startNSQD(self, dataPath)
        producer = await connect(self, first)
        await producer.publish("locked", [b"mine"])
        second = NSQDService(nsqdConfig(dataPath), reactor)
        error = self.assertRaises(DataPathLocked, second.startService)
        self.assertRegex(
            str(error),
            rf"^cannot flock directory {re.escape(dataPath)}"
            r"( - [^(]+)? \(possibly in use by another instance of nsqd\)$",
        )
        self.assertFalse(second.tcpService.running)
        await first.stopService()

        third = await startNSQD(self, dataPath)
        messages = await consumeAll(self, third, "locked", "c", 1)
        assertSameSequence(self, bodiesOf(messages), [b"mine"])

    async def test_lockErrorTextIsGo(self) -> None:
        """
        The lock error has Go nsqd 1.3.0's whole text, including the
        system error (C{internal/dirlock}: C{cannot flock directory %s - %s
        (possibly in use by another instance of nsqd)}, where the system
        error of a held C{flock} is Go's C{resource temporarily
        unavailable}).
        """
        dataPath = newDataPath(self)
        await startNSQD(self, dataPath)
        second = NSQDService(nsqdConfig(dataPath), reactor)
        error = self.assertRaises(DataPathLocked, second.startService)
        self.assertEqual(
            str(error),
            f"cannot flock directory {dataPath} - resource temporarily unavailable"
            " (possibly in use by another instance of nsqd)",
        )


class FlushBeforeAcknowledgeTests(SynchronousTestCase):
    """
    L{Persistence.flushWrites}, which runs after every publish and before
    its C{OK}, hands every record buffered since the last one to the
    kernel, so a kill -9 right after the C{OK} loses nothing.
    """

    def test_everyPublishReachesTheFile(self) -> None:
        """
        Records put after an earlier flush are flushed too: each queue
        reports itself buffered again after every flush.
        """
        dataPath = self.mktemp()
        os.makedirs(dataPath)
        persistence = Persistence(NSQDConfig(data_path=dataPath, node_id=1))
        persistence.openDataPath()
        queue = persistence.backend("t")
        self.addCleanup(queue.close)
        record = b"m" * 40
        for published in range(1, 4):
            queue.put(record)
            persistence.flushWrites()
            self.assertEqual(
                os.path.getsize(queue.fileName(0)), published * (4 + len(record))
            )


class FullDiskShutdownTests(TestCase):
    """
    A disk queue in shutdown mode (L{DiskQueue.holdFailures}) on a disk
    that refuses writes: it neither raises nor loses count.
    """

    def fullDisk(self, allow: int) -> None:
        """
        From now on, C{os.write} writes C{allow} bytes in all (the first
        call that would pass them writes only up to there), then fails
        with C{ENOSPC}.
        """
        room = [allow]
        realWrite = os.write

        def write(fd: int, data: Any) -> int:
            if room[0] <= 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            written = realWrite(fd, bytes(data[: room[0]]))
            room[0] -= written
            return written

        self.patch(os, "write", write)

    def test_unwrittenCounted(self) -> None:
        """
        Records that could not be written at close (the last one cut
        midway) are counted in L{DiskQueue.unwritten}, the error kept in
        L{DiskQueue.closeError}, and the records on disk plus those counted
        are all that were put.
        """
        dataPath = newDataPath(self)
        queue = DiskQueue("q", dataPath, 1 << 20, 4, 1 << 20, 1000)
        records = [b"r%03d" % i + b"x" * 996 for i in range(100)]
        for record in records[:10]:
            queue.put(record)
        queue.flush()
        queue.holdFailures()
        # 1004 bytes a record: 12 and a half more fit.
        self.fullDisk(12 * 1004 + 500)
        for record in records[10:]:
            queue.put(record)
        queue.close()
        self.assertIsNotNone(queue.closeError)
        with open(os.path.join(dataPath, segmentName("q", 0)), "rb") as f:
            onDisk = len(f.read()) // 1004
        self.assertEqual(onDisk, 22)
        self.assertEqual(queue.unwritten, 100 - onDisk)

    def test_raisesWithoutShutdownMode(self) -> None:
        """
        Outside shutdown mode a failed final write still raises, as
        before.
        """
        dataPath = newDataPath(self)
        queue = DiskQueue("q", dataPath, 1 << 20, 4, 1 << 20, 1000)
        queue.put(b"x" * 100)
        self.fullDisk(0)
        self.assertRaises(OSError, queue.close)


class PersistingLogTests(SynchronousTestCase):
    """
    Each write of C{nsqd.dat} is logged as Go's C{PersistMetadata} logs it:
    at start, after a topology change, at exit.
    """

    def test_logged(self) -> None:
        """
        C{NSQ: persisting topic/channel metadata to <data path>/nsqd.dat}
        at INFO, once per write.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        dataPath = os.path.abspath(self.mktemp())
        os.makedirs(dataPath)
        persistence = Persistence(NSQDConfig(data_path=dataPath, node_id=1))
        persistence.openDataPath()
        broker = Broker(persistence.config, persistence.backend)
        persistence.attach(broker)
        broker.getTopic("t")
        self.successResultOf(Deferred.fromCoroutine(persistence.close()))
        line = "NSQ: persisting topic/channel metadata to " + os.path.join(
            dataPath, "nsqd.dat"
        )
        self.assertEqual(
            [
                formatEvent(event)
                for event in events
                if event["log_level"] == LogLevel.info
                and "persisting" in formatEvent(event)
            ],
            [line, line, line],
        )
