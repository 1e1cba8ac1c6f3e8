"""
Running a tool in this process against real txnsq daemons (127.0.0.1,
port 0, trial's reactor), and reading nsqd the way an operator does: over
its HTTP API.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from tests import _services as services
from tests._services import requireIPv6Loopback
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


GO_NSQD_SKIP = "Go nsqd not installed (set TXNSQ_GO_NSQD=/path/to/nsqd)"
"""Why the tests against Go's nsqd skip where there is none."""

TXNSQ_NSQD = (sys.executable, "-m", "txnsq", "nsqd")
"""The command that runs txnsq's nsqd as a process of its own."""


def findGoNSQD() -> tuple[str, ...] | None:
    """
    The command that runs Go NSQ's nsqd, if there is one: C{$TXNSQ_GO_NSQD},
    else an C{nsqd} on C{PATH} whose C{--version} says it was built with Go
    (C{nsqd v1.3.0 (built w/go1.21.5)}; txnsq's says C{built w/txnsq}).
    """
    configured = os.environ.get("TXNSQ_GO_NSQD")
    if configured:
        return (configured,)
    found = shutil.which("nsqd")
    if found is None:
        return None
    try:
        version = subprocess.run(
            [found, "--version"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if b"built w/go" not in version:
        return None
    return (found,)


_LISTENING = re.compile(r"\b(TCP|HTTP): listening on (\S+)")


class NSQDProcess(ProcessProtocol):
    """
    An nsqd running as a child process, Go's or txnsq's: its addresses
    come from the log lines both print once they listen (C{TCP: listening
    on 127.0.0.1:41503}), so it can be started on port 0.

    @ivar listening: fires with C{{"TCP": address, "HTTP": address}} once
        both are logged; fails if the process ends first.
    @ivar ended: fires when the process has ended.
    @ivar output: everything it wrote (stdout and stderr).
    """

    def __init__(self) -> None:
        self.listening: Deferred[dict[str, str]] = Deferred()
        self.ended: Deferred[None] = Deferred()
        self.output = b""
        self._addresses: dict[str, str] = {}

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """
        Look for the listening lines.
        """
        self.output += data
        if self.listening.called:
            return
        for kind, address in _LISTENING.findall(self.output.decode("utf-8", "replace")):
            self._addresses[kind] = address
        if len(self._addresses) == 2:
            self.listening.callback(dict(self._addresses))

    def processEnded(self, reason: Failure) -> None:
        """
        Fire L{ended} (and fail L{listening} if it never listened).
        """
        if not self.listening.called:
            self.listening.errback(
                AssertionError(
                    f"nsqd ended before listening ({reason.value}):\n"
                    + self.output.decode("utf-8", "replace")
                )
            )
        self.ended.callback(None)

    @property
    def pid(self) -> int | None:
        """
        Its process ID, until it has ended.
        """
        transport = self.transport
        return None if transport is None else transport.pid


async def spawnNSQD(testCase: TestCase, command: Sequence[str]) -> NSQD:
    """
    Run C{command} (Go's nsqd binary, or L{TXNSQ_NSQD}) as a child process
    listening on 127.0.0.1 ports chosen by the system, with a fresh
    C{--data-path}; it is stopped by SIGTERM to its PID (then SIGKILL if it
    lingers) when the test ends.
    """
    dataPath = os.path.abspath(testCase.mktemp())
    os.makedirs(dataPath)
    argv = [
        *command,
        "-tcp-address=127.0.0.1:0",
        "-http-address=127.0.0.1:0",
        "-broadcast-address=127.0.0.1",
        f"-data-path={dataPath}",
    ]
    process = NSQDProcess()
    reactor.spawnProcess(process, argv[0], argv, env=dict(os.environ))

    async def stop() -> None:
        pid = process.pid
        if process.ended.called or pid is None:
            return
        os.kill(pid, signal.SIGTERM)

        def kill() -> None:
            if not process.ended.called:
                os.kill(pid, signal.SIGKILL)

        lingering = reactor.callLater(20, kill)
        await process.ended
        if lingering.active():
            lingering.cancel()

    testCase.addCleanup(stop)
    addresses = await process.listening
    return NSQD(process, addresses["TCP"], addresses["HTTP"])


async def startLookupd(testCase: TestCase) -> tuple[int, str]:
    """
    An nsqlookupd: its TCP port and its HTTP C{host:port}.
    """
    _, tcp, http = await services.startLookupd(testCase)
    return tcp, f"127.0.0.1:{http}"


async def startIPv6Cluster(testCase: TestCase) -> tuple[str, NSQD]:
    """
    An nsqlookupd and an nsqd registered with it, both listening on ::1
    (ports 0) and broadcasting C{::1}; skips without an IPv6 loopback.

    @return: the nsqlookupd's HTTP address (C{[::1]:port}) and the nsqd.
    """
    requireIPv6Loopback()
    _, lookupdTCP, lookupdHTTP = await services.startLookupd(
        testCase,
        tcp_address="[::1]:0",
        http_address="[::1]:0",
        broadcast_address="::1",
    )
    service, port = await services.startNSQD(
        testCase,
        tcp_address="[::1]:0",
        http_address="[::1]:0",
        broadcast_address="::1",
        nsqlookupd_tcp_addresses=[f"[::1]:{lookupdTCP}"],
    )
    http = (await service.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
    return f"[::1]:{lookupdHTTP}", NSQD(service, f"[::1]:{port}", f"[::1]:{http}")


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
