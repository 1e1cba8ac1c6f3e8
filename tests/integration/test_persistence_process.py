"""
nsqd persistence across real process lifetimes: C{twistd -n nsqd} children
stopped with C{SIGTERM} (or killed) and started again on the same
C{--data-path}; pynsq and raw sockets as clients.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests.integration._daemon import (
    NSQD_TCP_LISTENING,
    Daemon,
    spawnChild,
    startDaemon,
)
from tests.integration._interop import ofKind, skipReason, startClient
from tests.nsqd.test_persistence import (
    Client,
    connectAddress,
    readQueue,
    readRecords,
    segmentName,
)

#: Runs twistd in this interpreter (as L{startDaemon} does), for a daemon
#: that is expected to exit before it listens.
TWISTD = (
    "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
)


def newDataPath(testCase: TestCase) -> str:
    """
    A fresh, empty data directory (removed with the test's temp tree).
    """
    path: str = os.path.abspath(testCase.mktemp())
    os.makedirs(path)
    return path


def nsqdFlags(dataPath: str, *extra: str) -> list[str]:
    """
    Loopback listeners on free ports and C{dataPath}.
    """
    return [
        "--tcp-address=127.0.0.1:0",
        "--http-address=127.0.0.1:0",
        f"--data-path={dataPath}",
        *extra,
    ]


def startOn(testCase: TestCase, dataPath: str, *extra: str) -> Deferred[Daemon]:
    """
    Start C{twistd -n nsqd} on C{dataPath}, stopped with C{SIGTERM} when
    C{testCase} ends if still running.
    """
    return startDaemon(
        testCase, "nsqd", nsqdFlags(dataPath, *extra), {"tcp": NSQD_TCP_LISTENING}
    )


async def rawClient(testCase: TestCase, daemon: Daemon) -> Client:
    """
    A raw V2 client connected to C{daemon}'s TCP listener.
    """
    host, port = daemon.addresses["tcp"]
    return await connectAddress(testCase, host, port)


async def stopGracefully(testCase: TestCase, daemon: Daemon) -> None:
    """
    C{SIGTERM} the daemon and check that it shut down gracefully: its
    services stopped (C{NSQ: bye}), nothing failed, and it exited with 0 or
    with C{SIGTERM} (twistd raises the signal again once it has stopped).
    """
    code = await daemon.stop()
    output = daemon.process.output()
    testCase.assertIn(code, (0, -signal.SIGTERM), output)
    testCase.assertIn("NSQ: bye", output)
    testCase.assertNotIn("Traceback", output)


class RestartProcessTests(TestCase):
    """
    What a daemon stopped with C{SIGTERM} had queued is delivered by the
    next daemon on the same data path.
    """

    timeout = 120

    async def test_pynsqAcrossSigterm(self) -> None:
        """
        1,000 messages published by a pynsq Writer to a topic with no
        channel yet survive C{SIGTERM} (a graceful stop) and a restart on the
        same data path; a pynsq Reader then receives each of them exactly
        once, on its first attempt.
        """
        reason = skipReason("pynsq")
        if reason is not None:
            self.skipTest(reason)
        dataPath = newDataPath(self)
        first = await startOn(self, dataPath)
        bodies = [f"process-{i:04d}" for i in range(1000)]
        ops: list[list[object]] = [["pub", body] for body in bodies[:10]]
        ops += [["mpub", bodies[i : i + 110]] for i in range(10, 1000, 110)]
        publisher = startClient(
            self, "pynsq", "publish", first, "durable", "--ops", json.dumps(ops)
        )
        self.assertEqual(await publisher.whenEnded(), 0, publisher.output())
        self.assertEqual(
            [e["reply"] for e in ofKind(publisher.events(), "published")],
            ["OK"] * len(ops),
            publisher.output(),
        )
        await stopGracefully(self, first)
        self.assertEqual(readQueue(dataPath, "durable").depth, len(bodies))

        second = await startOn(self, dataPath)
        consumer = startClient(
            self,
            "pynsq",
            "consume",
            second,
            "durable",
            *("--channel", "c", "--count", str(len(bodies))),
            *("--max-in-flight", "100"),
        )
        self.assertEqual(await consumer.whenEnded(), 0, consumer.output())
        messages = ofKind(consumer.events(), "message")
        received = Counter(m["body"] for m in messages)
        self.assertEqual(received, Counter(bodies))
        self.assertEqual({m["attempts"] for m in messages}, {1})
        await stopGracefully(self, second)
        # Everything was finished: the restart after that holds nothing.
        self.assertEqual(readQueue(dataPath, "durable:c").depth, 0)

    async def test_secondDaemonRefused(self) -> None:
        """
        A second daemon on a data path in use exits with a non-zero status
        and Go's C{cannot flock directory ... (possibly in use by another
        instance of nsqd)}; the first one keeps running and stops cleanly.
        """
        dataPath = newDataPath(self)
        first = await startOn(self, dataPath)
        argv = [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "nsqd"]
        second = spawnChild(self, [*argv, *nsqdFlags(dataPath)], name="second nsqd")
        code = await second.whenEnded()
        self.assertNotEqual(code, 0, second.output())
        output = second.output()
        self.assertIn(f"cannot flock directory {dataPath}", output)
        self.assertIn("(possibly in use by another instance of nsqd)", output)
        client = await rawClient(self, first)
        await client.publish("still", [b"alive"])
        await stopGracefully(self, first)


class CrashProcessTests(TestCase):
    """
    What survives when the process is killed (C{SIGKILL}) rather than
    stopped.
    """

    timeout = 120

    async def _kill(self, daemon: Daemon) -> None:
        daemon.process.signal("KILL")
        await daemon.process.whenEnded()

    async def test_deferTimesSurviveCrashAfterRestart(self) -> None:
        """
        A DPUB of an hour kept on disk by a graceful stop stays deferred
        when the next daemon is killed before it stopped: the defer times
        it read at start must still be on disk for the daemon after it.
        """
        dataPath = newDataPath(self)
        first = await startOn(self, dataPath)
        client = await rawClient(self, first)
        await client.deferredPublish("crash", 3600000, b"an hour later")
        await client.subscribe("crash", "c", rdy=0)
        await stopGracefully(self, first)
        self.assertTrue(os.path.exists(os.path.join(dataPath, "nsqd.deferred.json")))

        second = await startOn(self, dataPath)
        await self._kill(second)

        third = await startOn(self, dataPath)
        consumer = await rawClient(self, third)
        await consumer.subscribe("crash", "c", rdy=10)
        early = await consumer.barrier()
        self.assertEqual(
            [m.body for m in early],
            [],
            "a message deferred for an hour was delivered at once after a"
            " graceful stop, a restart and a crash: the restart deleted"
            " nsqd.deferred.json when it read it",
        )

    async def _waitFor(self, condition: Callable[[], bool], what: str) -> None:
        for _ in range(1000):
            if condition():
                return
            await deferLater(reactor, 0.01)
        self.fail(f"never happened: {what}")

    async def test_acknowledgedMessagesInFileWhenKilled(self) -> None:
        """
        With C{--mem-queue-size=0}, every message nsqd acknowledged is in
        the channel's queue file when the process is killed right after the
        C{OK}: Go's disk queue writes each record to its file before nsqd
        answers, so a process crash (not a machine crash) loses none.
        """
        dataPath = newDataPath(self)
        first = await startOn(self, dataPath, "--mem-queue-size=0")
        owner = await rawClient(self, first)
        await owner.subscribe("killed", "c", rdy=0)
        producer = await rawClient(self, first)
        bodies = [b"acknowledged-%03d" % i for i in range(100)]
        await producer.publish("killed", bodies)
        await self._kill(first)

        segment = os.path.join(dataPath, segmentName("killed:c", 0))
        inFile = readRecords(segment, 0) if os.path.exists(segment) else []
        self.assertEqual(
            [r.body for r in inFile],
            bodies,
            "messages acknowledged with OK were not in the queue file when nsqd"
            " was killed right after (still in the disk queue's write buffer)",
        )

    async def test_recordsAfterLastSyncDeliveredAfterKill(self) -> None:
        """
        Records that reached the queue file after its last metadata sync
        are delivered by the next daemon after a C{SIGKILL}, as go-diskqueue
        salvages them (the metadata's write position is behind the file).
        """
        dataPath = newDataPath(self)
        flags = ("--mem-queue-size=0", "--sync-every=100", "--sync-timeout=1h")
        first = await startOn(self, dataPath, *flags)
        owner = await rawClient(self, first)
        await owner.subscribe("salvage", "c", rdy=0)
        producer = await rawClient(self, first)
        synced = [b"synced-%03d" % i for i in range(100)]
        await producer.publish("salvage", synced)
        metaFile = os.path.join(dataPath, "salvage:c.diskqueue.meta.dat")
        await self._waitFor(
            lambda: (
                os.path.exists(metaFile)
                and readQueue(dataPath, "salvage:c").depth == len(synced)
            ),
            "the metadata sync after --sync-every=100 writes",
        )
        unsynced = [b"unsynced-%03d" % i for i in range(50)]
        await producer.publish("salvage", unsynced)
        segment = os.path.join(dataPath, segmentName("salvage:c", 0))
        size = sum(4 + 26 + len(body) for body in synced + unsynced)
        await self._waitFor(
            lambda: os.path.getsize(segment) == size,
            "the unsynced records in the queue file",
        )
        await self._kill(first)
        self.assertEqual(readQueue(dataPath, "salvage:c").depth, len(synced))

        second = await startOn(self, dataPath, *flags)
        consumer = await rawClient(self, second)
        await consumer.subscribe("salvage", "c", rdy=50)
        received = await consumer.receive(len(synced))
        received += await consumer.barrier()
        self.assertEqual(
            [m.body for m in received],
            synced + unsynced,
            "records in the file beyond the stale metadata were not delivered",
        )
