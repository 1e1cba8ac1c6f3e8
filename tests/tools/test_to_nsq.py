"""
Tests for L{txnsq.tools.to_nsq}: the splitting and throttling alone, and
the tool against real nsqds on 127.0.0.1.
"""

from __future__ import annotations

import io
import os
import socket

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.tools._helpers import (
    consume,
    getJSON,
    logLines,
    start,
    startNSQD,
    waitFor,
)
from txnsq.tools import to_nsq
from txnsq.tools.to_nsq import FLAGS, TOOL, LineSplitter, Progress, Throttle

#: The last progress line, for a count.
SUMMARY = r"\A%d messages sent \(\d+\.\d msg/s\)\Z"


class ProgressTests(SynchronousTestCase):
    """
    L{Progress} tells a person how many messages were sent, and how fast.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.lines: list[str] = []
        self.progress = Progress(self.clock, self.lines.append, 10)

    def test_periodic(self) -> None:
        """
        Every interval in which messages were sent, a line with the total
        and the rate over that interval; nothing for a quiet interval.
        """
        self.progress.sent += 50
        self.clock.advance(10)
        self.assertEqual(self.lines, ["50 messages sent (5.0 msg/s)"])
        self.clock.advance(10)
        self.assertEqual(len(self.lines), 1)
        self.progress.sent += 400
        self.clock.advance(10)
        self.assertEqual(self.lines[1:], ["450 messages sent (20.0 msg/s)"])

    def test_finish(self) -> None:
        """
        L{Progress.finish} logs the total and the rate over the whole run,
        once, and stops the periodic lines.
        """
        self.progress.sent = 30
        self.clock.advance(4)
        self.progress.finish()
        self.progress.finish()
        self.assertEqual(self.lines, ["30 messages sent (7.5 msg/s)"])
        self.progress.sent = 31
        self.clock.advance(20)
        self.assertEqual(len(self.lines), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_noTimePassed(self) -> None:
        """
        A run that took no measurable time reports a rate of 0, not a
        division by zero.
        """
        self.progress.sent = 2
        self.progress.finish()
        self.assertEqual(self.lines, ["2 messages sent (0.0 msg/s)"])

    def test_stop(self) -> None:
        """
        L{Progress.stop} (a fatal error) ends the lines without a last one.
        """
        self.progress.sent = 2
        self.progress.stop()
        self.clock.advance(10)
        self.progress.finish()
        self.assertEqual(self.lines, [])


class LineSplitterTests(SynchronousTestCase):
    """
    L{LineSplitter} cuts a stream into the bytes between delimiters.
    """

    def test_chunks(self) -> None:
        """
        A chunk is the bytes before its delimiter, however the stream is
        cut into reads.
        """
        splitter = LineSplitter(b"\n")
        self.assertEqual(splitter.feed(b"ab"), [])
        self.assertEqual(splitter.feed(b"c\nd"), [b"abc"])
        self.assertEqual(splitter.feed(b"\n\ne\n"), [b"d", b"", b"e"])
        self.assertEqual(splitter.end(), [])

    def test_lastChunkWhole(self) -> None:
        """
        Bytes after the last delimiter are a chunk, whole (Go's to_nsq
        drops their last byte).
        """
        splitter = LineSplitter(b",")
        self.assertEqual(splitter.feed(b"one,two,thr"), [b"one", b"two"])
        self.assertEqual(splitter.feed(b"ee\n"), [])
        self.assertEqual(splitter.end(), [b"three\n"])
        self.assertEqual(splitter.end(), [])

    def test_binary(self) -> None:
        """
        Any byte may be the delimiter, and any other byte is data.
        """
        splitter = LineSplitter(b"\x00")
        self.assertEqual(splitter.feed(b"\xff\n\x00\r\n\x00"), [b"\xff\n", b"\r\n"])


class ThrottleTests(SynchronousTestCase):
    """
    L{Throttle} is Go's C{to_nsq} token bucket, on a clock.
    """

    def test_steadyRate(self) -> None:
        """
        The first message goes at once; when the balance is spent the next
        waits one interval (a second divided by the rate).
        """
        clock = Clock()
        throttle = Throttle(clock, 4)
        self.assertEqual(throttle.interval, 0.25)
        self.successResultOf(_take(throttle))
        second = _take(throttle)
        self.assertNoResult(second)
        clock.advance(0.25)
        self.successResultOf(second)
        throttle.stop()

    def test_burstCapped(self) -> None:
        """
        An idle throttle saves up at most one second of messages.
        """
        clock = Clock()
        throttle = Throttle(clock, 3)
        clock.pump([1 / 3] * 30)
        self.assertEqual(throttle.balance, 3)
        for _ in range(3):
            self.successResultOf(_take(throttle))
        self.assertNoResult(_take(throttle))
        throttle.stop()
        [tick] = clock.getDelayedCalls()
        self.assertAlmostEqual(tick.getTime(), clock.seconds() + 1 / 3)

    def test_noTicks(self) -> None:
        """
        A rate above a billion a second has a zero interval, which Go's
        C{time.Tick} never ticks on; the throttle then waits zero seconds.
        """
        clock = Clock()
        throttle = Throttle(clock, 2_000_000_000)
        self.assertEqual(throttle.interval, 0)
        self.assertEqual(clock.getDelayedCalls(), [])
        self.successResultOf(_take(throttle))
        second = _take(throttle)
        clock.advance(0)
        self.successResultOf(second)


def _take(throttle: Throttle) -> Deferred[None]:
    return Deferred.fromCoroutine(throttle.take())


class CommandLineTests(SynchronousTestCase):
    """
    What C{to_nsq} decides before it publishes anything.
    """

    def status(self, *argv: str, stdin: bytes = b"") -> tuple[int, str]:
        running = start(TOOL, argv, io.BytesIO(stdin))
        status = self.successResultOf(running.result)
        self.assertEqual(running.stdout.getvalue(), b"")
        return status, running.stderr.getvalue()

    def test_help(self) -> None:
        """
        C{-h} prints Go's usage, whose delimiter default is C{"\\n"}; there
        is no C{--version}.
        """
        status, err = self.status("-h")
        self.assertEqual((status, err), (0, FLAGS.usage()))
        self.assertIn(
            "  -delimiter string\n    \tcharacter to split input from stdin"
            ' (default "\\n")\n',
            err,
        )
        self.assertEqual(self.status("--version")[0], 2)

    def test_noTopic(self) -> None:
        """
        C{--topic} is required first.
        """
        status, err = self.status()
        self.assertEqual((status, logLines(err)), (1, ["--topic required"]))

    def test_delimiter(self) -> None:
        """
        The delimiter must be one byte (a non-ASCII character is several).
        """
        for delimiter in ("ab", "", "\u00e9"):
            status, err = self.status("--topic=t", "--delimiter", delimiter)
            self.assertEqual(
                (status, logLines(err)), (1, ["--delimiter must be a single byte"])
            )

    def test_noAddress(self) -> None:
        """
        At least one C{--nsqd-tcp-address} is required.
        """
        status, err = self.status("--topic=t")
        self.assertEqual((status, logLines(err)), (1, ["--nsqd-tcp-address required"]))

    def test_invalidOption(self) -> None:
        """
        A C{--producer-opt} with a bad value is a flag error (status 2)
        with go-nsq's text; one that fails go-nsq's validation is
        C{NewProducer}'s error.
        """
        status, err = self.status("--producer-opt=deflate_level,10")
        self.assertEqual(status, 2)
        self.assertTrue(
            err.startswith(
                'invalid value "deflate_level,10" for flag -producer-opt:'
                " invalid deflate_level ! 10 > 9\n"
            ),
            err,
        )
        status, err = self.status(
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:1",
            "--producer-opt=heartbeat_interval,2m",
        )
        self.assertEqual(
            (status, logLines(err)),
            (
                1,
                [
                    "failed to create nsq.Producer - HeartbeatInterval 2m0s must be"
                    " less than ReadTimeout 1m0s"
                ],
            ),
        )

    def test_emptyInput(self) -> None:
        """
        Nothing to publish, nothing dialed: status 0 even if nsqd is not
        there, or its address cannot be dialed, or the topic name is bad
        (go-nsq connects at the first publish, nsqd checks the name).
        """
        for address in ("127.0.0.1:1", "foo", "127.0.0.1:-1"):
            status, err = self.status("--topic=a!", f"--nsqd-tcp-address={address}")
            self.assertEqual((status, err), (0, ""), address)


def _closedPort() -> str:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    return address


class PublishTests(TestCase):
    """
    C{to_nsq} publishing to real nsqds.
    """

    timeout = 30

    async def test_lines(self) -> None:
        """
        Each line is a message, bytes as they are; empty lines are
        skipped; the last line is published whole without a newline.
        """
        nsqd = await startNSQD(self)
        running = start(
            TOOL,
            ["--topic=t", "--nsqd-tcp-address", nsqd.tcp],
            io.BytesIO(b"one\n\xff\x00bin\r\n\n\nlast"),
        )
        self.assertEqual(await running.result, 0)
        [summary] = logLines(running.stderr.getvalue())
        self.assertRegex(summary, SUMMARY % 3)
        self.assertEqual(running.stdout.getvalue(), b"")
        self.assertEqual(
            await consume(nsqd, "t", 3), [b"one", b"\xff\x00bin\r", b"last"]
        )

    async def test_delimiter(self) -> None:
        """
        Go's README example with C{-delimiter=","}: three messages, the
        last one with its newline (Go's cuts it).
        """
        nsqd = await startNSQD(self)
        running = start(
            TOOL,
            ["-delimiter=,", "-topic=topic", f"-nsqd-tcp-address={nsqd.tcp}"],
            io.BytesIO(b"one,two,three\n"),
        )
        self.assertEqual(await running.result, 0)
        self.assertEqual(await consume(nsqd, "topic", 3), [b"one", b"two", b"three\n"])

    async def test_everyNSQD(self) -> None:
        """
        Every message goes to every C{--nsqd-tcp-address} (given twice, an
        address is used once); the user agent and C{--producer-opt} reach
        IDENTIFY.
        """
        first, second = await startNSQD(self), await startNSQD(self)
        count = 2500
        data = b"".join(b"%d\n" % i for i in range(count))
        running = start(
            TOOL,
            [
                "--topic=t",
                "--nsqd-tcp-address",
                first.tcp,
                "--nsqd-tcp-address",
                second.tcp,
                "--nsqd-tcp-address",
                first.tcp,
            ],
            io.BytesIO(data),
        )
        self.assertEqual(await running.result, 0)
        expected = [b"%d" % i for i in range(count)]
        for nsqd in (first, second):
            self.assertEqual(await consume(nsqd, "t", count), expected)
            stats = await getJSON(self, f"http://{nsqd.http}/stats?format=json")
            [topic] = stats["topics"]
            self.assertEqual(topic["message_count"], count)

    async def test_pipe(self) -> None:
        """
        stdin read from a real file descriptor (a pipe) is published as it
        arrives; SIGINT ends the tool with status 0 while stdin is still
        open.
        """
        nsqd = await startNSQD(self)
        readEnd, writeEnd = os.pipe()
        stdin = os.fdopen(readEnd, "rb", buffering=0)
        self.addCleanup(stdin.close)
        writer = os.fdopen(writeEnd, "wb", buffering=0)
        self.addCleanup(writer.close)
        running = start(TOOL, ["--topic=t", "--nsqd-tcp-address", nsqd.tcp], stdin)
        writer.write(b"first\nsec")
        writer.write(b"ond\nthi")
        self.assertEqual(await consume(nsqd, "t", 2), [b"first", b"second"])
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        # What nsqd acknowledged before the signal is reported.
        self.assertRegex(logLines(running.stderr.getvalue())[-1], SUMMARY % 2)

    async def test_progressWhileRunning(self) -> None:
        """
        While stdin stays open, a progress line comes every
        C{PROGRESS_INTERVAL} in which messages were sent, on stderr.
        """
        self.patch(to_nsq, "PROGRESS_INTERVAL", 0.01)
        nsqd = await startNSQD(self)
        readEnd, writeEnd = os.pipe()
        stdin = os.fdopen(readEnd, "rb", buffering=0)
        self.addCleanup(stdin.close)
        writer = os.fdopen(writeEnd, "wb", buffering=0)
        self.addCleanup(writer.close)
        running = start(TOOL, ["--topic=t", "--nsqd-tcp-address", nsqd.tcp], stdin)
        writer.write(b"a\nb\n")

        async def reported() -> bool:
            lines = logLines(running.stderr.getvalue())
            return any(line.startswith("2 messages sent (") for line in lines)

        await waitFor(reported)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertEqual(running.stdout.getvalue(), b"")

    async def test_rejected(self) -> None:
        """
        A publish nsqd refuses ends the tool with nsqd's error (Go's
        C{log.Fatal(err)}); status 1.
        """
        nsqd = await startNSQD(self)
        running = start(
            TOOL,
            ["--topic=bad/topic", "--nsqd-tcp-address", nsqd.tcp],
            io.BytesIO(b"x\n"),
        )
        self.assertEqual(await running.result, 1)
        self.assertEqual(
            logLines(running.stderr.getvalue())[-1],
            'E_BAD_TOPIC PUB topic name "bad/topic" is not valid',
        )

    async def test_unreachable(self) -> None:
        """
        An nsqd that cannot be reached when there is something to publish
        is Go's dial error; status 1.
        """
        address = _closedPort()
        running = start(
            TOOL, ["--topic=t", "--nsqd-tcp-address", address], io.BytesIO(b"x\n")
        )
        self.assertEqual(await running.result, 1)
        self.assertEqual(
            logLines(running.stderr.getvalue())[-1],
            f"dial tcp {address}: connect: connection refused",
        )

    async def test_badAddress(self) -> None:
        """
        An address Go's C{net.Dial} refuses is its error at the first
        publish, before the topic name (which nsqd checks) is.
        """
        for address, message in [
            ("foo", "dial tcp: address foo: missing port in address"),
            ("127.0.0.1:-1", "dial tcp: address -1: invalid port"),
            ("127.0.0.1:abc", "dial tcp: address tcp/abc: unknown port"),
        ]:
            running = start(
                TOOL,
                ["--topic=a!", f"--nsqd-tcp-address={address}"],
                io.BytesIO(b"x\n"),
            )
            self.assertEqual(await running.result, 1)
            self.assertEqual(logLines(running.stderr.getvalue()), [message], address)

    async def test_unreachableBeforeBadTopic(self) -> None:
        """
        With a bad topic name and an nsqd that cannot be reached, the dial
        error is Go's (go-nsq dials before nsqd can refuse the name); a
        port given as C{+N} is dialed, and reported, as C{N}.
        """
        address = _closedPort()
        host, port = address.rsplit(":", 1)
        for given in (address, f"{host}:+{port}"):
            running = start(
                TOOL, ["--topic=a!", "--nsqd-tcp-address", given], io.BytesIO(b"x\n")
            )
            self.assertEqual(await running.result, 1)
            self.assertEqual(
                logLines(running.stderr.getvalue()),
                [f"dial tcp {address}: connect: connection refused"],
            )

    async def test_samePortTwoSpellings(self) -> None:
        """
        C{h:N} and C{h:+N} are two addresses to Go's C{to_nsq} (its
        producers are keyed by the text given), so each message is
        published twice to that nsqd; the same text twice is one producer.
        """
        nsqd = await startNSQD(self)
        host, port = nsqd.tcp.rsplit(":", 1)
        for topic, addresses in [
            ("two", [nsqd.tcp, f"{host}:+{port}"]),
            ("one", [nsqd.tcp, nsqd.tcp]),
        ]:
            argv = [f"--topic={topic}"]
            argv += [f"--nsqd-tcp-address={address}" for address in addresses]
            running = start(TOOL, argv, io.BytesIO(b"x\n"))
            self.assertEqual(await running.result, 0)
        stats = await getJSON(self, f"http://{nsqd.http}/stats?format=json")
        counts = {t["topic_name"]: t["message_count"] for t in stats["topics"]}
        self.assertEqual(counts, {"one": 1, "two": 2})

    async def test_rate(self) -> None:
        """
        C{--rate} logs Go's line and still publishes everything.
        """
        nsqd = await startNSQD(self)
        running = start(
            TOOL,
            ["--topic=t", "--nsqd-tcp-address", nsqd.tcp, "--rate=200"],
            io.BytesIO(b"a\nb\nc\n"),
        )
        self.assertEqual(await running.result, 0)
        throttling, summary = logLines(running.stderr.getvalue())
        self.assertEqual(throttling, "Throttling messages rate to max:200/second")
        self.assertRegex(summary, SUMMARY % 3)
        self.assertEqual(await consume(nsqd, "t", 3), [b"a", b"b", b"c"])
