"""
Tests for L{txnsq.client._connection}: the start of every handshake, and
one link to one nsqd.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tests.client._fakes import Listener
from tests.client._memory import MemoryNetwork
from txnsq.client import IdentifyOptions, IdentifyResponse, NSQAuthError
from txnsq.client._connection import (
    NSQDLink,
    clientEndpoint,
    identifyAndAuthenticate,
)
from txnsq.client.protocol import NSQClientProtocol
from txnsq.wire.frames import encodeResponse


class IdentifyAndAuthenticateTests(SynchronousTestCase):
    """
    L{identifyAndAuthenticate}, on a protocol over a L{StringTransport}.
    """

    def start(
        self, authSecret: bytes | None
    ) -> tuple[StringTransport, NSQClientProtocol, Deferred[IdentifyResponse]]:
        """
        Run L{identifyAndAuthenticate} on a fresh connection, up to the
        IDENTIFY it sends.
        """
        protocol = NSQClientProtocol(Clock())
        transport = StringTransport()
        protocol.makeConnection(transport)
        transport.clear()
        handshake = Deferred.fromCoroutine(
            identifyAndAuthenticate(
                protocol, IdentifyOptions(clientID="c", hostname="h"), authSecret
            )
        )
        self.assertTrue(transport.value().startswith(b"IDENTIFY\n"))
        transport.clear()
        return transport, protocol, handshake

    def test_noAuthRequired(self) -> None:
        """
        When nsqd does not ask for AUTH, the handshake ends with IDENTIFY's
        reply, even with a secret configured.
        """
        transport, protocol, handshake = self.start(b"secret")
        protocol.dataReceived(encodeResponse(json.dumps({"max_rdy_count": 7}).encode()))
        self.assertEqual(self.successResultOf(handshake).maxRdyCount, 7)
        self.assertEqual(transport.value(), b"")

    def test_auth(self) -> None:
        """
        When nsqd asks for AUTH, the secret is sent, and the handshake ends
        with AUTH's reply.
        """
        transport, protocol, handshake = self.start(b"s3cret")
        protocol.dataReceived(
            encodeResponse(json.dumps({"auth_required": True}).encode())
        )
        self.assertEqual(transport.value(), b"AUTH\n\x00\x00\x00\x06s3cret")
        self.assertNoResult(handshake)
        reply = {"identity": "i", "identity_url": "", "permission_count": 1}
        protocol.dataReceived(encodeResponse(json.dumps(reply).encode()))
        self.assertTrue(self.successResultOf(handshake).authRequired)

    def test_authWithoutSecret(self) -> None:
        """
        When nsqd asks for AUTH and there is no secret, the handshake fails
        with C{E_AUTH_FIRST} and sends nothing more.
        """
        transport, protocol, handshake = self.start(None)
        protocol.dataReceived(
            encodeResponse(json.dumps({"auth_required": True}).encode())
        )
        error = self.failureResultOf(handshake, NSQAuthError).value
        self.assertEqual(error.code, "E_AUTH_FIRST")
        self.assertEqual(transport.value(), b"")


class LinkTests(SynchronousTestCase):
    """
    L{NSQDLink}.
    """

    def setUp(self) -> None:
        self.network = MemoryNetwork()
        self.nsqd = self.network.nsqd()
        self.listener = Listener()

    def link(self, handshake: Any = None, **kwargs: Any) -> NSQDLink:
        """
        A started link to C{self.nsqd}.
        """
        if handshake is None:

            def handshake(protocol: NSQClientProtocol) -> Deferred[Any]:
                return protocol.identify(IdentifyOptions())

        kwargs.setdefault("retryPolicy", lambda attempt: 1.0)
        link = NSQDLink(
            self.nsqd.address,
            self.nsqd.endpoint(),
            self.network.clock,
            handshake,
            self.listener,
            **kwargs,
        )
        link.start()
        self.network.flush()
        return link

    def test_readyAndLost(self) -> None:
        """
        A connection is reported ready after its handshake, and lost when it
        ends; a reconnecting link then connects again.
        """
        link = self.link()
        [(kind, first)] = self.listener.events
        self.assertEqual(kind, "ready")
        self.assertIs(link.connection, first)
        self.nsqd.dropConnections()
        self.network.advance(1.0)
        self.assertEqual(
            [e[0] for e in self.listener.events], ["ready", "lost", "ready"]
        )
        self.assertIsNot(link.connection, first)
        stopped = link.stop()
        self.network.flush()
        self.successResultOf(stopped)
        self.assertEqual(self.nsqd.connections, [])
        self.network.advance(10.0)
        self.assertEqual(self.nsqd.connectAttempts, 2)

    def test_handshakeTimeout(self) -> None:
        """
        A handshake that does not finish within C{handshakeTimeout} fails
        and its connection is dropped.
        """
        self.link(
            handshake=lambda protocol: Deferred(), handshakeTimeout=3.0, reconnect=False
        )
        self.assertEqual(len(self.nsqd.connections), 1)
        self.network.advance(3.0)
        [(kind, _)] = self.listener.events
        self.assertEqual(kind, "failed")
        self.assertEqual(self.nsqd.connections, [])

    def test_oneShot(self) -> None:
        """
        A link that does not reconnect is finished when its connection
        ends, or when connecting fails.
        """
        link = self.link(reconnect=False)
        self.nsqd.dropConnections()
        self.network.advance(5.0)
        self.assertEqual([e[0] for e in self.listener.events], ["ready", "lost"])
        self.assertTrue(link.finished)
        self.nsqd.refuse = True
        refused = self.link(reconnect=False)
        self.assertTrue(refused.finished)
        self.assertEqual(self.listener.events[-1][0], "failed")
        self.assertEqual(self.nsqd.connectAttempts, 2)


class EndpointTests(SynchronousTestCase):
    """
    L{clientEndpoint}.
    """

    def test_addresses(self) -> None:
        """
        Go-style C{host:port} addresses (names, IPv4, bracketed IPv6) give
        hostname endpoints; others raise L{ValueError}.
        """
        reactor = MemoryReactorClock()
        for address, host in [
            ("nsqd.example:4150", b"nsqd.example"),
            ("10.0.0.1:4150", b"10.0.0.1"),
            ("[::1]:4150", b"::1"),
            (":4150", b"127.0.0.1"),
        ]:
            endpoint = clientEndpoint(reactor, address)
            assert isinstance(endpoint, HostnameEndpoint)
            self.assertEqual((endpoint._hostBytes, endpoint._port), (host, 4150))
        for bad in ("nsqd", "nsqd:port", "a:b:c"):
            self.assertRaises(ValueError, clientEndpoint, reactor, bad)
