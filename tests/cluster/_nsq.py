"""
NSQ on the hosts of L{tests.cluster._hosts}: nsqlookupd and nsqd daemons
(txnsq's through C{twistd -n}, or Go's binaries when installed) listening
on their host's address at NSQ's standard ports, the clients of
L{tests.cluster._client}, a probe that queries the daemons' HTTP APIs from
inside the network, and the end-to-end count of messages (L{Tally}).

Every host has its own port space, so the daemons use Go's default ports
(4150/4151 for nsqd, 4160/4161 for nsqlookupd) and keep them across
restarts, as on real machines.

With C{delay}, every daemon listens on C{127.0.0.1} inside its host and a
relay (L{tests.cluster._relay}) listens on the host's address in front of
it, holding each byte for C{delay} seconds in each direction: every link
between hosts then carries the delay, including nsqd's connections to
nsqlookupd and every client's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from twisted.internet import reactor as _globalReactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from tests.cluster._hosts import Host, Network
from tests.integration._daemon import (
    ChildProcess,
    childEnvironment,
    parseEvent,
    spawnChild,
)

reactor: Any = _globalReactor
T = TypeVar("T")

#: Python code that runs twistd with the arguments after C{-c CODE}, with
#: this interpreter (and virtualenv).
_TWISTD = (
    "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
)

#: Runs C{"$0" "$@"} with stderr joined to stdout (Go's daemons log on
#: stderr), in the same process (C{exec}), so its PID stays the one started.
_MERGED = ["/bin/sh", "-c", 'exec "$0" "$@" 2>&1']

_LISTENING = r"{}: listening on (?P<host>[0-9.]+|\[[0-9a-fA-F:]*\]):(?P<port>\d+)"

#: How long a daemon may take to start on a busy machine (seconds).
START_TIMEOUT = 60.0

PORTS = {"nsqd": (4150, 4151), "nsqlookupd": (4160, 4161)}


def goBinary(name: str) -> str | None:
    """
    The path of Go NSQ's C{name} binary: in the directory
    C{$TXNSQ_GO_BIN} names, else on C{PATH}; L{None} when absent.
    """
    directory = os.environ.get("TXNSQ_GO_BIN")
    if directory:
        path = os.path.join(directory, name)
        return path if os.access(path, os.X_OK) else None
    return shutil.which(name)


def goMissing(*names: str) -> str | None:
    """
    Why the Go NSQ binaries C{names} cannot be used, or L{None}.
    """
    absent = [n for n in names if goBinary(n) is None]
    if absent:
        return (
            f"Go NSQ's {', '.join(absent)} not found: put the directory with "
            "Go NSQ 1.3.0's binaries in $TXNSQ_GO_BIN or on PATH"
        )
    return None


async def gather(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """
    Run C{coroutines} side by side; their results, in order.
    """
    return await gatherResults([Deferred.fromCoroutine(c) for c in coroutines])


async def until(
    check: Callable[[], Any], what: str, timeout: float = 60.0, interval: float = 0.1
) -> Any:
    """
    Call C{check} every C{interval} seconds until it returns something
    true (or an awaitable of it), and return that; fail after C{timeout}.
    """
    deadline = reactor.seconds() + timeout
    while True:
        value = check()
        if isinstance(value, Deferred) or hasattr(value, "__await__"):
            value = await value
        if value:
            return value
        if reactor.seconds() > deadline:
            raise AssertionError(f"{what}: not so after {timeout} s")
        await deferLater(reactor, interval, lambda: None)


class Events:
    """
    A child's JSON event lines, parsed once each.
    """

    def __init__(self, process: ChildProcess, name: str) -> None:
        self.process = process
        self.name = name
        self._seen = 0
        self._events: list[dict[str, Any]] = []

    @property
    def events(self) -> list[dict[str, Any]]:
        lines = self.process.lines
        for line in lines[self._seen :]:
            event = parseEvent(line)
            if event is not None:
                self._events.append(event)
        self._seen = len(lines)
        return self._events

    def ofKind(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == kind]

    def last(self, kind: str) -> dict[str, Any] | None:
        found = self.ofKind(kind)
        return found[-1] if found else None


class Client(Events):
    """
    A producer or consumer process (L{tests.cluster._client}).
    """

    def __init__(
        self, process: ChildProcess, name: str, host: Host, prefix: str = ""
    ) -> None:
        super().__init__(process, name)
        self.host = host
        self.prefix = prefix

    def acked(self) -> set[str]:
        done = self.last("done")
        if done is None:
            return set()
        return {f"{self.prefix}-{i}" for i in done["acked"]}

    def progress(self) -> int:
        last = self.last("progress")
        return int(last["done"]) if last else 0

    def connections(self) -> list[str]:
        last = self.last("status")
        return list(last["connections"]) if last else []

    async def whenDone(self, timeout: float = 120.0) -> dict[str, Any]:
        await self.process.waitForLine(r'"event":"done"', timeout)
        done = self.last("done")
        assert done is not None
        return done

    async def stop(self) -> None:
        await self.process.stop()


class Node:
    """
    One daemon on one host, which can be killed, stopped and started again
    on the same address, ports and data directory.
    """

    def __init__(
        self,
        cluster: Cluster,
        host: Host,
        kind: str,
        args: Sequence[str],
        impl: str = "txnsq",
    ) -> None:
        self.cluster = cluster
        self.host = host
        self.kind = kind
        self.impl = impl
        self.args = list(args)
        self.tcpPort, self.httpPort = PORTS[kind]
        self.process: ChildProcess | None = None
        self.starts = 0
        if kind == "nsqd":
            self.dataPath = os.path.abspath(cluster.testCase.mktemp())
            os.makedirs(self.dataPath)

    def __repr__(self) -> str:
        return f"<{self.impl} {self.kind} on {self.host.name} {self.tcp}>"

    @property
    def tcp(self) -> str:
        return f"{self.host.address}:{self.tcpPort}"

    @property
    def http(self) -> str:
        return f"{self.host.address}:{self.httpPort}"

    def argv(self) -> list[str]:
        bind = "127.0.0.1" if self.cluster.delay else self.host.address
        flags = [
            f"--tcp-address={bind}:{self.tcpPort}",
            f"--http-address={bind}:{self.httpPort}",
            f"--broadcast-address={self.host.address}",
        ]
        if self.kind == "nsqd":
            flags.append(f"--data-path={self.dataPath}")
        flags += self.args
        if self.impl == "go":
            binary = goBinary(self.kind)
            assert binary is not None
            return [*_MERGED, binary, *flags]
        return [
            *_MERGED,
            sys.executable,
            "-c",
            _TWISTD,
            "-n",
            "--pidfile=",
            self.kind,
            *flags,
        ]

    async def start(self) -> Node:
        """
        Start the daemon and wait until both its listeners are bound.
        """
        self.starts += 1
        process = self.cluster.spawn(
            self.host, self.argv(), f"{self.impl} {self.kind}@{self.host.name}"
        )
        self.process = process
        await process.waitForLine(_LISTENING.format("TCP"), START_TIMEOUT)
        await process.waitForLine(_LISTENING.format("HTTP"), START_TIMEOUT)
        return self

    async def kill(self) -> None:
        """
        C{SIGKILL} the daemon and wait until it is gone.
        """
        assert self.process is not None
        self.process.signal("KILL")
        await self.process.whenEnded(START_TIMEOUT)

    async def stop(self) -> int:
        """
        C{SIGTERM} the daemon; its exit code once it exited.
        """
        assert self.process is not None
        return await self.process.stop()

    def logged(self, pattern: str) -> int:
        """
        How many lines matching C{pattern} this daemon logged, over all
        its runs so far (the current one only).
        """
        assert self.process is not None
        regex = re.compile(pattern)
        return sum(1 for line in self.process.lines if regex.search(line))


class Cluster:
    """
    A network of hosts for one test, with NSQ daemons and clients on them.

    @ivar delay: seconds every link holds data in each direction (0: none).
    @ivar loss: the share of packets every host drops on sending (0: none).
    """

    def __init__(
        self, testCase: TestCase, delay: float = 0.0, loss: float = 0.0
    ) -> None:
        self.testCase = testCase
        self.delay = delay
        self.loss = loss
        self.network = Network(testCase)
        self.hosts: dict[str, Host] = {}
        self.daemons: list[Node] = []
        self._probe: Events | None = None
        self._requests = 0
        self._relayed: set[str] = set()

    def host(self, name: str) -> Host:
        """
        The host called C{name}, created on first use.
        """
        if name not in self.hosts:
            host = self.hosts[name] = self.network.addHost(name)
            if self.loss:
                host.lossy(self.loss)
        return self.hosts[name]

    def spawn(self, host: Host, argv: Sequence[str], name: str) -> ChildProcess:
        """
        Run C{argv} on C{host}, stopped (by PID) when the test ends.
        """
        return spawnChild(
            self.testCase, host.command(argv), env=childEnvironment(), name=name
        )

    async def _relay(self, host: Host, kind: str) -> None:
        if not self.delay or host.name in self._relayed:
            return
        self._relayed.add(host.name)
        routes = [f"{host.address}:{port}=127.0.0.1:{port}" for port in PORTS[kind]]
        argv = [
            sys.executable,
            "-m",
            "tests.cluster._relay",
            f"--delay={self.delay}",
            *routes,
        ]
        relay = self.spawn(host, argv, f"relay@{host.name}")
        await relay.waitForLines(
            lambda line: '"listening"' in line, len(routes), START_TIMEOUT
        )

    async def lookupd(self, hostName: str, *args: str, impl: str = "txnsq") -> Node:
        """
        Start nsqlookupd on host C{hostName}.
        """
        host = self.host(hostName)
        await self._relay(host, "nsqlookupd")
        node = Node(self, host, "nsqlookupd", args, impl)
        self.daemons.append(node)
        return await node.start()

    async def nsqd(
        self,
        hostName: str,
        lookupds: Iterable[Node],
        *args: str,
        impl: str = "txnsq",
    ) -> Node:
        """
        Start nsqd on host C{hostName}, registering with C{lookupds}.
        """
        host = self.host(hostName)
        await self._relay(host, "nsqd")
        flags = [f"--lookupd-tcp-address={lookupd.tcp}" for lookupd in lookupds]
        node = Node(self, host, "nsqd", [*flags, *args], impl)
        self.daemons.append(node)
        return await node.start()

    def _client(self, hostName: str, args: Sequence[str], name: str) -> ChildProcess:
        argv = [sys.executable, "-m", "tests.cluster._client", *args]
        return self.spawn(self.host(hostName), argv, name)

    def producer(
        self,
        hostName: str,
        nsqds: Iterable[Node],
        topic: str,
        count: int,
        rate: float = 0.0,
        window: int = 10,
        prefix: str | None = None,
    ) -> Client:
        """
        Start publishing C{count} messages to C{topic} on C{nsqds} from
        host C{hostName}; bodies are C{PREFIX-INDEX} (the prefix is the
        host's name unless given).
        """
        prefix = prefix or hostName
        args = ["produce", "--topic", topic, "--count", str(count)]
        args += ["--prefix", prefix, "--rate", str(rate), "--window", str(window)]
        for nsqd in nsqds:
            args += ["--nsqd", nsqd.tcp]
        name = f"producer@{hostName}"
        return Client(
            self._client(hostName, args, name), name, self.host(hostName), prefix
        )

    def consumer(
        self,
        hostName: str,
        topic: str,
        channel: str,
        lookupds: Iterable[Node] = (),
        nsqds: Iterable[Node] = (),
        *extra: str,
    ) -> Client:
        """
        Start a consumer of C{topic}/C{channel} on host C{hostName}, finding
        nsqds through C{lookupds} (or connecting to C{nsqds}).
        """
        args = ["consume", "--topic", topic, "--channel", channel, *extra]
        for lookupd in lookupds:
            args += ["--lookupd", lookupd.http]
        for nsqd in nsqds:
            args += ["--nsqd", nsqd.tcp]
        name = f"consumer@{hostName}"
        return Client(self._client(hostName, args, name), name, self.host(hostName))

    async def request(
        self, method: str, address: str, path: str, body: str = ""
    ) -> tuple[int, Any]:
        """
        One HTTP request to C{address} made from the probe host; the status
        and the body (decoded JSON when it is JSON).  Status 0: the request
        failed (refused, timed out), the body says why.
        """
        if self._probe is None:
            process = self._client("probe", ["probe"], "probe")
            await process.waitForLine('"ready"', START_TIMEOUT)
            self._probe = Events(process, "probe")
        self._requests += 1
        number = self._requests
        request = {"id": number, "method": method, "url": f"http://{address}{path}"}
        if body:
            request["body"] = body
        transport = self._probe.process.transport
        assert transport is not None
        transport.write(json.dumps(request).encode() + b"\n")
        [reply] = await self._probe.process.waitForEvents(
            lambda e: e.get("event") == "reply" and e.get("id") == number,
            timeout=START_TIMEOUT,
        )
        text = reply["body"]
        try:
            return reply["status"], json.loads(text)
        except ValueError:
            return reply["status"], text

    async def lookup(self, lookupd: Node, topic: str) -> set[str]:
        """
        The nsqds (C{address:tcp_port}) C{lookupd}'s C{/lookup} lists for
        C{topic}; empty when it answers otherwise.
        """
        status, body = await self.request("GET", lookupd.http, f"/lookup?topic={topic}")
        if status != 200 or not isinstance(body, dict):
            return set()
        return {
            f"{p['broadcast_address']}:{p['tcp_port']}"
            for p in body.get("producers", [])
        }

    async def nodes(self, lookupd: Node) -> set[str]:
        """
        The nsqds C{lookupd}'s C{/nodes} lists.
        """
        status, body = await self.request("GET", lookupd.http, "/nodes")
        if status != 200 or not isinstance(body, dict):
            return set()
        return {
            f"{p['broadcast_address']}:{p['tcp_port']}"
            for p in body.get("producers", [])
        }


async def queued(cluster: Cluster, nsqd: Node, topic: str) -> int:
    """
    How many messages of C{topic} C{nsqd} holds right now (its C{/stats}:
    the topic's depth plus each channel's depth and in-flight count).
    """
    status, body = await cluster.request(
        "GET", nsqd.http, f"/stats?format=json&topic={topic}"
    )
    if status != 200 or not isinstance(body, dict):
        return 0
    total = 0
    for t in body.get("topics") or []:
        total += int(t.get("depth", 0))
        for channel in t.get("channels") or []:
            total += int(channel.get("depth", 0)) + int(
                channel.get("in_flight_count", 0)
            )
    return total


class Tally:
    """
    Messages counted end to end: published and acknowledged by the
    producers, delivered to the consumers.
    """

    def __init__(self, producers: Sequence[Client], consumers: Sequence[Client]):
        self.producers = producers
        self.consumers = consumers

    def published(self) -> int:
        return sum(
            int((p.last("done") or {}).get("published", 0)) for p in self.producers
        )

    def acked(self) -> set[str]:
        acked: set[str] = set()
        for producer in self.producers:
            acked |= producer.acked()
        return acked

    def deliveries(self) -> list[tuple[str, dict[str, Any]]]:
        """
        Every delivery: the consumer's name and the C{m} event.
        """
        return [(c.name, e) for c in self.consumers for e in c.ofKind("m")]

    def delivered(self) -> Counter[str]:
        return Counter(e["b"] for _, e in self.deliveries())

    def lost(self) -> set[str]:
        return self.acked() - set(self.delivered())

    async def allDelivered(self, timeout: float = 180.0) -> None:
        """
        Wait until every producer is done and every acknowledged message
        was delivered; fails (with the counts) otherwise.
        """
        for producer in self.producers:
            await producer.whenDone(timeout)
        try:
            await until(
                lambda: not self.lost(), "every acknowledged message delivered", timeout
            )
        except AssertionError as e:
            raise AssertionError(f"{e}: {self.line()}") from None

    def counts(self) -> dict[str, int]:
        delivered = self.delivered()
        return {
            "published": self.published(),
            "acked": len(self.acked()),
            "delivered": sum(delivered.values()),
            "duplicates": sum(delivered.values()) - len(delivered),
            "lost": len(self.lost()),
        }

    def line(self, **more: object) -> str:
        fields = {**self.counts(), **more}
        return " ".join(f"{k}={v}" for k, v in fields.items())

    def report(self, testCase: TestCase, **more: object) -> dict[str, int]:
        """
        Print the count line (the guarantee being checked), and assert that
        nothing acknowledged was lost.
        """
        counts = self.counts()
        line = self.line(**more)
        print(f"\n{testCase.id()}: {line}", flush=True)
        lost = sorted(self.lost())
        testCase.assertEqual(lost, [], f"acknowledged messages lost: {line}")
        return counts
