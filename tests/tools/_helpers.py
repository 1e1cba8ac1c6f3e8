"""
Running a tool in this process against real txnsq daemons (127.0.0.1,
port 0, trial's reactor), and reading nsqd the way an operator does: over
its HTTP API.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from tests import _services as services
from txnsq.client import Consumer, Message, Producer
from txnsq.tools._runner import Tool, ToolRun, startTool


@attrs.define
class NSQD:
    """
    A running nsqd.

    @ivar tcp: its TCP C{host:port}.
    @ivar http: its HTTP C{host:port}.
    """

    service: Any
    tcp: str
    http: str


async def startNSQD(
    testCase: TestCase, lookupdTCP: int | None = None, **config: Any
) -> NSQD:
    """
    An nsqd with its HTTP API, stopped when the test ends.
    """
    service, port = await services.startNSQD(testCase, lookupdTCP, **config)
    http = (await service.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
    return NSQD(service, f"127.0.0.1:{port}", f"127.0.0.1:{http}")


async def startLookupd(testCase: TestCase) -> tuple[int, str]:
    """
    An nsqlookupd: its TCP port and its HTTP C{host:port}.
    """
    _, tcp, http = await services.startLookupd(testCase)
    return tcp, f"127.0.0.1:{http}"


def httpClient(testCase: TestCase) -> HTTPClient:
    """
    A treq client whose connections are closed when the test ends.
    """
    pool = HTTPConnectionPool(reactor, persistent=False)
    testCase.addCleanup(pool.closeCachedConnections)
    return HTTPClient(Agent(reactor, pool=pool))


async def getJSON(testCase: TestCase, url: str) -> Any:
    """
    GET C{url} and decode its JSON.
    """
    client = httpClient(testCase)
    response = await client.get(url)
    return json.loads(await response.content())


async def channelClients(
    testCase: TestCase, nsqd: NSQD, topic: str
) -> dict[str, list[dict[str, Any]]]:
    """
    The clients of each channel of C{topic}, from nsqd's C{/stats}.
    """
    stats = await getJSON(
        testCase, f"http://{nsqd.http}/stats?format=json&topic={topic}"
    )
    return {
        channel["channel_name"]: channel["clients"]
        for t in stats["topics"]
        if t["topic_name"] == topic
        for channel in t["channels"]
    }


async def publish(nsqd: NSQD, topic: str, bodies: Sequence[bytes]) -> None:
    """
    Publish C{bodies} to C{topic}, in order.
    """
    producer = Producer([nsqd.tcp], reactor=reactor)
    producer.start()
    try:
        for body in bodies:
            await producer.publish(topic, body)
    finally:
        await producer.stop()


async def waitFor(
    condition: Callable[[], Awaitable[bool]], timeout: float = 10.0
) -> None:
    """
    Poll C{condition} until it holds.

    @raise AssertionError: if it does not within C{timeout} seconds.
    """
    deadline = reactor.seconds() + timeout
    while not await condition():
        if reactor.seconds() > deadline:
            raise AssertionError("condition never held")
        await deferLater(reactor, 0.02)


@attrs.define
class Running:
    """
    A tool running in this process, with what it wrote.
    """

    run: ToolRun
    stdout: io.BytesIO
    stderr: io.StringIO

    @property
    def result(self) -> Deferred[int]:
        """
        Fires with the exit status.
        """
        return self.run.result


def start(tool: Tool, argv: Sequence[str], stdin: Any = None) -> Running:
    """
    Start C{tool} with C{argv} on trial's reactor.
    """
    stdout, stderr = io.BytesIO(), io.StringIO()
    run = startTool(
        tool, argv, reactor=reactor, stdout=stdout, stderr=stderr, stdin=stdin
    )
    return Running(run, stdout, stderr)


_CLIENT_LEVELS = ("DBG ", "INF ", "WRN ", "ERR ")


def logLines(text: str) -> list[str]:
    """
    The messages of the tool's own Go standard-logger lines, without their
    timestamps (the client's lines, go-nsq's in Go, are left out).
    """
    messages = [line[20:] for line in text.splitlines() if line[:1].isdigit()]
    return [m for m in messages if not m.startswith(_CLIENT_LEVELS)]


async def consume(nsqd: NSQD, topic: str, count: int) -> list[bytes]:
    """
    The bodies of the first C{count} messages of C{topic} (on a channel
    of this name), in the order received.
    """
    bodies: list[bytes] = []
    done: Deferred[None] = Deferred()

    def handle(message: Message) -> None:
        bodies.append(message.body)
        if len(bodies) == count and not done.called:
            done.callback(None)

    consumer = Consumer(
        topic,
        "check",
        handle,
        nsqdAddresses=[nsqd.tcp],
        reactor=reactor,
        maxInFlight=max(count, 1),
    )
    consumer.start()
    try:
        await done
    finally:
        await consumer.stop()
    return bodies
