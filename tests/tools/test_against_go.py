"""
Each tool's main flows against an nsqd running as a process of its own:
Go NSQ's nsqd where it is installed (issue 16), and txnsq's own started
the same way, so that the harness and the flows run everywhere.

The two test classes share one body (L{_Flows}); only the command that
starts nsqd differs.  The flows include, for each long-running consumer,
a SIGTERM with messages in flight that must lose none: every message
published is either written (or forwarded, printed, POSTed) and FINed by
the tool, or left on its channel for the next consumer -- never both,
never neither.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import serverFromString
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from tests.tools._helpers import (
    GO_NSQD_SKIP,
    NSQD,
    TXNSQ_NSQD,
    Running,
    channelClients,
    findGoNSQD,
    getJSON,
    httpClient,
    logLines,
    publish,
    spawnNSQD,
    start,
    waitFor,
)
from tests.tools.test_nsq_stat import GO_HEADER
from txnsq.client import Consumer, Message
from txnsq.tools import nsq_stat, nsq_tail, nsq_to_file, nsq_to_http, nsq_to_nsq, to_nsq

if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object

#: Messages published for the SIGTERM flows.
COUNT = 20

BODIES = [b"m%02d" % i for i in range(COUNT)]


class _Sink(Resource):
    """
    An HTTP endpoint for C{nsq_to_http}: answers 200 and records each
    body, at once or, while L{hold}ing, once released.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.answered: list[bytes] = []
        self.held: list[tuple[Request, bytes]] = []
        self.hold = False
        self.url = ""

    def render(self, request: Request) -> bytes | int:
        """
        Record the body, and answer or hold the request.
        """
        body = request.content.read() if request.content is not None else b""
        if self.hold:
            self.held.append((request, body))
            return NOT_DONE_YET
        self.answered.append(body)
        return b"ok"

    def release(self) -> None:
        """
        Answer the held requests, and hold no more.
        """
        self.hold = False
        held, self.held = self.held, []
        for request, body in held:
            self.answered.append(body)
            request.write(b"ok")
            request.finish()


class _Flows(_Base):
    """
    The flows, against the nsqd L{command} starts.

    @cvar command: the command that runs nsqd.
    """

    command: ClassVar[Sequence[str]] = ()
    timeout = 60

    async def nsqd(self) -> NSQD:
        """
        A fresh nsqd process, stopped when the test ends.
        """
        return await spawnNSQD(self, self.command)

    async def channel(self, nsqd: NSQD, topic: str, channel: str) -> dict[str, Any]:
        """
        The stats of C{topic}'s C{channel} (empty if there is none).
        """
        stats = await getJSON(
            self, f"http://{nsqd.http}/stats?format=json&topic={topic}"
        )
        for t in stats["topics"]:
            if t["topic_name"] != topic:
                continue
            for c in t["channels"]:
                if c["channel_name"] == channel:
                    return dict(c)
        return {}

    async def finished(self, nsqd: NSQD, topic: str, channel: str) -> int:
        """
        How many messages the clients of C{channel} have FINed.
        """
        clients = await channelClients(self, nsqd, topic)
        return sum(int(c["finish_count"]) for c in clients.get(channel, []))

    async def drain(
        self, nsqd: NSQD, topic: str, channel: str, count: int
    ) -> list[bytes]:
        """
        The bodies of the next C{count} messages of C{channel}, FINed, by a
        consumer of our own; then check the channel is empty.
        """
        bodies: list[bytes] = []
        if count > 0:
            done: Deferred[None] = Deferred()

            def handle(message: Message) -> None:
                bodies.append(message.body)
                if len(bodies) == count:
                    done.callback(None)

            consumer = Consumer(
                topic,
                channel,
                handle,
                nsqdAddresses=[nsqd.tcp],
                reactor=reactor,
                maxInFlight=count,
            )
            consumer.start()
            try:
                await done
            finally:
                await consumer.stop()

        async def empty() -> bool:
            stats = await self.channel(nsqd, topic, channel)
            return bool(
                stats.get("depth", 0) == 0 and stats.get("in_flight_count", 0) == 0
            )

        await waitFor(empty)
        return bodies

    def assertNoneLost(self, handled: Sequence[bytes], left: Sequence[bytes]) -> None:
        """
        Every message of L{BODIES} was handled by the tool or left for the
        next consumer, and none both.
        """
        self.assertEqual(sorted([*handled, *left]), BODIES)

    def startTool(self, module: Any, argv: list[str], stdin: Any = None) -> Running:
        """
        Start a tool in this process, stopped (as by SIGTERM) when the test
        ends if it still runs.
        """
        running = start(module.TOOL, argv, stdin)

        async def stop() -> None:
            if not running.result.called:
                running.run.interrupt()
            await running.result

        self.addCleanup(stop)
        return running

    # nsq_tail

    async def test_tail(self) -> None:
        """
        C{nsq_tail --n} prints the bodies, one a line, and exits 0.
        """
        nsqd = await self.nsqd()
        await publish(nsqd, "t", [b"one", b"two", b"three"])
        running = self.startTool(
            nsq_tail, ["--topic=t", f"--nsqd-tcp-address={nsqd.tcp}", "--n=3"]
        )
        self.assertEqual(await running.result, 0)
        self.assertEqual(running.stdout.getvalue(), b"one\ntwo\nthree\n")

    async def test_tailSIGTERM(self) -> None:
        """
        SIGTERM while C{nsq_tail} prints: each message printed was FINed,
        the rest stay on the channel.
        """
        nsqd = await self.nsqd()
        await publish(nsqd, "t", BODIES)
        running = self.startTool(
            nsq_tail,
            [
                "--topic=t",
                "--channel=c",
                f"--nsqd-tcp-address={nsqd.tcp}",
                "--max-in-flight=1",
            ],
        )

        async def printing() -> bool:
            return bool(running.stdout.getvalue())

        await waitFor(printing)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        printed = running.stdout.getvalue().splitlines()
        left = await self.drain(nsqd, "t", "c", COUNT - len(printed))
        self.assertNoneLost(printed, left)

    # to_nsq

    async def test_toNSQ(self) -> None:
        """
        C{to_nsq} publishes each line, reports the count on stderr, and
        writes nothing to stdout.
        """
        nsqd = await self.nsqd()
        running = self.startTool(
            to_nsq,
            ["--topic=t", f"--nsqd-tcp-address={nsqd.tcp}"],
            io.BytesIO(b"".join(body + b"\n" for body in BODIES)),
        )
        self.assertEqual(await running.result, 0)
        self.assertEqual(running.stdout.getvalue(), b"")
        self.assertRegex(
            logLines(running.stderr.getvalue())[-1],
            rf"\A{COUNT} messages sent \(\d+\.\d msg/s\)\Z",
        )
        stats = await getJSON(self, f"http://{nsqd.http}/stats?format=json&topic=t")
        [topic] = stats["topics"]
        self.assertEqual(topic["message_count"], COUNT)
        self.assertEqual(sorted(await self.drain(nsqd, "t", "c", COUNT)), BODIES)

    # nsq_stat

    async def test_stat(self) -> None:
        """
        C{nsq_stat --count 2} prints Go's header, then two rows of the
        channel's numbers.
        """
        nsqd = await self.nsqd()
        client = httpClient(self)
        for path in ("topic/create?topic=t", "channel/create?topic=t&channel=c"):
            response = await client.post(f"http://{nsqd.http}/{path}")
            self.assertEqual(response.code, 200)
            await response.content()
        await publish(nsqd, "t", [b"a", b"b", b"c"])
        running = self.startTool(
            nsq_stat,
            [
                "--topic=t",
                "--channel=c",
                f"--nsqd-http-address={nsqd.http}",
                "--interval=20ms",
                "--count=2",
            ],
        )
        self.assertEqual(await running.result, 0)
        row = (
            "      0       0 |       3       3       0     0     0 |"
            "       0       0            3       0\n"
        )
        self.assertEqual(running.stdout.getvalue().decode(), GO_HEADER + row * 2)

    # nsq_to_file

    async def test_toFile(self) -> None:
        """
        C{nsq_to_file} writes the messages to a file, FINs them once
        synced, and logs the file when SIGTERM closes it.
        """
        nsqd = await self.nsqd()
        await publish(nsqd, "t", [b"one", b"two", b"three"])
        output = os.path.abspath(self.mktemp())
        running = self.startTool(
            nsq_to_file,
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--output-dir={output}",
                "--sync-interval=50ms",
            ],
        )

        async def synced() -> bool:
            return await self.finished(nsqd, "t", "nsq_to_file") == 3

        await waitFor(synced)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        [name] = os.listdir(output)
        with open(os.path.join(output, name), "rb") as f:
            self.assertEqual(f.read(), b"one\ntwo\nthree\n")
        self.assertIn(
            f"finished {output}/{name}: 3 messages, 14 bytes",
            running.stderr.getvalue(),
        )

    async def test_toFileSIGTERM(self) -> None:
        """
        SIGTERM while written messages wait for their sync: they are
        synced and FINed before the tool exits, none is left behind.
        """
        nsqd = await self.nsqd()
        await publish(nsqd, "t", BODIES)
        output = os.path.abspath(self.mktemp())
        running = self.startTool(
            nsq_to_file,
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--output-dir={output}",
                "--sync-interval=1h",
            ],
        )

        async def waitingForSync() -> bool:
            # All delivered; the first is synced at once (its file was
            # opened), the rest wait for a sync an hour away.
            stats = await self.channel(nsqd, "t", "nsq_to_file")
            return stats.get("depth") == 0 and stats.get("in_flight_count", 0) > 0

        await waitFor(waitingForSync)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        written: list[bytes] = []
        for name in os.listdir(output):
            with open(os.path.join(output, name), "rb") as f:
                written.extend(f.read().splitlines())
        left = await self.drain(nsqd, "t", "nsq_to_file", COUNT - len(written))
        self.assertNoneLost(written, left)

    # nsq_to_http

    async def sink(self) -> _Sink:
        """
        An HTTP sink on 127.0.0.1, stopped when the test ends.
        """
        sink = _Sink()
        site = Site(sink)
        site.noisy = False
        port = await serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(site)
        self.addCleanup(port.stopListening)
        sink.url = f"http://127.0.0.1:{port.getHost().port}/in"
        return sink

    async def test_toHTTP(self) -> None:
        """
        C{nsq_to_http} POSTs each body and FINs it once answered.
        """
        nsqd = await self.nsqd()
        sink = await self.sink()
        await publish(nsqd, "t", [b"one", b"two"])
        running = self.startTool(
            nsq_to_http,
            ["--topic=t", f"--nsqd-tcp-address={nsqd.tcp}", f"--post={sink.url}"],
        )

        async def done() -> bool:
            return await self.finished(nsqd, "t", "nsq_to_http") == 2

        await waitFor(done)
        self.assertEqual(sorted(sink.answered), [b"one", b"two"])
        running.run.interrupt()
        self.assertEqual(await running.result, 0)

    async def test_toHTTPSIGTERM(self) -> None:
        """
        SIGTERM while POSTs are unanswered: the tool waits for them, FINs
        what was delivered, and leaves the rest on the channel.
        """
        nsqd = await self.nsqd()
        sink = await self.sink()
        sink.hold = True
        await publish(nsqd, "t", BODIES)
        running = self.startTool(
            nsq_to_http,
            ["--topic=t", f"--nsqd-tcp-address={nsqd.tcp}", f"--post={sink.url}"],
        )

        async def posting() -> bool:
            return bool(sink.held)

        await waitFor(posting)
        running.run.interrupt()
        sink.release()
        self.assertEqual(await running.result, 0)
        left = await self.drain(nsqd, "t", "nsq_to_http", COUNT - len(sink.answered))
        self.assertNoneLost(sink.answered, left)

    # nsq_to_nsq

    async def test_toNSQ2(self) -> None:
        """
        C{nsq_to_nsq} moves the messages of a topic to another, FINing each
        at the source.
        """
        nsqd = await self.nsqd()
        await publish(nsqd, "t", [b"one", b"two", b"three"])
        running = self.startTool(
            nsq_to_nsq,
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--destination-nsqd-tcp-address={nsqd.tcp}",
                "--destination-topic=moved",
            ],
        )

        async def moved() -> bool:
            return await self.finished(nsqd, "t", "nsq_to_nsq") == 3

        await waitFor(moved)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertEqual(
            sorted(await self.drain(nsqd, "moved", "check", 3)),
            [b"one", b"three", b"two"],
        )

    async def test_toNSQSIGTERM(self) -> None:
        """
        SIGTERM while messages are being moved: each is either at the
        destination (and FINed at the source) or still on the source
        channel.
        """
        nsqd = await self.nsqd()
        await publish(nsqd, "t", BODIES)
        running = self.startTool(
            nsq_to_nsq,
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--destination-nsqd-tcp-address={nsqd.tcp}",
                "--destination-topic=moved",
                "--max-in-flight=1",
            ],
        )

        async def moving() -> bool:
            return await self.finished(nsqd, "t", "nsq_to_nsq") >= 1

        await waitFor(moving)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        stats = await getJSON(self, f"http://{nsqd.http}/stats?format=json&topic=moved")
        [topic] = stats["topics"]
        movedCount = topic["message_count"]
        moved = await self.drain(nsqd, "moved", "check", movedCount)
        left = await self.drain(nsqd, "t", "nsq_to_nsq", COUNT - movedCount)
        self.assertNoneLost(moved, left)


class TxnsqNSQDProcessTests(_Flows, TestCase):
    """
    The flows against txnsq's nsqd, run as a process of its own the way
    the Go tests run Go's.
    """

    command = TXNSQ_NSQD


_GO_NSQD = findGoNSQD()


class GoNSQDTests(_Flows, TestCase):
    """
    The flows against Go NSQ's nsqd (C{$TXNSQ_GO_NSQD}, or an C{nsqd} on
    C{PATH} built with Go).
    """

    command = _GO_NSQD or ()
    if _GO_NSQD is None:
        skip = GO_NSQD_SKIP
