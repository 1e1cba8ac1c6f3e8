"""
Tests for L{txnsq.tools.nsq_stat}: its output format and loop on a clock,
and the tool against real daemons on 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.tools._helpers import (
    NSQD,
    httpClient,
    logLines,
    publish,
    start,
    startIPv6Cluster,
    startLookupd,
    startNSQD,
    waitFor,
)
from txnsq._http import TreqClient
from txnsq.tools.nsq_stat import (
    FLAGS,
    HEADER,
    TOOL,
    ChannelStats,
    StatLoop,
    formatRow,
)

GO_HEADER = (
    "------rate------+----------------depth----------------"
    "+--------------metadata---------------\n"
    "ingress  egress |   total     mem    disk inflt   def"
    " |     req     t-o         msgs clients\n"
)


class FormatTests(SynchronousTestCase):
    """
    The header and rows are Go's, column for column.
    """

    def test_header(self) -> None:
        """
        The two header lines.
        """
        self.assertEqual(HEADER, GO_HEADER)

    def test_row(self) -> None:
        """
        A row: ingress and egress per second over the interval, then the
        channel's depths and counters.
        """
        previous = ChannelStats(depth=10, messageCount=100)
        current = ChannelStats(
            depth=14,
            memoryDepth=4,
            backendDepth=10,
            inFlightCount=3,
            deferredCount=2,
            requeueCount=5,
            timeoutCount=1,
            messageCount=120,
            clientCount=2,
        )
        self.assertEqual(
            formatRow(previous, current, 2.0),
            "     10       8 |      14       4      10     3     2 |"
            "       5       1          120       2\n",
        )

    def test_truncation(self) -> None:
        """
        Rates are truncated toward zero, as Go's C{int64(float64)} is.
        """
        row = formatRow(ChannelStats(messageCount=3), ChannelStats(), 2.0)
        self.assertTrue(row.startswith("     -1      -1 |"), row)

    def test_fromJSON(self) -> None:
        """
        A channel of nsqd's C{/stats}; the memory depth is the depth less
        the backend depth, and the sum adds every field.
        """
        stats = ChannelStats.fromJSON(
            {
                "channel_name": "c",
                "depth": 7,
                "backend_depth": 5,
                "in_flight_count": 1,
                "deferred_count": 2,
                "requeue_count": 3,
                "timeout_count": 4,
                "message_count": 9,
                "client_count": 1,
            }
        )
        self.assertEqual(stats, ChannelStats(7, 2, 5, 1, 2, 3, 4, 9, 1))
        self.assertEqual(stats + stats, ChannelStats(14, 4, 10, 2, 4, 6, 8, 18, 2))
        self.assertRaises(ValueError, ChannelStats.fromJSON, {"depth": "x"})


class StatLoopTests(SynchronousTestCase):
    """
    L{StatLoop} polls, prints and sleeps as Go's C{statLoop} does.
    """

    def loop(self, count: int | None) -> tuple[StatLoop, list[str], Clock, list[int]]:
        clock = Clock()
        written: list[str] = []
        polls: list[int] = []
        numbers: Iterator[int] = iter(range(0, 10**6, 10))

        async def poll() -> ChannelStats:
            polls.append(1)
            return ChannelStats(messageCount=next(numbers))

        return StatLoop(poll, written.append, clock, 1.0, count), written, clock, polls

    def test_count(self) -> None:
        """
        C{--count N}: the baseline poll prints only the header, then N
        rows, then one more interval passes before the loop ends.
        """
        loop, written, clock, polls = self.loop(2)
        done = Deferred.fromCoroutine(loop.run())
        self.assertEqual(written, [HEADER])
        clock.advance(1)
        clock.advance(1)
        self.assertEqual(len(polls), 3)
        self.assertEqual(
            written[1:],
            [
                formatRow(ChannelStats(), ChannelStats(messageCount=10), 1.0),
                formatRow(
                    ChannelStats(messageCount=10), ChannelStats(messageCount=20), 1.0
                ),
            ],
        )
        self.assertNoResult(done)
        clock.advance(1)
        self.successResultOf(done)

    def test_headerEvery25(self) -> None:
        """
        The header is printed again before every 25th poll.
        """
        loop, written, clock, _ = self.loop(None)
        done = Deferred.fromCoroutine(loop.run())
        clock.pump([1.0] * 50)
        headers = [i for i, text in enumerate(written) if text == HEADER]
        # Polls 0, 25 and 50, each header written before its poll's row.
        self.assertEqual(headers, [0, 25, 51])
        done.cancel()
        self.failureResultOf(done)


class CommandLineTests(SynchronousTestCase):
    """
    What C{nsq_stat} decides from its command line alone.
    """

    def status(self, *argv: str) -> tuple[int, bytes, str]:
        running = start(TOOL, argv)
        status = self.successResultOf(running.result)
        return status, running.stdout.getvalue(), running.stderr.getvalue()

    def test_versionAndHelp(self) -> None:
        """
        C{--version} prints Go's line; C{-h} Go's usage, where C{--count}
        is a C{value} without default.
        """
        self.assertEqual(self.status("-version"), (0, b"nsq_stat v1.3.0\n", ""))
        status, _, err = self.status("-h")
        self.assertEqual((status, err), (0, FLAGS.usage()))
        self.assertIn("  -count value\n    \tnumber of reports\n", err)
        self.assertIn(
            "  -interval duration\n"
            "    \tduration of time between polling/printing output"
            " (default 2s)\n",
            err,
        )

    def test_required(self) -> None:
        """
        Go's checks, in Go's order, each a C{log.Fatal} (status 1).
        """
        address = ["--nsqd-http-address=127.0.0.1:4151"]
        cases = [
            ([], "--topic and --channel are required"),
            (["--topic=t"], "--topic and --channel are required"),
            (
                ["--topic=t", "--channel=c", "--interval=0"],
                "--interval should be positive",
            ),
            (
                ["--topic=t", "--channel=c", "--http-client-connect-timeout=-1s"],
                "--http-client-connect-timeout should be positive",
            ),
            (
                ["--topic=t", "--channel=c", "--http-client-request-timeout=0s"],
                "--http-client-request-timeout should be positive",
            ),
            (["--topic=t", "--channel=c", "--count=0"], "--count should be positive"),
            (
                ["--topic=t", "--channel=c"],
                "--nsqd-http-address or --lookupd-http-address required",
            ),
            (
                ["--topic=t", "--channel=c", *address, "--lookupd-http-address=a:1"],
                "use --nsqd-http-address or --lookupd-http-address not both",
            ),
            (
                ["--topic=t", "--channel=c", "--nsqd-http-address=http://a:1"],
                "--nsqd-http-address error - address should not contain scheme",
            ),
            (
                ["--topic=t", "--channel=c", "--lookupd-http-address=https://a:1"],
                "--lookupd-http-address error - address should not contain scheme",
            ),
        ]
        for argv, message in cases:
            status, out, err = self.status(*argv)
            self.assertEqual((status, out, logLines(err)), (1, b"", [message]), argv)

    def test_badCount(self) -> None:
        """
        C{--count} takes a 32-bit integer; anything else is Go's flag error
        with strconv's text (status 2).
        """
        status, _, err = self.status("--count", "x")
        self.assertEqual(status, 2)
        self.assertTrue(
            err.startswith(
                'invalid value "x" for flag -count:'
                ' strconv.ParseInt: parsing "x": invalid syntax\n'
            ),
            err,
        )
        status, _, err = self.status("--count=4294967296")
        self.assertEqual(status, 2)
        self.assertIn("value out of range", err)


def _closedPort() -> str:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    return address


class StatTests(TestCase):
    """
    C{nsq_stat} against real daemons.
    """

    timeout = 30

    async def channelWithDepth(self, nsqd: NSQD, depth: int) -> None:
        """
        Create C{t/c} and queue C{depth} messages on it.
        """
        client = httpClient(self)
        for path in ("topic/create?topic=t", "channel/create?topic=t&channel=c"):
            response = await client.post(f"http://{nsqd.http}/{path}")
            self.assertEqual(response.code, 200)
            await response.content()
        await publish(nsqd, "t", [b"m%d" % i for i in range(depth)])

    async def test_nsqdRows(self) -> None:
        """
        With C{--nsqd-http-address} and C{--count 2}: the header, then two
        rows of the channel's numbers; status 0.
        """
        nsqd = await startNSQD(self)
        await self.channelWithDepth(nsqd, 3)
        running = start(
            TOOL,
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

    async def test_lookupd(self) -> None:
        """
        With C{--lookupd-http-address}, the nsqds come from nsqlookupd, and
        their numbers are summed.
        """
        lookupdTCP, lookupdHTTP = await startLookupd(self)
        first = await startNSQD(self, lookupdTCP)
        second = await startNSQD(self, lookupdTCP)
        await self.channelWithDepth(first, 2)
        await self.channelWithDepth(second, 5)

        async def registered() -> bool:
            client = httpClient(self)
            response = await client.get(f"http://{lookupdHTTP}/lookup?topic=t")
            body = await response.json()
            return len(body.get("producers", [])) == 2

        await waitFor(registered)
        running = start(
            TOOL,
            [
                "-topic",
                "t",
                "-channel",
                "c",
                "-lookupd-http-address",
                lookupdHTTP,
                "-interval",
                "20ms",
                "-count",
                "1",
            ],
        )
        self.assertEqual(await running.result, 0)
        self.assertEqual(
            running.stdout.getvalue().decode().splitlines()[2],
            "      0       0 |       7       7       0     0     0 |"
            "       0       0            7       0",
        )

    async def test_noChannel(self) -> None:
        """
        A channel the nsqds do not have is Go's error; status 1.
        """
        nsqd = await startNSQD(self)
        await self.channelWithDepth(nsqd, 1)
        running = start(
            TOOL, ["--topic=t", "--channel=nope", f"--nsqd-http-address={nsqd.http}"]
        )
        self.assertEqual(await running.result, 1)
        self.assertEqual(
            logLines(running.stderr.getvalue()),
            ["ERROR: failed to find channel(nope) in stats metadata for topic(t)"],
        )

    async def test_noTopic(self) -> None:
        """
        A topic no nsqd has leaves no nsqd to ask: Go's error ends in
        nothing.
        """
        nsqd = await startNSQD(self)
        running = start(
            TOOL, ["--topic=t", "--channel=c", f"--nsqd-http-address={nsqd.http}"]
        )
        self.assertEqual(await running.result, 1)
        self.assertEqual(
            logLines(running.stderr.getvalue()),
            ["ERROR: failed to get nsqd stats - failed to query any nsqd: "],
        )

    async def test_unreachable(self) -> None:
        """
        An nsqlookupd that cannot be reached is Go's error with Go's
        C{net/http} text.
        """
        address = _closedPort()
        running = start(
            TOOL, ["--topic=t", "--channel=c", f"--lookupd-http-address={address}"]
        )
        self.assertEqual(await running.result, 1)
        self.assertEqual(
            logLines(running.stderr.getvalue()),
            [
                "ERROR: failed to get topic producers - failed to query any"
                f' nsqlookupd: Get "http://{address}/lookup?topic=t":'
                f" dial tcp {address}: connect: connection refused"
            ],
        )

    async def test_interrupt(self) -> None:
        """
        Without C{--count} the tool runs until a signal; then status 0.
        """
        nsqd = await startNSQD(self)
        await self.channelWithDepth(nsqd, 1)
        running = start(
            TOOL,
            [
                "--topic=t",
                "--channel=c",
                f"--nsqd-http-address={nsqd.http}",
                "--interval=10ms",
            ],
        )

        async def twoRows() -> bool:
            return len(running.stdout.getvalue().splitlines()) >= 4

        await waitFor(twoRows)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)


class IPv6Tests(TestCase):
    """
    C{nsq_stat} against an nsqlookupd and an nsqd given as IPv6 literals
    (C{[::1]:port}), as Go's reaches them.
    """

    timeout = 30

    async def setUp(self) -> None:  # type: ignore[override]
        self.lookupd, self.nsqd = await startIPv6Cluster(self)
        client = TreqClient(reactor)
        self.addCleanup(client.close)
        for path in ("topic/create?topic=t", "channel/create?topic=t&channel=c"):
            response = await client.post(f"http://{self.nsqd.http}/{path}", b"")
            self.assertEqual(response.code, 200)
            await response.content()
        await publish(self.nsqd, "t", [b"m1", b"m2"])

    async def stat(self, flag: str) -> str:
        """
        Run C{nsq_stat --count 1} with C{flag}; its one row.
        """
        running = start(
            TOOL, ["--topic=t", "--channel=c", flag, "--interval=20ms", "--count=1"]
        )
        self.assertEqual(await running.result, 0, running.stderr.getvalue())
        return running.stdout.getvalue().decode().splitlines()[2]

    async def test_nsqd(self) -> None:
        """
        C{--nsqd-http-address=[::1]:port}: the nsqd's numbers.
        """
        row = await self.stat(f"--nsqd-http-address={self.nsqd.http}")
        self.assertEqual(row.split()[3:5], ["2", "2"])

    async def test_lookupd(self) -> None:
        """
        C{--lookupd-http-address=[::1]:port}: the nsqlookupd is asked, and
        the nsqd it lists (broadcasting C{::1}) too.
        """

        async def registered() -> bool:
            client = TreqClient(reactor)
            try:
                response = await client.get(f"http://{self.lookupd}/lookup?topic=t")
                body = await response.json()
            finally:
                await client.close()
            return len(body.get("producers", [])) == 1

        await waitFor(registered)
        row = await self.stat(f"--lookupd-http-address={self.lookupd}")
        self.assertEqual(row.split()[3:5], ["2", "2"])
