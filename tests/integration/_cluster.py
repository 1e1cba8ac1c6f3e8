"""
Helpers for the integration tests that run nsqlookupd with nsqds
(C{test_cluster}, C{test_twistd_nsq}): starting the daemons, publishing,
talking to nsqlookupd's HTTP API, a pynsq Reader that discovers nsqds
through nsqlookupd, and polling with a deadline.

Publishing goes through nsqd's HTTP API (C{POST /mpub}) when C{twistd
nsqd} serves it, and through TCP C{MPUB} otherwise; L{NSQD_SERVES_HTTP}
says which.  Without an HTTP listener nsqd would IDENTIFY to nsqlookupd
with C{http_port} 0, which nsqlookupd refuses (C{E_BAD_BODY IDENTIFY
missing fields}), so the nsqds then get C{--broadcast-http-port}.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tests.golden import httpRequest
from tests.integration._daemon import (
    NSQD_TCP_LISTENING,
    ChildProcess,
    Daemon,
    spawnChild,
    startDaemon,
)
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.tap import nsqdService

reactor: Any = _globalReactor
T = TypeVar("T")

HERE = os.path.dirname(os.path.abspath(__file__))
CONSUMER_SCRIPT = os.path.join(HERE, "pynsq_scripts", "lookupd_consumer.py")

#: The line a daemon logs once its HTTP listener is bound.
HTTP_LISTENING = r"HTTP: listening on (?P<host>[0-9.]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)"

#: What nsqd logs once nsqlookupd answered its IDENTIFY (Go's wording).
#: With no topic yet, the peer is fully registered from then on.
PEER_INFO = r"LOOKUPD\((?P<address>[^)]+)\): peer info"


def _nsqdServesHTTP() -> bool:
    # The nsqd that twistd builds has an HTTP listener only once
    # txnsq.nsqd.tap.nsqdService passes the HTTP API's resource factory.
    with tempfile.TemporaryDirectory() as path:
        config = NSQDConfig(http_address="127.0.0.1:0", data_path=path)
        return nsqdService(config, MemoryReactorClock()).httpService is not None


#: Whether C{twistd nsqd} serves the HTTP API (C{--http-address}).
NSQD_SERVES_HTTP = _nsqdServesHTTP()


def _pynsqMissing() -> str | None:
    try:
        import nsq  # noqa: F401
    except ImportError:
        return "pynsq (module nsq) is not installed"
    return None


#: Why pynsq cannot run here, if it cannot.
PYNSQ_MISSING = _pynsqMissing()


def freePorts(count: int) -> list[int]:
    """
    C{count} TCP ports free on 127.0.0.1 right now (bound to port 0, then
    released), for daemons whose ports must be known before they start.
    """
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


async def until(
    check: Callable[[], Awaitable[tuple[bool, T]]],
    what: str,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> T:
    """
    Run C{check} until it reports success, every C{interval} seconds, and
    return its value; fail after C{timeout} seconds, showing the last value.

    @param check: returns C{(done, value)}.
    """
    deadline = reactor.seconds() + timeout
    while True:
        done, value = await check()
        if done:
            return value
        if reactor.seconds() > deadline:
            raise AssertionError(f"{what}: not so after {timeout}s; last: {value!r}")
        await deferLater(reactor, interval, lambda: None)


# HTTP.


async def http(
    address: str, method: str, pathAndQuery: str, body: bytes = b""
) -> tuple[int, bytes]:
    """
    One HTTP request to C{host:port}; the status and body.
    """
    host, port = address.rsplit(":", 1)
    response = await httpRequest(reactor, host, int(port), method, pathAndQuery, body)
    return response.status, response.body


async def getJSON(address: str, pathAndQuery: str) -> tuple[int, Any]:
    """
    C{GET} a JSON resource; the status and the decoded body.
    """
    status, body = await http(address, "GET", pathAndQuery)
    return status, json.loads(body) if body else None


async def lookup(lookupd: Daemon, topic: str) -> tuple[int, Any]:
    """
    nsqlookupd's C{/lookup?topic=}.
    """
    return await getJSON(lookupd.address("http"), f"/lookup?topic={quote(topic)}")


def producerPorts(lookupBody: Any) -> set[int]:
    """
    The C{tcp_port} of every producer in a C{/lookup} or C{/nodes} body.
    """
    if not isinstance(lookupBody, dict):
        return set()
    return {p["tcp_port"] for p in lookupBody.get("producers", [])}


async def waitForProducers(
    lookupd: Daemon, topic: str, nsqds: Sequence[Daemon], timeout: float = 10.0
) -> Any:
    """
    Poll C{/lookup?topic=} until its producers are exactly C{nsqds}; return
    the body.
    """
    wanted = {d.addresses["tcp"][1] for d in nsqds}

    async def check() -> tuple[bool, Any]:
        status, body = await lookup(lookupd, topic)
        return status == 200 and producerPorts(body) == wanted, (status, body)

    _, body = await until(
        check, f"/lookup?topic={topic} lists the nsqds on {sorted(wanted)}", timeout
    )
    return body


# Daemons.


async def startLookupd(testCase: TestCase, *args: str) -> Daemon:
    """
    Run C{twistd -n nsqlookupd} on 127.0.0.1 with ports 0; its C{"tcp"} and
    C{"http"} addresses are the bound listeners.
    """
    flags = [
        "--tcp-address=127.0.0.1:0",
        "--http-address=127.0.0.1:0",
        "--broadcast-address=127.0.0.1",
        *args,
    ]
    return await startDaemon(
        testCase,
        "nsqlookupd",
        flags,
        {"tcp": NSQD_TCP_LISTENING, "http": HTTP_LISTENING},
    )


def nsqdFlags(fakeHTTPPort: int) -> list[str]:
    """
    Flags every nsqd in these tests gets: broadcast on 127.0.0.1 (what
    pynsq connects to), and, while nsqd serves no HTTP, a made-up nonzero
    broadcast HTTP port so nsqlookupd accepts its IDENTIFY (and
    C{/topic/tombstone?node=127.0.0.1:PORT} can name it).
    """
    flags = ["--broadcast-address=127.0.0.1"]
    if not NSQD_SERVES_HTTP:
        flags.append(f"--broadcast-http-port={fakeHTTPPort}")
    return flags


async def startRegisteredNSQD(
    testCase: TestCase, lookupd: Daemon | None, fakeHTTPPort: int, *args: str
) -> Daemon:
    """
    Run C{twistd -n nsqd --lookupd-tcp-address=<lookupd>} on 127.0.0.1 with
    ports 0 and a fresh data directory, and wait until nsqlookupd answered
    its IDENTIFY.  Its C{"tcp"} (and, when served, C{"http"}) address is
    its listener, and C{broadcastHTTP} (in C{addresses}, as
    C{("127.0.0.1", port)}) the HTTP address it registers.

    @param lookupd: L{None} for an nsqd given no nsqlookupd.
    """
    dataPath = os.path.abspath(testCase.mktemp())
    os.makedirs(dataPath)
    flags = [
        "--tcp-address=127.0.0.1:0",
        "--http-address=127.0.0.1:0",
        f"--data-path={dataPath}",
        *nsqdFlags(fakeHTTPPort),
        *args,
    ]
    if lookupd is not None:
        flags.append(f"--lookupd-tcp-address={lookupd.address('tcp')}")
    listening = {"tcp": NSQD_TCP_LISTENING}
    if NSQD_SERVES_HTTP:
        listening["http"] = HTTP_LISTENING
    daemon = await startDaemon(testCase, "nsqd", flags, listening)
    if lookupd is not None:
        await daemon.process.waitForLine(PEER_INFO)
    if NSQD_SERVES_HTTP:
        daemon.addresses["broadcastHTTP"] = daemon.addresses["http"]
    else:
        daemon.addresses["broadcastHTTP"] = ("127.0.0.1", fakeHTTPPort)
    return daemon


async def startCluster(
    testCase: TestCase, *lookupdArgs: str
) -> tuple[Daemon, Daemon, Daemon]:
    """
    One nsqlookupd and two nsqds registered with it.

    @return: nsqlookupd, the first nsqd, the second nsqd.
    """
    lookupd = await startLookupd(testCase, *lookupdArgs)
    first, second = await gatherResults(
        [
            Deferred.fromCoroutine(startRegisteredNSQD(testCase, lookupd, 4151)),
            Deferred.fromCoroutine(startRegisteredNSQD(testCase, lookupd, 4152)),
        ]
    )
    return lookupd, first, second


# Talking to nsqd.


class NSQClient(Protocol):
    """
    A minimal nsqd V2 client: sends commands, collects the frames.

    @ivar lost: fires once the connection is gone.
    """

    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes]] = []
        self.lost: Deferred[None] = Deferred()
        self._buffer = b""
        self._waiting: list[tuple[int, Deferred[list[tuple[int, bytes]]]]] = []

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"  V2")

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= 8:
            (size,) = struct.unpack(">i", self._buffer[:4])
            if len(self._buffer) < 4 + size:
                break
            frame = self._buffer[4 : 4 + size]
            self._buffer = self._buffer[4 + size :]
            (frameType,) = struct.unpack(">i", frame[:4])
            self.frames.append((frameType, frame[4:]))
        for count, d in list(self._waiting):
            if len(self.frames) >= count:
                self._waiting.remove((count, d))
                d.callback(self.frames[:count])

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        for _, d in self._waiting:
            d.errback(AssertionError(f"nsqd closed the connection: {self.frames!r}"))
        self._waiting = []
        self.lost.callback(None)

    def command(self, data: bytes) -> Deferred[tuple[int, bytes]]:
        """
        Send one command; fire with the next frame.
        """
        assert self.transport is not None
        d: Deferred[list[tuple[int, bytes]]] = Deferred()
        self._waiting.append((len(self.frames) + 1, d))
        self.transport.write(data)
        return d.addCallback(lambda frames: frames[-1]).addTimeout(10, reactor)

    async def close(self) -> None:
        """
        Close the connection and wait until it is gone.
        """
        assert self.transport is not None
        self.transport.loseConnection()
        await self.lost


async def nsqdClient(nsqd: Daemon) -> NSQClient:
    """
    A connected L{NSQClient} (magic sent).
    """
    host, port = nsqd.addresses["tcp"]
    client = NSQClient()
    await connectProtocol(TCP4ClientEndpoint(reactor, host, port), client)
    return client


async def subscribe(nsqd: Daemon, topic: str, channel: str) -> None:
    """
    C{SUB} to C{topic}/C{channel} on C{nsqd} (creating both, as a consumer
    does), then disconnect.
    """
    client = await nsqdClient(nsqd)
    try:
        frame = await client.command(f"SUB {topic} {channel}\n".encode())
        if frame != (0, b"OK"):
            raise AssertionError(f"SUB {topic} {channel}: {frame!r}")
    finally:
        await client.close()


async def publish(nsqd: Daemon, topic: str, bodies: Sequence[str]) -> None:
    """
    Publish C{bodies} to C{topic} on C{nsqd}: C{POST /mpub} when nsqd serves
    HTTP, else C{MPUB} over TCP.
    """
    encoded = [b.encode() for b in bodies]
    if NSQD_SERVES_HTTP:
        status, body = await http(
            nsqd.address("http"),
            "POST",
            f"/mpub?topic={quote(topic)}",
            b"\n".join(encoded),
        )
        if (status, body) != (200, b"OK"):
            raise AssertionError(f"POST /mpub?topic={topic}: {status} {body!r}")
        return
    payload = b"".join(struct.pack(">i", len(b)) + b for b in encoded)
    command = (
        f"MPUB {topic}\n".encode()
        + struct.pack(">ii", 4 + len(payload), len(encoded))
        + payload
    )
    client = await nsqdClient(nsqd)
    try:
        frame = await client.command(command)
        if frame != (0, b"OK"):
            raise AssertionError(f"MPUB {topic}: {frame!r}")
    finally:
        await client.close()


# pynsq.


def startConsumer(
    testCase: TestCase,
    lookupdHTTP: str,
    topic: str,
    channel: str,
    count: int,
    timeout: float = 20.0,
) -> ChildProcess:
    """
    Start a pynsq Reader given only C{lookupd_http_addresses} (see
    C{pynsq_scripts/lookupd_consumer.py}); it exits once C{count} messages
    arrived.
    """
    argv = [
        sys.executable,
        CONSUMER_SCRIPT,
        *("--lookupd", lookupdHTTP),
        *("--topic", topic),
        *("--channel", channel),
        *("--count", str(count)),
        *("--timeout", str(timeout)),
    ]
    return spawnChild(testCase, argv, name="pynsq lookupd consumer")


def ofKind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """
    The events whose C{"event"} is C{kind}.
    """
    return [e for e in events if e["event"] == kind]
