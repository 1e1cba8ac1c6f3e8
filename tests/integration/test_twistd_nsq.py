"""
C{twistd -n nsq} (nsqlookupd, nsqd and nsqadmin in one process) as a user
runs it: nsqd registers with the co-located nsqlookupd by itself, a pynsq
Reader that knows only nsqlookupd consumes what was published, and
C{SIGTERM} stops nsqd (its queue written to disk) before nsqlookupd;
nsqadmin reads the co-located nsqlookupd, on ports 0 too.

While C{twistd nsqd} serves no HTTP API, messages are published over TCP
and nsqd registers a C{--broadcast-http-port} (see
L{tests.integration._cluster}).
"""

from __future__ import annotations

import json
import os
from typing import Any

from twisted.trial.unittest import TestCase

from tests.integration._cluster import (
    HTTP_LISTENING,
    PEER_INFO,
    PYNSQ_MISSING,
    freePorts,
    getJSON,
    http,
    nsqdFlags,
    ofKind,
    producerPorts,
    publish,
    startConsumer,
    until,
)
from tests.integration._daemon import NSQD_TCP_LISTENING, Daemon, startDaemon


def _depth(dataPath: str, queue: str) -> int:
    """
    The depth go-diskqueue's metadata file records for C{queue} (0 if
    there is none).
    """
    path = os.path.join(dataPath, f"{queue}.diskqueue.meta.dat")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(f.readline())


class TwistdNSQTests(TestCase):
    """
    The combined daemon end to end.
    """

    timeout = 90
    skip = PYNSQ_MISSING

    async def startNSQ(self, dataPath: str, ports: list[int]) -> Daemon:
        """
        Start C{twistd -n nsq} on C{ports} (nsqd TCP, nsqd HTTP, nsqlookupd
        TCP, nsqlookupd HTTP) with C{dataPath}, and wait until its nsqd has
        registered with its nsqlookupd.  The daemon's C{"tcp"} and C{"http"}
        addresses are nsqd's listeners, C{"lookupdHTTP"} is nsqlookupd's
        HTTP API.
        """
        nsqdTCP, nsqdHTTP, lookupdTCP, lookupdHTTP = ports
        daemon = await startDaemon(
            self,
            "nsq",
            [
                f"--tcp-address=127.0.0.1:{nsqdTCP}",
                f"--http-address=127.0.0.1:{nsqdHTTP}",
                f"--nsqlookupd-tcp-address=127.0.0.1:{lookupdTCP}",
                f"--nsqlookupd-http-address=127.0.0.1:{lookupdHTTP}",
                f"--data-path={dataPath}",
                # Never Go's fixed 4171 in tests.
                "--nsqadmin-http-address=",
                *nsqdFlags(nsqdHTTP),
            ],
            {"any": NSQD_TCP_LISTENING},
        )
        # Nothing but the co-located nsqlookupd was named: nsqd found it.
        match = await daemon.process.waitForLine(PEER_INFO)
        self.assertEqual(match.group("address"), f"127.0.0.1:{lookupdTCP}")
        daemon.addresses = {
            "tcp": ("127.0.0.1", nsqdTCP),
            "http": ("127.0.0.1", nsqdHTTP),
            "lookupdHTTP": ("127.0.0.1", lookupdHTTP),
        }
        return daemon

    async def consume(self, daemon: Daemon, count: int) -> list[dict[str, Any]]:
        """
        Consume C{count} messages of topic C{t}, channel C{c}, with a pynsq
        Reader given only the daemon's nsqlookupd; return its message
        events.
        """
        consumer = startConsumer(self, daemon.address("lookupdHTTP"), "t", "c", count)
        self.assertEqual(await consumer.whenEnded(), 0, consumer.output())
        events = consumer.events()
        self.assertEqual(
            [e["address"] for e in ofKind(events, "connecting")],
            [daemon.address("tcp")],
            consumer.output(),
        )
        return ofKind(events, "message")

    async def stop(self, daemon: Daemon) -> str:
        """
        C{SIGTERM} the daemon, check it shut down gracefully, nsqd before
        nsqlookupd, and return its output.
        """
        code = await daemon.stop()
        output = daemon.process.output()
        # Like Go's daemons, a graceful stop exits 0.
        self.assertEqual(code, 0, output)
        self.assertNotIn("Traceback", output)
        lines = daemon.process.lines
        bye = [i for i, line in enumerate(lines) if "NSQ: bye" in line]
        lookupdClosing = [
            i
            for i, line in enumerate(lines)
            if "txnsq.nsqlookupd#info] TCP: closing" in line
        ]
        self.assertEqual(len(bye), 1, output)
        self.assertEqual(len(lookupdClosing), 1, output)
        self.assertLess(bye[0], lookupdClosing[0], "nsqd must stop first\n" + output)
        self.assertIn("Server Shut Down.", lines[-1], output)
        return output

    async def test_publishConsumeTerminate(self) -> None:
        """
        nsqd registers with the co-located nsqlookupd (C{/nodes}); messages
        published to it reach a pynsq Reader that discovered nsqd through
        nsqlookupd; after C{SIGTERM} the process ends gracefully, and what
        was still queued is on disk (C{nsqd.dat} lists the topic and
        channel, the disk queue holds the messages), which a restarted
        C{twistd nsq} delivers.
        """
        ports = freePorts(4)
        dataPath = os.path.abspath(self.mktemp())
        os.makedirs(dataPath)
        daemon = await self.startNSQ(dataPath, ports)

        status, nodes = await getJSON(daemon.address("lookupdHTTP"), "/nodes")
        self.assertEqual(status, 200)
        [node] = nodes["producers"]
        self.assertEqual(
            (node["broadcast_address"], node["tcp_port"], node["http_port"]),
            ("127.0.0.1", ports[0], ports[1]),
        )

        sent = [f"m-{i}" for i in range(10)]
        await publish(daemon, "t", sent)
        messages = await self.consume(daemon, len(sent))
        self.assertEqual(sorted(m["body"] for m in messages), sorted(sent))

        # Channel "c" exists now and has no consumer: these stay queued.
        left = ["left-0", "left-1", "left-2"]
        await publish(daemon, "t", left)

        await self.stop(daemon)
        with open(os.path.join(dataPath, "nsqd.dat")) as f:
            metadata = json.load(f)
        self.assertEqual(
            [
                (t["name"], [c["name"] for c in t["channels"]])
                for t in metadata["topics"]
            ],
            [("t", ["c"])],
        )
        self.assertEqual(_depth(dataPath, "t") + _depth(dataPath, "t:c"), len(left))

        restarted = await self.startNSQ(dataPath, ports)

        async def registered() -> tuple[bool, Any]:
            _, body = await getJSON(restarted.address("lookupdHTTP"), "/lookup?topic=t")
            return producerPorts(body) == {ports[0]} and body["channels"] == ["c"], body

        await until(registered, "the restored topic and channel are registered")
        messages = await self.consume(restarted, len(left))
        self.assertEqual(sorted(m["body"] for m in messages), left)
        await self.stop(restarted)


class TwistdNSQAdminTests(TestCase):
    """
    The combined daemon's nsqadmin, every address on port 0.
    """

    timeout = 90

    async def test_portZero(self) -> None:
        """
        With every listener on port 0, nsqd registers with the co-located
        nsqlookupd on the port it bound and nsqadmin reads that
        nsqlookupd: a topic published to nsqd is in nsqadmin's
        C{/api/topics} and the nsqd in C{/api/nodes}; C{SIGTERM} stops
        nsqadmin first.
        """
        dataPath = os.path.abspath(self.mktemp())
        os.makedirs(dataPath)
        daemon = await startDaemon(
            self,
            "nsq",
            [
                "--tcp-address=127.0.0.1:0",
                "--http-address=127.0.0.1:0",
                "--broadcast-address=127.0.0.1",
                "--nsqlookupd-tcp-address=127.0.0.1:0",
                "--nsqlookupd-http-address=127.0.0.1:0",
                "--nsqadmin-http-address=127.0.0.1:0",
                f"--data-path={dataPath}",
            ],
            {
                "http": r"txnsq\.nsqd#info\] " + HTTP_LISTENING,
                "admin": r"txnsq\.nsqadmin#info\] " + HTTP_LISTENING,
            },
        )
        await daemon.process.waitForLine(PEER_INFO)
        status, _ = await http(daemon.address("http"), "POST", "/pub?topic=t", b"m")
        self.assertEqual(status, 200)

        async def listed() -> tuple[bool, Any]:
            status, body = await getJSON(daemon.address("admin"), "/api/topics")
            return status == 200 and body["topics"] == ["t"], body

        await until(listed, "nsqadmin lists the topic published to nsqd")
        status, nodes = await getJSON(daemon.address("admin"), "/api/nodes")
        self.assertEqual(status, 200)
        [node] = nodes["nodes"]
        self.assertEqual(node["http_port"], int(daemon.address("http").split(":")[1]))
        self.assertEqual(node["topics"], [{"topic": "t", "tombstoned": False}])

        self.assertEqual(await daemon.stop(), 0, daemon.process.output())
        lines = daemon.process.lines
        closing = [i for i, line in enumerate(lines) if "HTTP: closing" in line]
        self.assertTrue(closing, daemon.process.output())
        self.assertIn("txnsq.nsqadmin", lines[closing[0]], daemon.process.output())
