"""
Interop scenarios shared by the pynsq and nsqjs tests.

Both client libraries are driven through child scripts with the same
commands and options (C{pynsq_scripts/pynsq_client.py},
C{tests/js/publish.js}, C{tests/js/consume.js}), each printing JSON lines.
The scenario mixins below start C{twistd -n nsqd}, a consumer of kind
C{consumerKind} and a publisher of kind C{publisherKind}, and assert on
the lines; C{test_pynsq} and C{test_nsqjs} combine them with C{TestCase}
for each pairing of clients.

The mixins are not C{TestCase}s themselves, so importing them does not
make trial collect them twice.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar

from twisted.trial.unittest import TestCase

from tests.integration._daemon import (
    ChildProcess,
    Daemon,
    Event,
    spawnChild,
    startNSQD,
)

HERE = os.path.dirname(os.path.abspath(__file__))
PYNSQ_SCRIPT = os.path.join(HERE, "pynsq_scripts", "pynsq_client.py")
JS_DIR = os.path.join(os.path.dirname(HERE), "js")
NODE = shutil.which("node")

#: Allowance for comparing wall-clock readings taken by two processes
#: (rounding, clock granularity); far below the delays it is compared with.
CLOCK_SLACK = 0.05


def _pynsqMissing() -> str | None:
    try:
        import nsq  # noqa: F401
    except ImportError:
        return "pynsq (module nsq) is not installed"
    return None


def _nsqjsMissing() -> str | None:
    if NODE is None:
        return "node is not on PATH"
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "nsqjs")):
        return "nsqjs is not installed: run `npm install` in tests/js"
    return None


#: Why each client cannot run here, or L{None} when it can.
SKIP_REASONS: dict[str, str | None] = {
    "pynsq": _pynsqMissing(),
    "nsqjs": _nsqjsMissing(),
}


def skipReason(*kinds: str) -> str | None:
    """
    The first reason one of the clients C{kinds} cannot run, if any.
    """
    for kind in kinds:
        reason = SKIP_REASONS[kind]
        if reason is not None:
            return reason
    return None


def startClient(
    testCase: TestCase,
    kind: str,
    command: str,
    nsqd: Daemon,
    topic: str,
    *args: str,
) -> ChildProcess:
    """
    Start client C{kind} (C{"pynsq"} or C{"nsqjs"}) running C{command}
    (C{"publish"} or C{"consume"}) against C{nsqd}'s TCP listener.
    """
    common = ["--nsqd", nsqd.address("tcp"), "--topic", topic, *args]
    if kind == "pynsq":
        argv = [sys.executable, PYNSQ_SCRIPT, command, *common]
    elif kind == "nsqjs":
        assert NODE is not None
        argv = [NODE, os.path.join(JS_DIR, f"{command}.js"), *common]
    else:
        raise ValueError(f"unknown client {kind!r}")
    return spawnChild(testCase, argv, name=f"{kind} {command}")


def ofKind(events: list[Event], kind: str) -> list[Event]:
    """
    The events whose C{"event"} is C{kind}.
    """
    return [e for e in events if e["event"] == kind]


def subscribed(event: Event) -> bool:
    """
    Whether C{event} says nsqd acknowledged a consumer's SUB.
    """
    return bool(event["event"] == "subscribed")


if TYPE_CHECKING:
    _Base = TestCase
else:
    _Base = object


class InteropMixin(_Base):
    """
    Runs an nsqd daemon per test and clients of the configured kinds.

    @cvar publisherKind: the client that publishes.
    @cvar consumerKind: the client that consumes.
    """

    publisherKind: ClassVar[str]
    consumerKind: ClassVar[str]
    timeout = 60

    def consumer(self, nsqd: Daemon, topic: str, *args: str) -> ChildProcess:
        """
        Start a consumer of C{consumerKind}.
        """
        return startClient(self, self.consumerKind, "consume", nsqd, topic, *args)

    def publisher(self, nsqd: Daemon, topic: str, ops: list[Any]) -> ChildProcess:
        """
        Start a publisher of C{publisherKind} running C{ops}.
        """
        return startClient(
            self, self.publisherKind, "publish", nsqd, topic, "--ops", json.dumps(ops)
        )

    async def publishToConsumer(
        self, consumeArgs: list[str], ops: list[Any], subscriptions: int = 1
    ) -> list[Event]:
        """
        Start nsqd and a consumer; once nsqd acknowledged all
        C{subscriptions} SUBs, publish C{ops}; wait for both clients to
        exit successfully, every publish having been answered C{OK} and no
        consumer connection having dropped.

        @return: the consumer's events.
        """
        nsqd = await startNSQD(self)
        topic = "interop"
        consumer = self.consumer(nsqd, topic, *consumeArgs)
        await consumer.waitForEvents(subscribed, subscriptions)
        publisher = self.publisher(nsqd, topic, ops)
        self.assertEqual(await publisher.whenEnded(), 0, publisher.output())
        self.assertEqual(await consumer.whenEnded(), 0, consumer.output())
        self.assertEqual(
            [e["reply"] for e in ofKind(publisher.events(), "published")],
            ["OK"] * len(ops),
            publisher.output(),
        )
        events = consumer.events()
        self.assertEqual(ofKind(events, "closed"), [], consumer.output())
        self.assertEqual(ofKind(events, "error"), [], consumer.output())
        return events


class PublishScenarios(InteropMixin):
    """
    The publisher's PUB, MPUB and DPUB reach the consumer.
    """

    async def test_pub(self) -> None:
        """
        A message published with PUB reaches a subscribed consumer once, on
        its first attempt, with its body (UTF-8) intact and a 16-character
        message ID.
        """
        body = "hello \u2603 txnsq"
        events = await self.publishToConsumer(
            ["--channel", "c", "--count", "1"], [["pub", body]]
        )
        [message] = ofKind(events, "message")
        self.assertEqual((message["body"], message["attempts"]), (body, 1))
        self.assertEqual(len(message["id"]), 16)

    async def test_mpub(self) -> None:
        """
        Every body of one MPUB is delivered, each as its own message with
        its own ID.
        """
        bodies = [f"m{i}" for i in range(10)]
        events = await self.publishToConsumer(
            ["--channel", "c", "--count", str(len(bodies))], [["mpub", bodies]]
        )
        messages = ofKind(events, "message")
        self.assertEqual(sorted(m["body"] for m in messages), sorted(bodies))
        self.assertEqual(len({m["id"] for m in messages}), len(bodies))
        self.assertEqual({m["attempts"] for m in messages}, {1})

    async def test_dpub(self) -> None:
        """
        A message published with DPUB is not delivered before its delay has
        passed since nsqd stamped it; a PUB sent after it is delivered too.
        """
        delayMs = 1000
        events = await self.publishToConsumer(
            ["--channel", "c", "--count", "2"],
            [["dpub", delayMs, "deferred"], ["pub", "immediate"]],
        )
        messages = {m["body"]: m for m in ofKind(events, "message")}
        self.assertEqual(set(messages), {"deferred", "immediate"})
        deferred = messages["deferred"]
        self.assertEqual(deferred["attempts"], 1)
        held = deferred["received"] - int(deferred["timestamp"]) / 1e9
        self.assertGreaterEqual(held, delayMs / 1000 - CLOCK_SLACK)


class ConsumeScenarios(InteropMixin):
    """
    Consumers: requeue, timeouts, channels and shared channels.
    """

    async def test_requeueWithDelay(self) -> None:
        """
        A message requeued with C{REQ <id> 1000} comes back as the same
        message with attempts 2, no sooner than the delay after the
        consumer received (and so requeued) it.
        """
        events = await self.publishToConsumer(
            ["--channel", "c", "--count", "1", "--requeue-first-ms", "1000"],
            [["pub", "again"]],
        )
        first, second = ofKind(events, "message")
        self.assertEqual(first["id"], second["id"])
        self.assertEqual(
            [(m["body"], m["attempts"]) for m in (first, second)],
            [("again", 1), ("again", 2)],
        )
        self.assertGreaterEqual(
            second["received"] - first["received"], 1.0 - CLOCK_SLACK
        )

    async def test_redeliveryAfterTimeout(self) -> None:
        """
        A message the consumer never answers is timed out by nsqd after the
        consumer's IDENTIFY C{msg_timeout} (1000 ms) and delivered again on
        the same connection as the same message, attempts 2.
        """
        events = await self.publishToConsumer(
            [
                *("--channel", "c", "--count", "1"),
                *("--msg-timeout-ms", "1000", "--ignore-first"),
            ],
            [["pub", "slow"]],
        )
        first, second = ofKind(events, "message")
        self.assertEqual((first["id"], first["body"]), (second["id"], second["body"]))
        self.assertEqual([first["attempts"], second["attempts"]], [1, 2])
        self.assertEqual(len(ofKind(events, "subscribed")), 1)

    async def test_twoChannelsEachGetACopy(self) -> None:
        """
        Two channels of one topic each receive every message published
        after they subscribed, exactly once.
        """
        bodies = [f"copy{i}" for i in range(6)]
        events = await self.publishToConsumer(
            ["--channel", "a", "--channel", "b", "--count", str(2 * len(bodies))],
            [["pub", bodies[0]], ["mpub", bodies[1:]]],
            subscriptions=2,
        )
        received: dict[str, list[str]] = {"a": [], "b": []}
        for message in ofKind(events, "message"):
            received[message["channel"]].append(message["body"])
        self.assertEqual(sorted(received["a"]), sorted(bodies))
        self.assertEqual(sorted(received["b"]), sorted(bodies))

    async def test_twoConsumersSplitAChannel(self) -> None:
        """
        Two consumers on one channel (max in flight 1 each) share its
        messages: each message goes to exactly one of them, and while one
        holds a message in flight nsqd gives the next to the other.
        """
        bodies = [f"split{i}" for i in range(10)]
        events = await self.publishToConsumer(
            [
                *("--channel", "c", "--readers", "2", "--max-in-flight", "1"),
                *("--hold", "--count", str(len(bodies))),
            ],
            [["mpub", bodies]],
            subscriptions=2,
        )
        messages = ofKind(events, "message")
        self.assertEqual(sorted(m["body"] for m in messages), sorted(bodies))
        self.assertEqual({m["attempts"] for m in messages}, {1})
        self.assertEqual(Counter(m["reader"] for m in messages), {"c/0": 5, "c/1": 5})


class HeartbeatScenarios(InteropMixin):
    """
    Heartbeats keep an idle consumer that answers them connected.
    """

    async def test_idleConsumerKeptAlive(self) -> None:
        """
        A consumer with a 1 s heartbeat interval stays connected through
        three heartbeats (longer than nsqd's two-interval read deadline)
        with no traffic but its NOP answers, then still gets a message on
        the same connection.
        """
        nsqd = await startNSQD(self)
        consumer = self.consumer(
            nsqd, "idle", "--channel", "c", "--count", "1", "--heartbeat-interval", "1"
        )
        await consumer.waitForEvents(lambda e: e["event"] == "heartbeat", 3)
        publisher = self.publisher(nsqd, "idle", [["pub", "awake"]])
        self.assertEqual(await publisher.whenEnded(), 0, publisher.output())
        self.assertEqual(await consumer.whenEnded(), 0, consumer.output())
        events = consumer.events()
        self.assertEqual(ofKind(events, "closed"), [], consumer.output())
        self.assertEqual(len(ofKind(events, "subscribed")), 1)
        [message] = ofKind(events, "message")
        self.assertEqual(message["body"], "awake")
