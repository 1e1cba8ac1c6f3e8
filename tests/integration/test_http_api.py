"""
nsqd's HTTP API over real sockets: C{curl} publishes, a pynsq Reader (a
child process: Tornado never runs inside trial's reactor) consumes, and
C{/stats} shows what a real consumer does to the counters.

nsqd runs in this process: an L{NSQDService} on 127.0.0.1 port 0 with the
HTTP API served by L{NSQDSite} on another port 0.
"""

from __future__ import annotations

import json
import shutil
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.python.filepath import FilePath
from twisted.trial.unittest import TestCase

from tests.golden import httpRequest, listenSite
from tests.integration._daemon import ChildProcess, spawnChild
from tests.integration._interop import PYNSQ_SCRIPT, ofKind, skipReason, subscribed
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.http import NSQDSite
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.tap import httpAPI, nsqdService

CURL = shutil.which("curl")


class InProcessNSQD:
    """
    An nsqd with its HTTP API, listening on loopback.
    """

    def __init__(self, service: NSQDService, tcpPort: int, httpPort: int) -> None:
        self.service = service
        self.tcpPort = tcpPort
        self.httpPort = httpPort

    def url(self, path: str) -> str:
        """
        The HTTP URL of C{path}.
        """
        return f"http://127.0.0.1:{self.httpPort}{path}"

    async def stats(self) -> Any:
        """
        C{GET /stats?format=json}, decoded.
        """
        response = await httpRequest(
            reactor, "127.0.0.1", self.httpPort, "GET", "/stats?format=json"
        )
        assert response.status == 200, response.body
        return json.loads(response.body)

    async def connectionsSettled(self, count: int) -> None:
        """
        Wait, a reactor turn at a time, until nsqd holds C{count} TCP
        connections.
        """
        for _ in range(5000):
            if len(self.service.factory.connections) == count:
                return
            await deferLater(reactor, 0.001)
        raise AssertionError(f"nsqd still holds {self.service.factory.connections}")


async def startNSQD(test: TestCase) -> InProcessNSQD:
    """
    Start nsqd for C{test}; it stops when the test ends.
    """
    dataPath = FilePath(test.mktemp())
    dataPath.makedirs()
    config = NSQDConfig(
        tcp_address="127.0.0.1:0",
        http_address="",
        broadcast_address="127.0.0.1",
        data_path=dataPath.path,
    )
    service = NSQDService(config, reactor)
    service.startService()
    test.addCleanup(service.stopService)
    tcpPort = (await service.whenTCPListening()).getHost().port  # type: ignore[attr-defined]
    site = NSQDSite(httpAPI(service).resource(), config)
    port, httpPort = listenSite(reactor, site)
    test.addCleanup(port.stopListening)
    return InProcessNSQD(service, tcpPort, httpPort)


async def curlPub(test: TestCase, nsqd: InProcessNSQD, topic: str, body: str) -> None:
    """
    C{curl -d <body> http://.../pub?topic=<topic>}, which must print C{OK}.
    """
    assert CURL is not None
    curl = spawnChild(
        test, [CURL, "-sS", "-d", body, nsqd.url(f"/pub?topic={topic}")], name="curl"
    )
    test.assertEqual(await curl.whenEnded(), 0, curl.output())
    test.assertEqual(curl.lines, ["OK"], curl.output())


def pynsqReader(
    test: TestCase, nsqd: InProcessNSQD, topic: str, *args: str
) -> ChildProcess:
    """
    Start a pynsq Reader on C{topic} (options as C{pynsq_client.py}
    C{consume} takes them).
    """
    argv = [
        sys.executable,
        PYNSQ_SCRIPT,
        "consume",
        *("--nsqd", f"127.0.0.1:{nsqd.tcpPort}", "--topic", topic),
        *args,
    ]
    return spawnChild(test, argv, name="pynsq consume")


class CurlToPynsqTests(TestCase):
    """
    Messages published with C{curl} over HTTP reach a pynsq Reader exactly
    as TCP publishes do, and C{/stats} follows.
    """

    skip = skipReason("pynsq") or (None if CURL else "curl is not on PATH")
    timeout = 60

    async def test_publishedToSubscribedReader(self) -> None:
        """
        A Reader already subscribed receives a message published by
        C{curl -d} at once (the delivery is flushed without any further
        traffic), on its first attempt, with its body; after the Reader
        finished it and left, C{/stats} counts the message as delivered
        and nothing as queued or in flight.
        """
        nsqd = await startNSQD(self)
        reader = pynsqReader(self, nsqd, "http", "--channel", "c", "--count", "1")
        await reader.waitForEvents(subscribed)
        await curlPub(self, nsqd, "http", "hello")
        self.assertEqual(await reader.whenEnded(), 0, reader.output())
        [message] = ofKind(reader.events(), "message")
        self.assertEqual((message["body"], message["attempts"]), ("hello", 1))
        await nsqd.connectionsSettled(0)
        stats = await nsqd.stats()
        [topic] = stats["topics"]
        [channel] = topic["channels"]
        self.assertEqual(
            (topic["topic_name"], topic["message_count"], topic["message_bytes"]),
            ("http", 1, 5),
        )
        self.assertEqual(
            {k: channel[k] for k in ("depth", "in_flight_count", "message_count")},
            {"depth": 0, "in_flight_count": 0, "message_count": 1},
        )
        self.assertEqual((channel["client_count"], channel["clients"]), (0, []))

    async def test_statsOfARealConsumer(self) -> None:
        """
        Two messages published before anyone subscribed wait in the topic;
        a Reader with max in flight 1 that holds its first message leaves
        one in flight and one queued, and C{/stats} shows the Reader's
        connection with pynsq's user agent, RDY 1 and one message in
        flight.
        """
        nsqd = await startNSQD(self)
        await curlPub(self, nsqd, "held", "first")
        await curlPub(self, nsqd, "held", "second")
        stats = await nsqd.stats()
        self.assertEqual(
            [(t["topic_name"], t["depth"], t["channels"]) for t in stats["topics"]],
            [("held", 2, [])],
        )
        reader = pynsqReader(
            self,
            nsqd,
            "held",
            *("--channel", "c", "--count", "1", "--max-in-flight", "1"),
            *("--ignore-first", "--msg-timeout-ms", "60000"),
        )
        [message] = await reader.waitForEvents(lambda e: e["event"] == "message")
        self.assertEqual(message["body"], "first")
        stats = await nsqd.stats()
        [topic] = stats["topics"]
        [channel] = topic["channels"]
        self.assertEqual((topic["depth"], topic["message_count"]), (0, 2))
        self.assertEqual(
            {
                k: channel[k]
                for k in ("depth", "in_flight_count", "message_count", "client_count")
            },
            {"depth": 1, "in_flight_count": 1, "message_count": 2, "client_count": 1},
        )
        [client] = channel["clients"]
        self.assertEqual(
            {
                k: client[k]
                for k in (
                    "state",
                    "ready_count",
                    "in_flight_count",
                    "message_count",
                    "finish_count",
                )
            },
            {
                "state": 3,
                "ready_count": 1,
                "in_flight_count": 1,
                "message_count": 1,
                "finish_count": 0,
            },
        )
        self.assertTrue(client["user_agent"].startswith("pynsq/"), client)
        self.assertIsNone(stats["producers"])
        await reader.stop()
        await nsqd.connectionsSettled(0)
        # As in Go, a departed consumer's message stays in flight until it
        # times out.
        [channel] = (await nsqd.stats())["topics"][0]["channels"]
        self.assertEqual((channel["client_count"], channel["in_flight_count"]), (0, 1))


class ServiceWiringTests(TestCase):
    """
    L{nsqdService} wires the HTTP API to the service: the service's own
    HTTP listener serves the API over the service's parts.
    """

    timeout = 30

    async def test_serviceServesAPI(self) -> None:
        """
        C{/info} reports the ports the service bound, C{/pub} reaches the
        service's broker, and C{PUT /config/nsqlookupd_tcp_addresses}
        reconfigures the service's lookupd peers.
        """
        dataPath = FilePath(self.mktemp())
        dataPath.makedirs()
        config = NSQDConfig(
            tcp_address="127.0.0.1:0",
            http_address="127.0.0.1:0",
            broadcast_address="127.0.0.1",
            data_path=dataPath.path,
        )
        service = nsqdService(config, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        tcpPort = (await service.whenTCPListening()).getHost().port  # type: ignore[attr-defined]
        httpPort = (await service.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
        info = await httpRequest(reactor, "127.0.0.1", httpPort, "GET", "/info")
        self.assertEqual(
            [json.loads(info.body)[k] for k in ("tcp_port", "http_port")],
            [tcpPort, httpPort],
        )
        published = await httpRequest(
            reactor, "127.0.0.1", httpPort, "POST", "/pub?topic=wired", b"x"
        )
        self.assertEqual((published.status, published.body), (200, b"OK"))
        self.assertEqual(service.broker.topics["wired"].messageCount, 1)
        put = await httpRequest(
            reactor,
            "127.0.0.1",
            httpPort,
            "PUT",
            "/config/nsqlookupd_tcp_addresses",
            b'["127.0.0.1:1"]',
        )
        self.assertEqual(put.body, b'["127.0.0.1:1"]')
        self.assertEqual(list(service.lookupPeers.peers), ["127.0.0.1:1"])
