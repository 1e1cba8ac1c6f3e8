"""
Twisted-native nsqd addresses (issue 18): endpoint description strings,
UNIX socket paths and endpoint objects, besides Go's C{host:port}; end to
end against a real nsqd listening on a UNIX socket and on TCP.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    UNIXClientEndpoint,
)
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests import _services as services
from txnsq.client import Consumer, Message, Producer
from txnsq.client._connection import clientEndpoint
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.tap import nsqdService

#: Seconds any step may take before the test fails instead of hanging.
BOUND = 10.0


class ClientEndpointTests(SynchronousTestCase):
    """
    How L{clientEndpoint} reads an address.
    """

    def test_descriptions(self) -> None:
        """
        Endpoint descriptions give the endpoint they describe; a path with
        a C{/} is a UNIX socket; C{host:port} stays a hostname endpoint.
        """
        memory = MemoryReactorClock()
        tcp = clientEndpoint(memory, "tcp:host=127.0.0.1:port=4150")
        self.assertIsInstance(tcp, TCP4ClientEndpoint)
        for address in ("unix:path=/run/nsqd.sock", "/run/nsqd.sock"):
            unix = clientEndpoint(memory, address)
            assert isinstance(unix, UNIXClientEndpoint)
            self.assertEqual(unix._path, "/run/nsqd.sock")
        self.assertIsInstance(
            clientEndpoint(memory, "localhost:4150"), HostnameEndpoint
        )

    def test_bad(self) -> None:
        """
        Neither C{host:port}, a socket path nor a description: L{ValueError}.
        """
        memory = MemoryReactorClock()
        for bad in ("nsqd", "nsqd:port", "tcp:host=x", "nosuchtype:x=1"):
            self.assertRaises(ValueError, clientEndpoint, memory, bad)

    def test_producerRefusesBadAddress(self) -> None:
        """
        A producer given an address that is none of these refuses it at
        once.
        """
        self.assertRaises(
            ValueError, Producer, ["nosuchtype:x=1"], reactor=MemoryReactorClock()
        )


class Collector:
    """
    A handler that records bodies and fires once C{expected} arrived.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.bodies: list[bytes] = []
        self.done: Deferred[None] = Deferred()

    def __call__(self, message: Message) -> None:
        self.bodies.append(message.body)
        if len(self.bodies) == self.expected:
            self.done.callback(None)


class EndToEndTests(TestCase):
    """
    Publish and consume through a real nsqd, addressed in each new way.
    """

    async def roundTrip(self, address: str) -> None:
        """
        Publish three messages to C{address} and consume them from it.
        """
        producer = Producer([address])
        producer.start()
        self.addCleanup(producer.stop)
        for body in (b"one", b"two", b"three"):
            publishing = producer.publish("t", body)
            publishing.addTimeout(BOUND, reactor)
            await publishing
        collector = Collector(3)
        consumer = Consumer("t", "c", collector, nsqdAddresses=[address], maxInFlight=3)
        consumer.start()
        self.addCleanup(consumer.stop)
        collector.done.addTimeout(BOUND, reactor)
        await collector.done
        self.assertEqual(sorted(collector.bodies), [b"one", b"three", b"two"])

    async def startUNIXNSQD(self) -> str:
        """
        An nsqd whose C{--tcp-address} is a UNIX socket path; the path.
        """
        # A short directory: socket paths are limited to about 100 bytes.
        directory = tempfile.mkdtemp(prefix="txnsq")
        self.addCleanup(shutil.rmtree, directory, True)
        dataPath = os.path.join(directory, "data")
        os.makedirs(dataPath)
        path = os.path.join(directory, "nsqd.sock")
        nsqd = nsqdService(
            NSQDConfig(
                data_path=dataPath,
                tcp_address=path,
                http_address="",
                broadcast_address="127.0.0.1",
            ),
            reactor,
        )
        nsqd.startService()
        self.addCleanup(nsqd.stopService)
        await nsqd.whenTCPListening()
        return path

    async def test_unixSocketPath(self) -> None:
        """
        An nsqd listening on a UNIX socket, addressed by its path.
        """
        await self.roundTrip(await self.startUNIXNSQD())

    async def test_unixDescription(self) -> None:
        """
        The same nsqd, addressed by a C{unix:path=...} description.
        """
        await self.roundTrip("unix:path=" + await self.startUNIXNSQD())

    async def test_tcpDescription(self) -> None:
        """
        An nsqd on TCP, addressed by a C{tcp:host=...:port=...} description.
        """
        _, port = await services.startNSQD(self, http_address="")
        await self.roundTrip(f"tcp:host=127.0.0.1:port={port}")

    async def test_endpointObject(self) -> None:
        """
        An nsqd given as an L{IStreamClientEndpoint} object.
        """
        path = await self.startUNIXNSQD()
        endpoint: Any = UNIXClientEndpoint(reactor, path)
        producer = Producer([endpoint])
        producer.start()
        self.addCleanup(producer.stop)
        publishing = producer.publish("t", b"x")
        publishing.addTimeout(BOUND, reactor)
        await publishing

    async def test_lookupdDescription(self) -> None:
        """
        A consumer given nsqlookupd as a C{tcp:} description (and as an
        endpoint object) finds the nsqd that registered the topic.
        """
        _, lookupdTCP, lookupdHTTP = await services.startLookupd(self)
        _, nsqdTCP = await services.startNSQD(self, lookupdTCP)
        producer = Producer([f"127.0.0.1:{nsqdTCP}"])
        producer.start()
        self.addCleanup(producer.stop)
        endpoint: Any = TCP4ClientEndpoint(reactor, "127.0.0.1", lookupdHTTP)
        for index, lookupd in enumerate(
            [f"tcp:host=127.0.0.1:port={lookupdHTTP}", endpoint]
        ):
            topic = f"found{index}"
            publishing = producer.publish(topic, b"via lookupd")
            publishing.addTimeout(BOUND, reactor)
            await publishing
            collector = Collector(1)
            consumer = Consumer(
                topic,
                "c",
                collector,
                lookupdHTTPAddresses=[lookupd],
                # Registration may land after the first poll.
                lookupdPollInterval=0.2,
            )
            consumer.start()
            self.addCleanup(consumer.stop)
            collector.done.addTimeout(BOUND, reactor)
            await collector.done
            self.assertEqual(collector.bodies, [b"via lookupd"])
