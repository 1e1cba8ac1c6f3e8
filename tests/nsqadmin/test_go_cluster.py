"""
txnsq's nsqadmin over a cluster of Go NSQ 1.3.0's daemons (one Go
nsqlookupd, two Go nsqds), and, where Go's nsqadmin is installed too, the
key-compatibility check: for the same cluster, every C{GET} route of
txnsq's nsqadmin answers with the keys (recursively) and status Go
nsqadmin answers with.

Go's binaries are found in C{$TXNSQ_GO_BIN}, else on C{PATH}; without them
these tests are skipped, saying so.  Nothing of Go's is kept in this
repository.
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.cluster._nsq import goBinary, goMissing
from tests.golden import httpRequest
from tests.integration._cluster import until
from tests.integration._daemon import ChildProcess, spawnChild
from tests.nsqadmin.test_integration import _startAdmin
from txnsq.nsqadmin import _clusterinfo as ci

#: Runs C{"$0" "$@"} with stderr joined to stdout (Go's daemons log on
#: stderr), keeping the PID that was started.
_MERGED = ["/bin/sh", "-c", 'exec "$0" "$@" 2>&1']

_LISTENING = r"{}: listening on (?P<host>[0-9.]+):(?P<port>\d+)"

#: How long a Go daemon may take to start on a busy machine (seconds).
_START = 60.0


async def _get(port: int, path: str) -> tuple[int, Any]:
    """
    C{GET} on 127.0.0.1:C{port}; the status and the JSON body (text when
    not JSON).
    """
    response = await httpRequest(reactor, "127.0.0.1", port, "GET", path, timeout=30)
    try:
        return response.status, json.loads(response.body)
    except ValueError:
        return response.status, response.body.decode("utf-8", "replace")


async def _post(port: int, path: str, body: Any = None) -> tuple[int, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    response = await httpRequest(
        reactor, "127.0.0.1", port, "POST", path, data, timeout=30
    )
    return response.status, json.loads(response.body) if response.body else None


def shape(value: Any) -> Any:
    """
    The structure of a JSON value without its data: objects keep their
    keys (each with the shape of its value), a list becomes the merged
    shape of its items, scalars become their JSON type (so that C{null}
    where Go has C{[]} is a difference).
    """
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        merged: Any = None
        for item in value:
            merged = _merge(merged, shape(item))
        return [merged] if value else []
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


def _merge(a: Any, b: Any) -> Any:
    # None: the key is absent from one item.
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a.get(k), b.get(k)) for k in {**a, **b}}
    if isinstance(a, list) and isinstance(b, list):
        return [_merge(a[0] if a else None, b[0] if b else None)] if a or b else []
    return a if a == b else f"{a}|{b}"


def differences(go: Any, ours: Any, where: str = "") -> list[str]:
    """
    Where the shapes C{go} and C{ours} (see L{shape}) differ: missing and
    extra keys, different types.
    """
    if isinstance(go, dict) and isinstance(ours, dict):
        found = [f"{where}.{k}: missing" for k in go if k not in ours]
        found += [f"{where}.{k}: extra" for k in ours if k not in go]
        for key in go:
            if key in ours:
                found += differences(go[key], ours[key], f"{where}.{key}")
        return found
    if isinstance(go, list) and isinstance(ours, list):
        if go and ours and go[0] is not None and ours[0] is not None:
            return differences(go[0], ours[0], where + "[]")
        return []
    if go != ours:
        return [f"{where or '.'}: Go {go!r}, txnsq {ours!r}"]
    return []


class ShapeTests(SynchronousTestCase):
    """
    L{shape} and L{differences}, which the key check relies on.
    """

    def test_differences(self) -> None:
        """
        Missing and extra keys, nested in lists, and type changes are
        found; list lengths and values are not differences.
        """
        go = shape({"a": [{"x": 1}, {"y": "s"}], "b": None, "c": 1})
        self.assertEqual(
            differences(go, shape({"a": [{"x": 2, "y": "t"}], "b": None, "c": 3})),
            [],
        )
        self.assertEqual(
            differences(go, shape({"a": [{"x": 1, "z": 1}], "b": [], "d": 1})),
            [
                ".c: missing",
                ".d: extra",
                ".a[].y: missing",
                ".a[].z: extra",
                ".b: Go 'null', txnsq []",
            ],
        )


class GoNilTests(SynchronousTestCase):
    """
    Answers carry C{null} where Go's nil slices do.
    """

    def test_topic(self) -> None:
        """
        A topic answer has no clients (Go asks without them), in the
        totals and per node.
        """
        node = {"clients": [{"client_id": "x"}], "nodes": None}
        total = {
            "channels": [{"clients": [], "nodes": [node]}],
            "nodes": [{"channels": [node]}],
        }
        answer = ci.goTopicAnswer(total)
        self.assertIsNone(answer["channels"][0]["clients"])
        self.assertIsNone(answer["nodes"][0]["channels"][0]["clients"])

    def test_channel(self) -> None:
        """
        A channel without clients has C{"clients": null}; a channel no
        nsqd has is just the message.
        """
        self.assertEqual(
            ci.goChannelAnswer({"nodes": [{}], "clients": []}, ""),
            {"nodes": [{}], "clients": None, "message": ""},
        )
        self.assertEqual(
            ci.goChannelAnswer({"nodes": [], "clients": []}, "WARNING: x"),
            {"message": "WARNING: x"},
        )
        self.assertEqual(
            ci.goChannelAnswer({"nodes": [{}], "clients": [{}]}, "")["clients"], [{}]
        )


class GoCluster:
    """
    Go's nsqlookupd and two Go nsqds on 127.0.0.1 ports 0, topic C{t}
    with channel C{c} on both nsqds, messages published, a consumer
    connected, and topic C{gone} registered on nsqlookupd only.

    @ivar lookupdHTTP: nsqlookupd's HTTP port.
    @ivar nsqdHTTP: the nsqds' HTTP ports.
    """

    lookupdHTTP: int
    nsqdHTTP: list[int]

    def __init__(self, testCase: TestCase) -> None:
        self.testCase = testCase
        self.nsqdHTTP = []

    async def _start(self, name: str, *args: str) -> ChildProcess:
        path = goBinary(name)
        assert path is not None
        return spawnChild(self.testCase, [*_MERGED, path, *args], name=f"Go {name}")

    async def start(self) -> None:
        """
        Start the daemons and fill the cluster.
        """
        lookupd = await self._start(
            "nsqlookupd",
            "--tcp-address=127.0.0.1:0",
            "--http-address=127.0.0.1:0",
            "--broadcast-address=127.0.0.1",
        )
        tcp = await lookupd.waitForLine(_LISTENING.format("TCP"), _START)
        http = await lookupd.waitForLine(_LISTENING.format("HTTP"), _START)
        self.lookupdHTTP = int(http.group("port"))
        for _ in range(2):
            dataPath = os.path.abspath(self.testCase.mktemp())
            os.makedirs(dataPath)
            nsqd = await self._start(
                "nsqd",
                "--tcp-address=127.0.0.1:0",
                "--http-address=127.0.0.1:0",
                "--https-address=",
                "--broadcast-address=127.0.0.1",
                f"--lookupd-tcp-address=127.0.0.1:{tcp.group('port')}",
                f"--data-path={dataPath}",
            )
            listening = await nsqd.waitForLine(_LISTENING.format("HTTP"), _START)
            self.nsqdHTTP.append(int(listening.group("port")))
        for port in self.nsqdHTTP:
            for path in ["/topic/create?topic=t", "/channel/create?topic=t&channel=c"]:
                status, body = await _post(port, path)
                self.testCase.assertEqual(status, 200, body)
            response = await httpRequest(
                reactor, "127.0.0.1", port, "POST", "/pub?topic=t", b"hello"
            )
            self.testCase.assertEqual(response.status, 200)
        status, body = await _post(self.lookupdHTTP, "/topic/create?topic=gone")
        self.testCase.assertEqual(status, 200, body)

        async def registered() -> tuple[bool, Any]:
            _, body = await _get(self.lookupdHTTP, "/lookup?topic=t")
            return len(body.get("producers") or []) == 2, body

        await until(registered, "both Go nsqds registered t", timeout=60)


#: Where txnsq knowingly answers otherwise than Go, and why.
KNOWN = {
    # Go's TopicStats.Add keeps the first nsqd's channel records as the
    # topic's channel totals and adds the other nsqds into them, so that
    # nsqd's entry under "nodes" carries the totals and a "nodes" list of
    # the others; txnsq leaves each nsqd's own figures alone.
    "/api/topics/t .nodes[].channels[].nodes",
}

#: Every GET route of Go nsqadmin 1.3.0's API, for the cluster above
#: ({node} is an nsqd's HTTP address).
ROUTES = [
    "/ping",
    "/api/topics",
    "/api/topics?inactive=true",
    "/api/topics/t",
    "/api/topics/t/c",
    "/api/topics/nope",
    "/api/topics/t/nope",
    "/api/nodes",
    "/api/nodes/{node}",
    "/api/nodes/127.0.0.1:1",
    "/api/counter",
    "/api/graphite?metric=rate&target=x",
    "/api/graphite",
    "/config/log_level",
    "/config/nsqlookupd_http_addresses",
    "/config/nope",
]


class GoClusterTests(TestCase):
    """
    txnsq's nsqadmin reads and changes a cluster of Go's daemons.
    """

    timeout = 180
    skip = goMissing("nsqlookupd", "nsqd")

    async def test_readAndAct(self) -> None:
        """
        Topics, the topic and channel (summed over both Go nsqds), nodes
        and the counter read as Go's nsqadmin reads them; creating a
        channel and pausing it reach both Go nsqds.
        """
        cluster = GoCluster(self)
        await cluster.start()
        admin = await _startAdmin(
            self, lookupd_http_addresses=[f"127.0.0.1:{cluster.lookupdHTTP}"]
        )
        self.assertEqual(
            await _get(admin, "/api/topics"),
            (200, {"topics": ["gone", "t"], "message": ""}),
        )
        status, inactive = await _get(admin, "/api/topics?inactive=true")
        # Go's nil slice: no channel is null.
        self.assertEqual((status, inactive["topics"]), (200, {"gone": None}))

        status, topic = await _get(admin, "/api/topics/t")
        self.assertEqual((status, topic["message"]), (200, ""))
        # Published after channel c existed: queued in the channel.
        self.assertEqual((topic["depth"], topic["message_count"]), (0, 2))
        self.assertEqual(len(topic["nodes"]), 2)
        [channel] = topic["channels"]
        self.assertEqual((channel["channel_name"], channel["depth"]), ("c", 2))

        status, nodes = await _get(admin, "/api/nodes")
        self.assertEqual(status, 200)
        self.assertEqual(
            sorted(n["http_port"] for n in nodes["nodes"]), sorted(cluster.nsqdHTTP)
        )
        self.assertTrue(all(n["version"] == "1.3.0" for n in nodes["nodes"]))

        status, counter = await _get(admin, "/api/counter")
        self.assertEqual(status, 200)
        self.assertEqual(
            sorted(counter["stats"]),
            sorted(f"t:c:127.0.0.1:{port}" for port in cluster.nsqdHTTP),
        )

        self.assertEqual(
            await _post(admin, "/api/topics", {"topic": "t", "channel": "d"}),
            (200, {"message": ""}),
        )
        self.assertEqual(
            await _post(admin, "/api/topics/t/d", {"action": "pause"}),
            (200, {"message": ""}),
        )
        for port in cluster.nsqdHTTP:
            _, stats = await _get(port, "/stats?format=json&topic=t")
            channels = {
                c["channel_name"]: c["paused"] for c in stats["topics"][0]["channels"]
            }
            self.assertEqual(channels, {"c": False, "d": True})

    async def test_sameKeysAsGoNSQAdmin(self) -> None:
        """
        Go's nsqadmin and txnsq's, over the same Go cluster, answer every
        C{GET} route with the same status and the same keys, recursively.
        """
        if goBinary("nsqadmin") is None:
            raise self.skipTest(goMissing("nsqadmin") or "")
        cluster = GoCluster(self)
        await cluster.start()
        lookupd = f"127.0.0.1:{cluster.lookupdHTTP}"
        goAdmin = await cluster._start(
            "nsqadmin",
            "--http-address=127.0.0.1:0",
            f"--lookupd-http-address={lookupd}",
        )
        listening = await goAdmin.waitForLine(_LISTENING.format("HTTP"), _START)
        goPort = int(listening.group("port"))
        ours = await _startAdmin(self, lookupd_http_addresses=[lookupd])
        node = f"127.0.0.1:{cluster.nsqdHTTP[0]}"
        found = []
        for route in ROUTES:
            path = route.format(node=node)
            goStatus, goBody = await _get(goPort, path)
            status, body = await _get(ours, path)
            if status != goStatus:
                found.append(f"{path}: status Go {goStatus}, txnsq {status}")
            found += [
                f"{path} {difference}"
                for difference in differences(shape(goBody), shape(body))
                if f"{path} {difference.split(':')[0]}" not in KNOWN
            ]
        self.assertEqual(found, [], "\n".join(found))
