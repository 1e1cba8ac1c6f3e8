"""
Tests for L{txnsq.tools.nsq_to_nsq} and its JSON filters, and the tool
moving messages between two real nsqds on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import attrs
from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.tools._helpers import (
    NSQD,
    Running,
    channelClients,
    getJSON,
    logLines,
    publish,
    start,
    startNSQD,
    waitFor,
)
from txnsq import NSQ_VERSION
from txnsq.client import Consumer, Message, NSQPublishFailed
from txnsq.tools._hostpool import HostPool
from txnsq.tools._jsonfilter import BACKOFF, DROP, PASS, JSONFilter
from txnsq.tools._timermetrics import TimerMetrics
from txnsq.tools.nsq_to_nsq import (
    FLAGS,
    MODE_HOSTPOOL,
    MODE_ROUND_ROBIN,
    TOOL,
    PublishHandler,
    isValidName,
    selectMode,
)


class JSONFilterTests(SynchronousTestCase):
    """
    L{JSONFilter}: Go 1.3.0's C{--require-json-field},
    C{--require-json-value} and C{--whitelist-json-field}.
    """

    def test_inactive(self) -> None:
        """
        Without filters, bodies pass untouched, JSON or not.
        """
        result = JSONFilter().apply(b"not json")
        self.assertEqual((result.action, result.body), (PASS, b"not json"))

    def test_notJSON(self) -> None:
        """
        With a filter, a body that is not a JSON object is logged and
        dropped (FINed); C{null} counts as an empty object, as in Go.
        """
        jsonFilter = JSONFilter(requireField="a")
        for body in [b"not json", b"[1]", b'"s"', b"NaN"]:
            result = jsonFilter.apply(body)
            self.assertEqual(result.action, DROP, body)
            self.assertEqual(
                result.error, "ERROR: Unable to decode json: " + body.decode()
            )
        self.assertEqual(jsonFilter.apply(b"null").action, DROP)
        self.assertIsNone(jsonFilter.apply(b"null").error)

    def test_requireField(self) -> None:
        """
        A message without the required field is dropped.
        """
        jsonFilter = JSONFilter(requireField="a")
        self.assertEqual(jsonFilter.apply(b'{"b":1}').action, DROP)
        self.assertEqual(jsonFilter.apply(b'{"a":null}').action, PASS)

    def test_requireValueMissingField(self) -> None:
        """
        With a required value, a message without the field is requeued
        with backoff, and Go's error is logged.
        """
        result = JSONFilter(requireField="a", requireValue="x").apply(b"{}")
        self.assertEqual(
            (result.action, result.error),
            (BACKOFF, "ERROR: missing field to check required value"),
        )

    def test_requireValue(self) -> None:
        """
        Strings compare as text; numbers as float64 when the value parses
        as one; anything else never equals.
        """
        text = JSONFilter(requireField="a", requireValue="x")
        self.assertEqual(text.apply(b'{"a":"x"}').action, PASS)
        self.assertEqual(text.apply(b'{"a":"y"}').action, DROP)
        number = JSONFilter(requireField="a", requireValue="42")
        for body in [b'{"a":42}', b'{"a":42.0}', b'{"a":"42"}', b'{"a":4.2e1}']:
            self.assertEqual(number.apply(body).action, PASS, body)
        for body in [b'{"a":43}', b'{"a":true}', b'{"a":[42]}', b'{"a":"042"}']:
            self.assertEqual(number.apply(body).action, DROP, body)
        self.assertEqual(text.apply(b'{"a":1}').action, DROP)

    def test_whitelist(self) -> None:
        """
        Only the whitelisted fields are republished, encoded as Go encodes
        a map: keys sorted, whole numbers without a fraction, C{<>&}
        escaped.
        """
        jsonFilter = JSONFilter(whitelist=["z", "a", "n", "f", "o", "missing"])
        result = jsonFilter.apply(
            b'{"a":"<b>&","z":1.0,"n":12345678901234,"f":1.5,"o":{"y":1,"x":2},'
            b'"drop":1}'
        )
        self.assertEqual(result.action, PASS)
        self.assertEqual(
            result.body,
            b'{"a":"\\u003cb\\u003e\\u0026","f":1.5,"n":12345678901234,'
            b'"o":{"x":2,"y":1},"z":1}',
        )

    def test_whitelistAndRequire(self) -> None:
        """
        The required field is checked before the whitelist rewrites.
        """
        jsonFilter = JSONFilter(requireField="t", requireValue="x", whitelist=["id"])
        self.assertEqual(jsonFilter.apply(b'{"t":"x","id":7}').body, b'{"id":7}')
        self.assertEqual(jsonFilter.apply(b'{"t":"y","id":7}').action, DROP)


class PureTests(SynchronousTestCase):
    """
    Names and modes, as Go's.
    """

    def test_names(self) -> None:
        """
        Go's topic and channel name rules.
        """
        self.assertTrue(isValidName("a.b-c_d"))
        self.assertTrue(isValidName("t#ephemeral"))
        self.assertFalse(isValidName(""))
        self.assertFalse(isValidName("a/b"))
        self.assertFalse(isValidName("x" * 65))

    def test_modes(self) -> None:
        """
        Go's zero mode here is round robin.
        """
        self.assertEqual(selectMode("hostpool"), MODE_HOSTPOOL)
        self.assertEqual(selectMode("epsilon-greedy"), MODE_HOSTPOOL)
        self.assertEqual(selectMode("round-robin"), MODE_ROUND_ROBIN)
        self.assertEqual(selectMode("anything"), MODE_ROUND_ROBIN)


@attrs.define
class FakeProducer:
    """
    Stands in for L{txnsq.client.Producer}: records publishes, answered by
    the test.
    """

    connectionCount: int = 1
    published: list[tuple[str, bytes, Deferred[None]]] = attrs.Factory(list)

    def publish(self, topic: str, body: bytes) -> Deferred[None]:
        """
        Record a publish; the test fires its Deferred.
        """
        answer: Deferred[None] = Deferred()
        self.published.append((topic, body, answer))
        return answer


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
    L{PublishHandler}: FIN only after the destination's OK.
    """

    def setUp(self) -> None:
        self.responder = FakeResponder()
        self.logged: list[str] = []

    def handler(
        self, mode: str, addresses: list[str], jsonFilter: JSONFilter | None = None
    ) -> tuple[PublishHandler, dict[str, FakeProducer]]:
        """
        A handler over fake producers.
        """
        clock = Clock()
        producers = {address: FakeProducer() for address in addresses}
        handler = PublishHandler(
            addresses,
            producers,  # type: ignore[arg-type]
            mode,
            HostPool(addresses, clock=clock.seconds),
            jsonFilter or JSONFilter(),
            {address: TimerMetrics(0, "", self.logged.append) for address in addresses},
            TimerMetrics(0, "", self.logged.append),
            clock=clock,
            log=self.logged.append,
        )
        return handler, producers

    def deliver(self, handler: PublishHandler, body: bytes, topic: str = "dst") -> None:
        """
        Hand a message to the handler, FINing it when the handler is done
        (unless answered), as the consumer does.
        """
        message = Message(b"0" * 16, body, 0, 1, self.responder)

        def done(_: object) -> None:
            if not message.hasResponded:
                message.finish()

        result = handler.handler(topic)(message)
        (result if result is not None else succeed(None)).addCallback(done)

    def test_finAfterAck(self) -> None:
        """
        The message is FINed only once the destination answered OK.
        """
        handler, producers = self.handler(MODE_HOSTPOOL, ["a"])
        self.deliver(handler, b"m")
        [(topic, body, answer)] = producers["a"].published
        self.assertEqual((topic, body), ("dst", b"m"))
        self.assertEqual(self.responder.finished, [])
        answer.callback(None)
        self.assertEqual(self.responder.finished, [b"m"])

    def test_requeueOnFailure(self) -> None:
        """
        A failed publish requeues the message and marks the destination
        dead in the pool.
        """
        handler, producers = self.handler(MODE_HOSTPOOL, ["a", "b"])
        self.deliver(handler, b"m")
        producers["a"].published[0][2].errback(NSQPublishFailed("E_PUB_FAILED"))
        self.assertEqual(
            (self.responder.finished, self.responder.requeued), ([], [b"m"])
        )
        self.assertTrue(handler.hostPool.isDead("a"))

    def test_notConnected(self) -> None:
        """
        A destination without a connection fails the message at once (as
        go-nsq's failed dial): requeued, destination marked dead.
        """
        handler, producers = self.handler(MODE_HOSTPOOL, ["a", "b"])
        producers["a"].connectionCount = 0
        self.deliver(handler, b"m")
        self.assertEqual(self.responder.requeued, [b"m"])
        self.assertTrue(handler.hostPool.isDead("a"))
        self.deliver(handler, b"n")
        self.assertEqual([p[1] for p in producers["b"].published], [b"n"])

    def test_roundRobin(self) -> None:
        """
        Round robin starts with the second destination, as Go's counter.
        """
        handler, producers = self.handler(MODE_ROUND_ROBIN, ["a", "b"])
        for body in [b"1", b"2", b"3"]:
            self.deliver(handler, body)
        self.assertEqual([p[1] for p in producers["b"].published], [b"1", b"3"])
        self.assertEqual([p[1] for p in producers["a"].published], [b"2"])

    def test_filtered(self) -> None:
        """
        A dropped message is FINed unpublished; one whose required field
        is missing is requeued with backoff; Go's errors are logged.
        """
        handler, producers = self.handler(
            MODE_HOSTPOOL, ["a"], JSONFilter(requireField="k", requireValue="v")
        )
        self.deliver(handler, b'{"k":"other"}')
        self.deliver(handler, b"{}")
        self.assertEqual(producers["a"].published, [])
        self.assertEqual(self.responder.finished, [b'{"k":"other"}'])
        self.assertEqual(self.responder.requeued, [b"{}"])
        self.assertEqual(self.logged, ["ERROR: missing field to check required value"])


class CommandLineTests(SynchronousTestCase):
    """
    What C{nsq_to_nsq} decides from its command line alone.
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
            self.status("--version"), (0, f"nsq_to_nsq v{NSQ_VERSION}\n".encode(), "")
        )

    def test_help(self) -> None:
        """
        C{-h} prints Go's usage with Go's defaults.
        """
        status, _, err = self.status("-h")
        self.assertEqual((status, err), (0, FLAGS.usage()))
        for text in [
            '  -channel string\n    \tnsq channel (default "nsq_to_nsq")\n',
            "  -destination-nsqd-tcp-address value\n    \tdestination nsqd TCP"
            " address (may be given multiple times)\n",
            "  -status-every int\n    \tthe # of requests between logging status"
            " (per destination), 0 disables (default 250)\n",
        ]:
            self.assertIn(text, err)

    def test_checks(self) -> None:
        """
        Go's checks, in Go's order, each a C{log.Fatal} with exit 1.
        """
        nsqd = "--nsqd-tcp-address=127.0.0.1:4150"
        dest = "--destination-nsqd-tcp-address=127.0.0.1:4150"
        consumerOpt = "--consumer-opt=heartbeat_interval,2m"
        producerOpt = "--producer-opt=heartbeat_interval,2m"
        heartbeat = "HeartbeatInterval 2m0s must be less than ReadTimeout 1m0s"
        cases = [
            ([], "--topic and --channel are required"),
            (["--topic=t", "--channel="], "--topic and --channel are required"),
            (["--topic=a/b"], "--topic is invalid"),
            (
                ["--topic=t", "--destination-topic=a/b"],
                "--destination-topic is invalid",
            ),
            (["--topic=t", "--channel=a/b"], "--channel is invalid"),
            (["--topic=t"], "--nsqd-tcp-address or --lookupd-http-address required"),
            ([nsqd, "--topic=t"], "--destination-nsqd-tcp-address required"),
            # NewProducer's config check (Go's Fatalf adds its words), then
            # NewConsumer's.
            (
                [nsqd, "--topic=t", dest, consumerOpt, producerOpt],
                "failed creating producer " + heartbeat,
            ),
            ([nsqd, "--topic=t", dest, consumerOpt], heartbeat),
        ]
        for argv, message in cases:
            status, _, err = self.status(*argv)
            self.assertEqual((status, logLines(err)), (1, [message]), argv)


class ToolTests(TestCase):
    """
    C{nsq_to_nsq} between two real nsqds.
    """

    timeout = 30

    def start(self, argv: list[str]) -> Running:
        """
        Start C{nsq_to_nsq}, stopped (as by SIGTERM) when the test ends.
        """
        running = start(TOOL, argv)

        async def stop() -> None:
            running.run.interrupt()
            await running.result

        self.addCleanup(stop)
        return running

    async def finished(self, nsqd: NSQD, topic: str, count: int) -> None:
        """
        Wait until the tool's channel of C{topic} has FINed C{count}
        messages.
        """

        async def done() -> bool:
            clients = await channelClients(self, nsqd, topic)
            finished = sum(c["finish_count"] for c in clients.get("nsq_to_nsq", []))
            return bool(finished == count)

        await waitFor(done)

    async def received(self, nsqd: NSQD, topic: str, count: int) -> list[Message]:
        """
        Consume C{count} messages of C{topic} from C{nsqd}.
        """
        messages: list[Message] = []
        done: Deferred[None] = Deferred()

        def handle(message: Message) -> None:
            messages.append(message)
            if len(messages) == count:
                done.callback(None)

        consumer = Consumer(
            topic, "check", handle, nsqdAddresses=[nsqd.tcp], reactor=reactor
        )
        consumer.start()
        try:
            await done
        finally:
            await consumer.stop()
        return messages

    async def test_move(self) -> None:
        """
        Messages are republished to the destination nsqd under the same
        topic, and FINed at the source; SIGTERM exits 0.
        """
        source, destination = await startNSQD(self), await startNSQD(self)
        await publish(source, "t", [b"one", b"two", b"three"])
        running = self.start(
            [
                "--topic=t",
                f"--nsqd-tcp-address={source.tcp}",
                f"--destination-nsqd-tcp-address={destination.tcp}",
            ],
        )
        await self.finished(source, "t", 3)
        messages = await self.received(destination, "t", 3)
        self.assertEqual(sorted(m.body for m in messages), [b"one", b"three", b"two"])
        running.run.interrupt()
        self.assertEqual(await running.result, 0)

    async def test_jsonFilters(self) -> None:
        """
        With the JSON filters, only messages with the required value are
        republished (to C{--destination-topic}), reduced to the
        whitelisted fields; the others are FINed at the source.
        """
        source, destination = await startNSQD(self), await startNSQD(self)
        bodies = [
            {"type": "click", "id": 1, "secret": "x"},
            {"type": "view", "id": 2},
            {"type": "click", "id": 3.5},
        ]
        await publish(source, "events", [json.dumps(b).encode() for b in bodies])
        await publish(source, "events", [b"not json"])
        running = self.start(
            [
                "--topic=events",
                f"--nsqd-tcp-address={source.tcp}",
                f"--destination-nsqd-tcp-address={destination.tcp}",
                "--destination-topic=clicks",
                "--require-json-field=type",
                "--require-json-value=click",
                "--whitelist-json-field=id",
            ],
        )
        await self.finished(source, "events", 4)
        messages = await self.received(destination, "clicks", 2)
        self.assertEqual(sorted(m.body for m in messages), [b'{"id":1}', b'{"id":3.5}'])
        self.assertIn(
            "ERROR: Unable to decode json: not json",
            logLines(running.stderr.getvalue()),
        )

    async def test_destinationDown(self) -> None:
        """
        While the destination cannot be reached, messages are requeued at
        the source, never FINed (nor lost).
        """
        source = await startNSQD(self)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{listener.getsockname()[1]}"
        listener.close()
        await publish(source, "t", [b"kept"])
        running = self.start(
            [
                "--topic=t",
                f"--nsqd-tcp-address={source.tcp}",
                f"--destination-nsqd-tcp-address={dead}",
                "--consumer-opt=default_requeue_delay,0s",
                "--consumer-opt=backoff_multiplier,10ms",
            ],
        )

        seen: list[dict[str, Any]] = []

        async def requeued() -> bool:
            clients = await channelClients(self, source, "t")
            seen[:] = clients.get("nsq_to_nsq", [])
            return bool(seen and seen[0]["requeue_count"] >= 1)

        await waitFor(requeued)
        self.assertEqual(seen[0]["finish_count"], 0)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertIn(
            f"ERR Handler returned error (not connected to nsqd {dead})",
            running.stderr.getvalue(),
        )
        stats = await getJSON(self, f"http://{source.http}/stats?format=json&topic=t")
        [channel] = stats["topics"][0]["channels"]
        self.assertEqual(
            channel["depth"] + channel["in_flight_count"] + channel["deferred_count"], 1
        )
