"""
Tests for L{txnsq.nsqlookupd.service}.
"""

from __future__ import annotations

import base64
import json
import socket
import struct

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.golden import TCPConversation, httpRequest
from txnsq._http import GoSite
from txnsq.nsqlookupd import LookupdConfig, NSQLookupdService
from txnsq.nsqlookupd.protocol import LookupdFactory
from txnsq.wire.lookup import MAGIC_V1, encodeIdentify, encodeRegister

PEER = {
    "broadcast_address": "nsqd.example",
    "hostname": "nsqd-host",
    "tcp_port": 4150,
    "http_port": 4151,
    "version": "1.3.0",
}


class MemoryServiceTests(SynchronousTestCase):
    """
    The service's listeners, on a L{MemoryReactorClock}.
    """

    def test_listens(self) -> None:
        """
        Starting listens on both configured addresses: the TCP protocol
        factory and a L{GoSite}; the IDENTIFY reply carries the bound ports.
        """
        memory = MemoryReactorClock()
        config = LookupdConfig(
            tcp_address="127.0.0.1:4160",
            http_address="0.0.0.0:4161",
            broadcast_address="b",
            inactive_producer_timeout=10.0,
            tombstone_lifetime=5.0,
        )
        service = NSQLookupdService(config, memory)
        service.startService()
        [(tcpPort, tcpFactory, _, tcpInterface), (httpPort, site, _, httpInterface)] = [
            server[:4] for server in memory.tcpServers
        ]
        self.assertEqual((tcpPort, tcpInterface), (4160, "127.0.0.1"))
        self.assertEqual((httpPort, httpInterface), (4161, "0.0.0.0"))
        self.assertIsInstance(tcpFactory, LookupdFactory)
        self.assertIsInstance(site, GoSite)
        self.assertEqual(
            (service.factory.tcpPort, service.factory.httpPort), (4160, 4161)
        )
        reply = json.loads(service.factory.identifyReply())
        self.assertEqual(reply["broadcast_address"], "b")
        self.assertEqual(
            (
                service.registry.inactiveProducerTimeout,
                service.registry.tombstoneLifetime,
            ),
            (10.0, 5.0),
        )
        port = self.successResultOf(service.whenTCPListening())
        self.assertEqual(port.getHost().port, 4160)  # type: ignore[attr-defined]
        self.successResultOf(service.stopService())
        self.assertFalse(service.running)


class RealServiceTests(TestCase):
    """
    The service on real sockets (127.0.0.1, port 0).
    """

    async def start(self) -> tuple[NSQLookupdService, int, int]:
        """
        Start a service on ephemeral ports.
        """
        config = LookupdConfig(
            tcp_address="127.0.0.1:0",
            http_address="127.0.0.1:0",
            broadcast_address="me",
        )
        service = NSQLookupdService(config, reactor)
        service.startService()
        self.addCleanup(lambda: service.stopService() if service.running else None)
        tcp = (await service.whenTCPListening()).getHost().port  # type: ignore[attr-defined]
        http = (await service.whenHTTPListening()).getHost().port  # type: ignore[attr-defined]
        return service, tcp, http

    def test_portZero(self) -> Deferred[None]:
        """
        With port 0, the IDENTIFY reply reports the ports actually bound,
        and what an nsqd registers shows up over HTTP.
        """

        async def run() -> None:
            _, tcp, http = await self.start()
            self.assertNotEqual(tcp, 0)
            conversation = await TCPConversation.connect(reactor, "127.0.0.1", tcp)
            reply = json.dumps(
                {
                    "broadcast_address": "me",
                    "hostname": socket.gethostname(),
                    "http_port": http,
                    "tcp_port": tcp,
                    "version": "1.3.0",
                },
                separators=(",", ":"),
            ).encode()
            problems = await conversation.run(
                [
                    {"send": _b64(MAGIC_V1 + encodeIdentify(PEER))},
                    {"recv": _b64(struct.pack(">i", len(reply)) + reply)},
                    {"send": _b64(encodeRegister("t", "c"))},
                    {"recv": _b64(b"\x00\x00\x00\x02OK")},
                ]
            )
            self.assertEqual(problems, [])
            response = await httpRequest(
                reactor, "127.0.0.1", http, "GET", "/lookup?topic=t"
            )
            found = json.loads(response.body)
            self.assertEqual(found["channels"], ["c"])
            self.assertEqual(found["producers"][0]["broadcast_address"], "nsqd.example")
            await conversation.finish()

        return Deferred.fromCoroutine(run())

    def test_optionsStar(self) -> Deferred[None]:
        """
        C{OPTIONS *} lists every routed method, as Go's router does.
        """

        async def run() -> None:
            _, _, http = await self.start()
            response = await httpRequest(reactor, "127.0.0.1", http, "OPTIONS", "*")
            self.assertEqual(
                (response.status, response.headers["allow"]),
                (200, ["GET, OPTIONS, POST"]),
            )

        return Deferred.fromCoroutine(run())

    def test_stopClosesConnections(self) -> Deferred[None]:
        """
        Stopping closes every nsqd connection and both listeners.
        """

        async def run() -> None:
            service, tcp, _ = await self.start()
            conversation = await TCPConversation.connect(reactor, "127.0.0.1", tcp)
            await conversation.run([{"send": _b64(MAGIC_V1)}])
            while not service.factory.connections:
                await _turn()
            await service.stopService()
            problems = await conversation.run([{"expect_close": True}])
            self.assertEqual(problems, [])
            self.assertFalse(service.tcpService.running)
            self.assertFalse(service.httpService.running)

        return Deferred.fromCoroutine(run())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _turn() -> Deferred[None]:
    return deferLater(reactor, 0.001)
