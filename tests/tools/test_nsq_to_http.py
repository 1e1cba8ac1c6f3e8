"""
Tests for L{txnsq.tools.nsq_to_http} and its parts (go-hostpool's pools,
timer_metrics' status lines), and the tool against a real nsqd on
127.0.0.1 with a Klein application as the HTTP sink.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs
from klein import Klein
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.server import Request, Site

from tests._services import requireIPv6Loopback
from tests.tools._helpers import (
    NSQD,
    Running,
    channelClients,
    logLines,
    publish,
    start,
    startNSQD,
    waitFor,
)
from txnsq import NSQ_VERSION
from txnsq.client import Message
from txnsq.tools._hostpool import EpsilonGreedyHostPool, HostPool
from txnsq.tools._timermetrics import TimerMetrics, percentile
from txnsq.tools.nsq_to_http import (
    FLAGS,
    MODE_ALL,
    MODE_HOSTPOOL,
    MODE_ROUND_ROBIN,
    TOOL,
    PublishFailed,
    PublishHandler,
    getURL,
    parseCustomHeaders,
    selectMode,
)


class PureTests(SynchronousTestCase):
    """
    Header parsing, GET URLs and mode selection, as Go's.
    """

    def test_headers(self) -> None:
        """
        C{key:value}, trimmed (Go's own test cases).
        """
        self.assertEqual(
            parseCustomHeaders(["header1: value1", "header2:value2"]),
            {"header1": "value1", "header2": "value2"},
        )
        for bad in ["header1:", ": value2", ":", "novalue"]:
            self.assertRaises(ValueError, parseCustomHeaders, [bad])

    def test_getURL(self) -> None:
        """
        The body replaces C{%s}, query-escaped as Go's C{url.QueryEscape}
        (space as C{+}, unreserved characters kept, UTF-8 bytes escaped).
        """
        self.assertEqual(
            getURL("http://h/p?d=%s&x=100%%", "a b&c/ü-_.~".encode()),
            "http://h/p?d=a+b%26c%2F%C3%BC-_.~&x=100%",
        )

    def test_modes(self) -> None:
        """
        C{epsilon-greedy} is a host pool; an unknown mode is Go's zero
        value, every address in turn.
        """
        self.assertEqual(selectMode("round-robin"), MODE_ROUND_ROBIN)
        self.assertEqual(selectMode("hostpool"), MODE_HOSTPOOL)
        self.assertEqual(selectMode("epsilon-greedy"), MODE_HOSTPOOL)
        self.assertEqual(selectMode("multicast"), MODE_ALL)


class HostPoolTests(SynchronousTestCase):
    """
    L{HostPool} and L{EpsilonGreedyHostPool}: go-hostpool's behaviour.
    """

    def test_roundRobin(self) -> None:
        """
        Live hosts are used in turn.
        """
        pool = HostPool(["a", "b", "c"], clock=Clock().seconds)
        self.assertEqual([pool.get().host for _ in range(4)], ["a", "b", "c", "a"])

    def test_deadSkipped(self) -> None:
        """
        A failed host is skipped until its retry delay (30s) passes, then
        tried again with the delay doubled; a success revives it.
        """
        clock = Clock()
        pool = HostPool(["a", "b"], clock=clock.seconds)
        pool.get().mark(failed=True)
        self.assertTrue(pool.isDead("a"))
        self.assertEqual([pool.get().host for _ in range(3)], ["b", "b", "b"])
        clock.advance(31)
        retry = pool.get()
        self.assertEqual(retry.host, "a")
        self.assertEqual(pool.get().host, "b")
        clock.advance(31)
        # Still dead, and the next retry is 60s after the last.
        self.assertEqual(pool.get().host, "b")
        retry.mark(failed=False)
        self.assertFalse(pool.isDead("a"))

    def test_markOnce(self) -> None:
        """
        Only the first mark of a response counts.
        """
        pool = HostPool(["a"], clock=Clock().seconds)
        response = pool.get()
        response.mark(failed=False)
        response.mark(failed=True)
        self.assertFalse(pool.isDead("a"))

    def test_allDead(self) -> None:
        """
        When every host is dead, all are revived and the first is used.
        """
        pool = HostPool(["a", "b"], clock=Clock().seconds)
        pool.get().mark(failed=True)
        pool.get().mark(failed=True)
        self.assertEqual(pool.get().host, "a")
        self.assertFalse(pool.isDead("b"))

    def test_epsilonGreedyPrefersFast(self) -> None:
        """
        Once response times are known, the epsilon-greedy pool mostly picks
        the faster host; it explores less and less.
        """
        clock = Clock()
        pool = EpsilonGreedyHostPool(
            ["slow", "fast"], clock=clock.seconds, random=random.Random(1)
        )
        for _ in range(50):
            for host, seconds in (("slow", 0.1), ("fast", 0.01)):
                response = pool.get()
                response.host = host
                clock.advance(seconds)
                response.mark(failed=False)
        chosen = [pool.get().host for _ in range(200)]
        self.assertGreater(chosen.count("fast"), 150)
        self.assertLess(pool.epsilon, 0.3)

    def test_epsilonSubMillisecond(self) -> None:
        """
        Response times are whole milliseconds, as in Go: hosts answering
        in under one have no score, and are chosen round robin.
        """
        pool = EpsilonGreedyHostPool(
            ["a", "b"], clock=Clock().seconds, random=random.Random(0)
        )
        for _ in range(10):
            pool.get().mark(failed=False)
        self.assertEqual(sorted({pool.get().host for _ in range(20)}), ["a", "b"])


class TimerMetricsTests(SynchronousTestCase):
    """
    L{TimerMetrics}: timer_metrics' status lines.
    """

    def test_everyN(self) -> None:
        """
        A line when the ring of C{statusEvery} durations wraps: after the
        C{statusEvery + 1}-th request, then every C{statusEvery}.
        """
        lines: list[str] = []
        metrics = TimerMetrics(3, "[aggregate]:", lines.append)
        self.assertEqual(
            lines,
            [
                "Warning: use more than 100 status values for accurate"
                " percentiles (configured with 3)"
            ],
        )
        del lines[:]
        for ms in [1, 2, 3, 4, 5, 6, 7]:
            metrics.statusDuration(ms * 1_000_000)
        self.assertEqual(
            lines,
            [
                "[aggregate]: finished 3 - 99th: 4.00ms - 95th: 4.00ms - avg: 3.00ms",
                "[aggregate]: finished 3 - 99th: 7.00ms - 95th: 7.00ms - avg: 6.00ms",
            ],
        )

    def test_disabled(self) -> None:
        """
        C{statusEvery} 0 records and logs nothing.
        """
        lines: list[str] = []
        metrics = TimerMetrics(0, "", lines.append)
        metrics.status(0, 1)
        self.assertEqual(lines, [])

    def test_percentile(self) -> None:
        """
        Go's index: C{ceil(p/100 * n + 0.5)}, at most the last.
        """
        ordered = list(range(100))
        self.assertEqual(percentile(95.0, ordered), 96)
        self.assertEqual(percentile(99.0, ordered), 99)
        self.assertEqual(percentile(99.0, []), 0)


@attrs.define
class FakeResponder:
    """
    Records how messages are answered.
    """

    finished: list[bytes] = attrs.Factory(list)
    requeued: list[bytes] = attrs.Factory(list)

    def finishMessage(self, message: Message) -> None:
        """
        FIN.
        """
        self.finished.append(message.body)

    def requeueMessage(
        self, message: Message, delayMs: int | None, backoff: bool
    ) -> None:
        """
        REQ.
        """
        self.requeued.append(message.body)

    def touchMessage(self, message: Message) -> None:
        """
        Not used.
        """


class PublishHandlerTests(SynchronousTestCase):
    """
    L{PublishHandler}: which addresses get each message.
    """

    def handler(
        self,
        mode: str,
        addresses: list[str],
        publish: Callable[[str, bytes], Deferred[None]],
        **kwargs: Any,
    ) -> PublishHandler:
        """
        A handler timing requests on a clock.
        """
        clock = Clock()
        log: list[str] = []
        return PublishHandler(
            addresses,
            mode,
            publish,
            HostPool(addresses, clock=clock.seconds),
            {address: TimerMetrics(0, "", log.append) for address in addresses},
            TimerMetrics(0, "", log.append),
            clock=clock,
            **kwargs,
        )

    def deliver(self, handler: PublishHandler, body: bytes) -> Message:
        """
        Hand a message to C{handler}, FINing it on success as the consumer
        does.
        """
        responder = self.responder
        message = Message(b"0" * 16, body, 0, 1, responder)

        def done(_: object) -> None:
            if not message.hasResponded:
                message.finish()

        handler(message).addCallback(done)
        return message

    def setUp(self) -> None:
        self.responder = FakeResponder()
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, address: str, body: bytes) -> Deferred[None]:
        """
        Record a request; it succeeds.
        """
        self.sent.append((address, body))
        return succeed(None)

    def test_roundRobin(self) -> None:
        """
        Round robin starts with the second address, as Go's counter does.
        """
        handler = self.handler(MODE_ROUND_ROBIN, ["a", "b", "c"], self.publish)
        for body in [b"1", b"2", b"3"]:
            self.deliver(handler, body)
        self.assertEqual(self.sent, [("b", b"1"), ("c", b"2"), ("a", b"3")])
        self.assertEqual(self.responder.finished, [b"1", b"2", b"3"])

    def test_all(self) -> None:
        """
        Go's zero mode sends each message to every address, in order.
        """
        handler = self.handler(MODE_ALL, ["a", "b"], self.publish)
        self.deliver(handler, b"1")
        self.assertEqual(self.sent, [("a", b"1"), ("b", b"1")])

    def test_failureRequeues(self) -> None:
        """
        A failed request requeues the message (with backoff) and marks the
        host dead in the pool.
        """

        def failing(address: str, body: bytes) -> Deferred[None]:
            self.sent.append((address, body))
            raise PublishFailed("got status code 500")

        handler = self.handler(MODE_HOSTPOOL, ["a", "b"], failing)
        self.deliver(handler, b"1")
        self.assertEqual(self.responder.requeued, [b"1"])
        self.assertEqual(self.responder.finished, [])
        self.assertTrue(handler.hostPool.isDead("a"))
        self.flushLoggedErrors()

    def test_sample(self) -> None:
        """
        With C{--sample 0}, nothing is sent and every message is FINed.
        """
        handler = self.handler(
            MODE_HOSTPOOL, ["a"], self.publish, sample=0.0, random=random.Random(0)
        )
        self.deliver(handler, b"1")
        self.assertEqual((self.sent, self.responder.finished), ([], [b"1"]))

    def test_concurrency(self) -> None:
        """
        At most C{--n} requests run at once; the other messages wait.
        """
        waiting: list[Deferred[None]] = []

        def slow(address: str, body: bytes) -> Deferred[None]:
            self.sent.append((address, body))
            d: Deferred[None] = Deferred()
            waiting.append(d)
            return d

        handler = self.handler(MODE_HOSTPOOL, ["a"], slow, concurrency=2)
        for body in [b"1", b"2", b"3"]:
            self.deliver(handler, body)
        self.assertEqual(len(self.sent), 2)
        waiting.pop(0).callback(None)
        self.assertEqual(len(self.sent), 3)
        self.assertEqual(self.responder.finished, [b"1"])


class CommandLineTests(SynchronousTestCase):
    """
    What C{nsq_to_http} decides from its command line alone.
    """

    def status(self, *argv: str) -> tuple[int, bytes, str]:
        """
        Run the tool with C{argv}: status, stdout, stderr.
        """
        running = start(TOOL, argv)
        status = self.successResultOf(running.result)
        return status, running.stdout.getvalue(), running.stderr.getvalue()

    def test_version(self) -> None:
        """
        C{--version} prints Go's line and exits 0.
        """
        self.assertEqual(
            self.status("--version"), (0, f"nsq_to_http v{NSQ_VERSION}\n".encode(), "")
        )

    def test_help(self) -> None:
        """
        C{-h} prints Go's usage with Go's defaults.
        """
        status, _, err = self.status("-h")
        self.assertEqual((status, err), (0, FLAGS.usage()))
        for text in [
            "  -n int\n    \tnumber of concurrent publishers (default 100)\n",
            "  -sample float\n    \t% of messages to publish (float b/w 0 -> 1)"
            " (default 1)\n",
            "  -http-client-request-timeout duration\n    \ttimeout for HTTP"
            " request (default 20s)\n",
            "  -mode string\n    \tthe upstream request mode options: round-robin,"
            ' hostpool (default), epsilon-greedy (default "hostpool")\n',
        ]:
            self.assertIn(text, err)

    def test_checks(self) -> None:
        """
        Go's checks, in Go's order, each a C{log.Fatal} with exit 1.
        """
        nsqd = "--nsqd-tcp-address=127.0.0.1:4150"
        post = "--post=http://h/"
        cases = [
            (["--header=x"], "--header value format should be 'key=value'"),
            ([], "--topic and --channel are required"),
            (["--topic=t", "--channel="], "--topic and --channel are required"),
            (
                ["--topic=t", "--content-type=text/plain"],
                "--content-type only used with --post",
            ),
            (
                ["--topic=t", post, "--content-type="],
                "--content-type requires a value when used",
            ),
            (["--topic=t"], "--nsqd-tcp-address or --lookupd-http-address required"),
            (["--topic=t", nsqd], "--get or --post required"),
            (
                ["--topic=t", nsqd, post, "--get=http://h/%s"],
                "use --get or --post not both",
            ),
            (
                ["--topic=t", nsqd, "--get=http://h/"],
                "invalid GET address - must be a printf string",
            ),
            (
                ["--topic=t", nsqd, post, "--sample=2"],
                "ERROR: --sample must be between 0.0 and 1.0",
            ),
            # go-nsq's NewConsumer checks the names before ConnectToNSQDs
            # and ConnectToNSQLookupds check the addresses.
            (["--topic=a!", "--nsqd-tcp-address=foo", post], "invalid topic name"),
            (
                ["--topic=t", "--channel=b!", "--lookupd-http-address=foo", post],
                "invalid channel name",
            ),
            (
                ["--topic=t", "--nsqd-tcp-address=foo", post],
                "dial tcp: address foo: missing port in address",
            ),
            (["--topic=t", "--lookupd-http-address=foo", post], "missing port"),
        ]
        for argv, message in cases:
            status, _, err = self.status(*argv)
            self.assertEqual((status, logLines(err)), (1, [message]), argv)


@attrs.frozen
class Received:
    """
    One request the sink received.
    """

    method: str
    uri: str
    headers: dict[str, str]
    body: bytes


class Sink:
    """
    An HTTP endpoint for C{nsq_to_http}: records requests; answers 500 to
    the first request for each body in C{failOnce}, 200 otherwise.
    """

    app = Klein()

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.failOnce: set[bytes] = set()
        self.port: Any = None

    @app.route("/", branch=True, methods=["GET", "POST"])
    def receive(self, request: Request) -> bytes:
        """
        Record the request and answer it.
        """
        body = request.content.read() if request.content is not None else b""
        headers = {
            name.decode().lower(): values[-1].decode()
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        self.received.append(
            Received(request.method.decode(), request.uri.decode(), headers, body)
        )
        key = body or request.uri
        if key in self.failOnce:
            self.failOnce.discard(key)
            request.setResponseCode(500)
            return b"no"
        return b"ok"

    def url(self, path: str = "/") -> str:
        """
        The URL of C{path} on the sink.
        """
        address = self.port.getHost()
        host = f"[{address.host}]" if ":" in address.host else address.host
        return f"http://{host}:{address.port}{path}"


class ToolTests(TestCase):
    """
    C{nsq_to_http} against a real nsqd and Klein sinks.
    """

    timeout = 30

    async def sink(self, interface: str = "127.0.0.1") -> Sink:
        """
        A sink listening on C{interface}, stopped when the test ends.
        """
        sink = Sink()
        site = Site(sink.app.resource())
        site.noisy = False
        escaped = interface.replace(":", "\\:")
        endpoint = serverFromString(reactor, f"tcp:0:interface={escaped}")
        port = await endpoint.listen(site)
        sink.port = port
        self.addCleanup(port.stopListening)
        return sink

    def start(self, argv: list[str]) -> Running:
        """
        Start C{nsq_to_http}, stopped (as by SIGTERM) when the test ends.
        """
        running = start(TOOL, argv)

        async def stop() -> None:
            running.run.interrupt()
            await running.result

        self.addCleanup(stop)
        return running

    async def finished(self, nsqd: NSQD, count: int) -> None:
        """
        Wait until the tool's channel has FINed C{count} messages.
        """

        async def done() -> bool:
            clients = await channelClients(self, nsqd, "t")
            finished = sum(c["finish_count"] for c in clients.get("nsq_to_http", []))
            return bool(finished == count)

        await waitFor(done)

    async def test_post(self) -> None:
        """
        Each message is POSTed as the body, with the content type, Go's
        user agent and the custom headers; then FINed.  SIGTERM exits 0.
        """
        nsqd = await startNSQD(self)
        sink = await self.sink()
        await publish(nsqd, "t", [b"one", b"two"])
        running = self.start(
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--post={sink.url('/in')}",
                "--content-type=application/json",
                "--header=X-Tag: tagged",
                "--header=User-Agent:custom",
            ],
        )
        await self.finished(nsqd, 2)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertEqual(sorted(r.body for r in sink.received), [b"one", b"two"])
        for request in sink.received:
            self.assertEqual((request.method, request.uri), ("POST", "/in"))
            self.assertEqual(request.headers["content-type"], "application/json")
            self.assertEqual(request.headers["x-tag"], "tagged")
            # Custom headers are set over Go's own.
            self.assertEqual(request.headers["user-agent"], "custom")

    async def test_get(self) -> None:
        """
        C{--get} requests the URL with the body query-escaped in place of
        C{%s}, with Go's user agent.
        """
        nsqd = await startNSQD(self)
        sink = await self.sink()
        await publish(nsqd, "t", [b"a b&c"])
        self.start(
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--get={sink.url('/get?data=%s')}",
            ],
        )
        await self.finished(nsqd, 1)
        [request] = sink.received
        self.assertEqual((request.method, request.uri), ("GET", "/get?data=a+b%26c"))
        self.assertEqual(request.headers["user-agent"], f"nsq_to_http v{NSQ_VERSION}")
        self.assertNotIn("content-type", request.headers)

    async def test_postIPv6(self) -> None:
        """
        A C{--post} URL whose host is an IPv6 literal is reached, with its
        own C{Host} header.
        """
        requireIPv6Loopback()
        nsqd = await startNSQD(self)
        sink = await self.sink("::1")
        await publish(nsqd, "t", [b"one"])
        url = sink.url("/in")
        self.start(["--topic=t", f"--nsqd-tcp-address={nsqd.tcp}", f"--post={url}"])
        await self.finished(nsqd, 1)
        [request] = sink.received
        self.assertEqual(
            (request.method, request.uri, request.body), ("POST", "/in", b"one")
        )
        self.assertEqual(request.headers["host"], url.split("/")[2])

    async def test_requeueOn500(self) -> None:
        """
        A 500 requeues the message (go-nsq's handler error: logged, REQ with
        backoff); it is delivered again and FINed when the sink succeeds.
        """
        nsqd = await startNSQD(self)
        sink = await self.sink()
        sink.failOnce.add(b"retry")
        await publish(nsqd, "t", [b"retry"])
        running = self.start(
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--post={sink.url()}",
                "--consumer-opt=default_requeue_delay,0s",
                "--consumer-opt=backoff_multiplier,10ms",
            ],
        )
        await self.finished(nsqd, 1)
        self.assertEqual([r.body for r in sink.received], [b"retry", b"retry"])
        clients = await channelClients(self, nsqd, "t")
        [client] = clients["nsq_to_http"]
        self.assertEqual(client["requeue_count"], 1)
        self.assertIn(
            "ERR Handler returned error (got status code 500) for msg",
            running.stderr.getvalue(),
        )

    async def test_roundRobin(self) -> None:
        """
        With two URLs and C{--mode round-robin}, the messages alternate
        (starting with the second); with C{--status-every} Go's status
        lines are logged per URL and in aggregate.
        """
        nsqd = await startNSQD(self)
        first, second = await self.sink(), await self.sink()
        await publish(nsqd, "t", [b"1", b"2", b"3", b"4"])
        running = self.start(
            [
                "--topic=t",
                f"--nsqd-tcp-address={nsqd.tcp}",
                f"--post={first.url()}",
                f"--post={second.url()}",
                "--mode=round-robin",
                "--n=1",
                "--status-every=2",
            ],
        )
        await self.finished(nsqd, 4)
        self.assertEqual(len(first.received), 2)
        self.assertEqual(len(second.received), 2)
        lines = logLines(running.stderr.getvalue())
        self.assertEqual(
            lines[:3],
            [
                "Warning: use more than 100 status values for accurate percentiles"
                " (configured with 2)"
            ]
            * 3,
        )
        self.assertEqual(
            [line.split(" - ")[0] for line in lines[3:]],
            ["[aggregate]: finished 2"],
        )
