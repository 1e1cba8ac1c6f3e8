"""
What a C{kill -9} of nsqd loses: real C{twistd -n nsqd} children killed
with C{SIGKILL} right after an acknowledgement, then started again on the
same C{--data-path} and drained.

With C{--mem-queue-size=0 --sync-every=1} every message goes to disk and
is handed to the kernel before its C{OK} (as in Go nsqd), so a process
crash loses nothing nsqd acknowledged.  With the in-memory queue in use, a
crash loses what was in it, and only that: the bound is the queue's size.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests.golden import httpRequest
from tests.integration._daemon import NSQD_TCP_LISTENING, Daemon, startDaemon
from tests.nsqd.test_persistence import Client, connectAddress

#: Go nsqd's log line once its HTTP listener is bound.
HTTP_LISTENING = r"HTTP: listening on (?P<host>[0-9.]+):(?P<port>\d+)"

#: The flags that make every acknowledged message durable against a
#: process crash.
DURABLE = ("--mem-queue-size=0", "--sync-every=1")

TOPIC = "kill9"


class Publisher:
    """
    Publishes one message at a time to a daemon, alternating TCP C{PUB}
    (waiting for its C{OK}) and HTTP C{/pub}, and remembers what was
    acknowledged.

    @ivar acknowledged: the bodies answered C{OK}, in order.
    """

    def __init__(self, daemon: Daemon, tcp: Client) -> None:
        self.daemon = daemon
        self.tcp = tcp
        self.acknowledged: list[bytes] = []

    async def publish(self, body: bytes) -> None:
        """
        Publish C{body} over TCP or HTTP (in turn) and wait for its C{OK}.
        """
        if len(self.acknowledged) % 2 == 0:
            await self.tcp.publish(TOPIC, [body])
        else:
            host, port = self.daemon.addresses["http"]
            response = await httpRequest(
                reactor, host, port, "POST", f"/pub?topic={TOPIC}", body
            )
            assert (response.status, response.body) == (200, b"OK"), response
        self.acknowledged.append(body)


async def startOn(testCase: TestCase, dataPath: str, *flags: str) -> Daemon:
    """
    C{twistd -n nsqd} on C{dataPath}, loopback listeners on free ports.
    """
    return await startDaemon(
        testCase,
        "nsqd",
        [
            "--tcp-address=127.0.0.1:0",
            "--http-address=127.0.0.1:0",
            f"--data-path={dataPath}",
            *flags,
        ],
        {"tcp": NSQD_TCP_LISTENING, "http": HTTP_LISTENING},
    )


async def kill(testCase: TestCase, daemon: Daemon) -> None:
    """
    C{SIGKILL} the daemon and wait until it is gone.
    """
    daemon.process.signal("KILL")
    code = await daemon.process.whenEnded()
    testCase.assertEqual(code, -signal.SIGKILL, daemon.process.output())


async def drain(testCase: TestCase, daemon: Daemon, channel: str) -> list[bytes]:
    """
    Every message C{channel} of the topic holds, FINished, in order.
    """
    host, port = daemon.addresses["tcp"]
    consumer = await connectAddress(testCase, host, port)
    await consumer.subscribe(TOPIC, channel, rdy=1000)
    received = await consumer.barrier()
    return [m.body for m in received]


class Kill9Tests(TestCase):
    """
    C{SIGKILL} right after the Nth acknowledgement, then a restart.
    """

    timeout = 60

    def dataPath(self) -> str:
        """
        A fresh, empty data directory.
        """
        path: str = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path

    async def publishThenKill(
        self,
        dataPath: str,
        count: int,
        first: int,
        flags: tuple[str, ...],
        unsynced: bool = False,
    ) -> list[bytes]:
        """
        Start nsqd on C{dataPath} (the channel C{c} exists: a consumer with
        C{RDY 0}), publish C{count} messages one at a time, numbered from
        C{first}, and C{SIGKILL} nsqd right after the last C{OK}.

        @param unsynced: leave the channel's metadata file as it was before
            nsqd started (absent, the first time), as a kill before the
            queue's first metadata sync of the run leaves it: the sync
            follows the writes by up to a queue scan (100 ms), so whether a
            plain kill beats it depends on timing.
        @return: the bodies acknowledged.
        """
        metaFile = os.path.join(dataPath, f"{TOPIC}:c.diskqueue.meta.dat")
        before: bytes | None = None
        if os.path.exists(metaFile):
            with open(metaFile, "rb") as f:
                before = f.read()
        daemon = await startOn(self, dataPath, *flags)
        host, port = daemon.addresses["tcp"]
        owner = await connectAddress(self, host, port)
        await owner.subscribe(TOPIC, "c", rdy=0)
        publisher = Publisher(daemon, await connectAddress(self, host, port))
        for i in range(first, first + count):
            await publisher.publish(b"acknowledged-%05d" % (i,))
        await kill(self, daemon)
        if unsynced:
            if before is None:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(metaFile)
            else:
                with open(metaFile, "wb") as f:
                    f.write(before)
        return publisher.acknowledged

    async def test_durableLosesNothing(self) -> None:
        """
        With C{--mem-queue-size=0 --sync-every=1}, nsqd killed with
        C{SIGKILL} right after the 150th, then (restarted on the same data
        path) the 250th and the 200th C{OK} of a run (600 messages, one at a
        time, TCP C{PUB} and HTTP C{/pub} in turn) loses none: the daemon
        started after the last kill delivers each acknowledged message
        exactly once, and nothing else.
        """
        await self.killRestartDrain(unsynced=False)

    async def test_durableLosesNothingBeforeMetadataSync(self) -> None:
        """
        The same run, each kill leaving the channel's metadata as before
        that run (none after the first, then stale by a whole run), as a
        kill that beats the metadata sync leaves it: still none of the 600
        acknowledged messages is lost, none is written over by the next
        run, and each is delivered exactly once.
        """
        await self.killRestartDrain(unsynced=True)

    async def killRestartDrain(self, unsynced: bool) -> None:
        """
        Kill nsqd right after the 150th, 250th and 200th C{OK} of three
        runs on one data path (durable flags), then check that the next
        nsqd delivers exactly what was acknowledged.
        """
        dataPath = self.dataPath()
        acknowledged: list[bytes] = []
        for count in (150, 250, 200):
            acknowledged += await self.publishThenKill(
                dataPath, count, len(acknowledged), DURABLE, unsynced
            )
        daemon = await startOn(self, dataPath, *DURABLE)
        received = await drain(self, daemon, "c")
        self.assertEqual(len(received), len(acknowledged))
        self.assertEqual(Counter(received), Counter(acknowledged))

    async def test_memoryQueueLost(self) -> None:
        """
        With the in-memory queue in use (C{--mem-queue-size=100}; the
        default is 10,000) and the default C{--sync-every}, a C{SIGKILL}
        right after the 300th C{OK} loses at most what the in-memory queue
        held: at most 100 messages, none of those that overflowed to disk
        (the last 200), and nothing is delivered twice or made up.
        """
        dataPath = self.dataPath()
        flags = ("--mem-queue-size=100",)
        acknowledged = await self.publishThenKill(dataPath, 300, 0, flags)
        daemon = await startOn(self, dataPath, *flags)
        received = await drain(self, daemon, "c")
        self.assertEqual(len(set(received)), len(received), "delivered twice")
        self.assertLessEqual(set(received), set(acknowledged))
        lost = set(acknowledged) - set(received)
        self.assertLessEqual(len(lost), 100, sorted(lost))
        self.assertLessEqual(set(acknowledged[100:]), set(received))
