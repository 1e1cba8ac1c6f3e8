"""
Tests for L{txnsq.client._pool.LinkPool}: a consumer's links to configured
and discovered nsqds, against in-memory nsqds on a clock.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.trial.unittest import SynchronousTestCase

from tests.client._fakes import Listener, RecordingLog
from tests.client._memory import MemoryNetwork
from txnsq.client import IdentifyOptions, IdentifyResponse
from txnsq.client._pool import LinkPool
from txnsq.client.protocol import NSQClientProtocol


def identify(protocol: NSQClientProtocol) -> Deferred[IdentifyResponse]:
    """
    A handshake: IDENTIFY only.
    """
    return protocol.identify(IdentifyOptions())


class LinkPoolTests(SynchronousTestCase):
    """
    L{LinkPool}.
    """

    def setUp(self) -> None:
        self.network = MemoryNetwork()
        self.listener = Listener()
        self.log = RecordingLog()

    def pool(self, *addresses: str | IStreamClientEndpoint, **kwargs: Any) -> LinkPool:
        """
        A pool with C{addresses} configured, on the memory network.
        """
        kwargs.setdefault("endpointFactory", self.network.endpointFor)
        kwargs.setdefault("retryPolicy", lambda attempt: 1.0)
        return LinkPool(
            addresses,
            self.listener,
            identify,
            reactor=self.network.clock,
            log=self.log,
            **kwargs,
        )

    def test_configured(self) -> None:
        """
        The configured nsqds are linked to on L{LinkPool.start}, and
        reconnected when their connection drops; the listener hears of
        each ready and lost connection.
        """
        nsqd = self.network.nsqd()
        pool = self.pool(nsqd.address)
        self.assertEqual(nsqd.connectAttempts, 0)
        pool.start()
        self.network.flush()
        self.assertEqual(list(pool.links), [nsqd.address])
        nsqd.dropConnections()
        self.network.advance(1.0)
        self.assertEqual(
            [kind for kind, _ in self.listener.events], ["ready", "lost", "ready"]
        )
        self.assertEqual(list(pool.links), [nsqd.address])

    def test_configuredEndpoint(self) -> None:
        """
        A configured endpoint is linked to under its C{repr}.
        """
        endpoint = self.network.nsqd().endpoint()
        pool = self.pool(endpoint)
        pool.start()
        self.network.flush()
        self.assertEqual(list(pool.links), [repr(endpoint)])
        self.assertEqual([kind for kind, _ in self.listener.events], ["ready"])

    def test_badConfiguredAddress(self) -> None:
        """
        A configured address the endpoint factory refuses raises
        L{ValueError} at once.
        """
        self.assertRaises(ValueError, self.pool, "nowhere:1")

    def test_discovered(self) -> None:
        """
        Discovered addresses not linked yet are linked to (in sorted order,
        logged); those already linked and those the endpoint factory
        refuses (logged) are skipped.
        """
        first, second = self.network.nsqd(), self.network.nsqd()
        pool = self.pool(first.address)
        pool.start()
        pool.discovered({second.address, first.address, "nowhere:1"})
        self.network.flush()
        self.assertEqual(list(pool.links), [first.address, second.address])
        self.assertEqual((first.connectAttempts, second.connectAttempts), (1, 1))
        self.assertEqual(
            [(level, fields["address"]) for level, _, fields in self.log.events],
            [("info", second.address), ("warn", "nowhere:1")],
        )

    def test_discoveredForgottenWhenFinished(self) -> None:
        """
        A discovered nsqd is not reconnected when its connection drops: its
        link is forgotten, and a later discovery links to it again.  So is
        one whose connection attempt failed.
        """
        nsqd = self.network.nsqd()
        pool = self.pool()
        pool.discovered([nsqd.address])
        self.network.flush()
        nsqd.dropConnections()
        self.network.advance(10.0)
        self.assertEqual(pool.links, {})
        self.assertEqual(nsqd.connectAttempts, 1)
        self.assertEqual([kind for kind, _ in self.listener.events], ["ready", "lost"])
        nsqd.refuse = True
        pool.discovered([nsqd.address])
        self.network.flush()
        self.assertEqual(pool.links, {})
        self.assertEqual(self.listener.events[-1][0], "failed")
        nsqd.refuse = False
        pool.discovered([nsqd.address])
        self.network.flush()
        self.assertEqual(list(pool.links), [nsqd.address])
        self.assertEqual(nsqd.connectAttempts, 3)

    def test_stopConnecting(self) -> None:
        """
        L{LinkPool.stopConnecting} stops the links without a ready
        connection and ignores later discoveries; L{LinkPool.stop} stops
        every link.
        """
        up, down, found = (self.network.nsqd() for _ in range(3))
        down.refuse = True
        pool = self.pool(up.address, down.address)
        pool.start()
        self.network.flush()
        stopped = pool.stopConnecting()
        self.assertEqual(len(stopped), 1)
        for deferred in stopped:
            self.successResultOf(deferred)
        pool.discovered([found.address])
        self.network.advance(10.0)
        self.assertEqual(down.connectAttempts, 1)
        self.assertEqual(found.connectAttempts, 0)
        self.assertEqual(len(up.connections), 1)
        stopped = pool.stop()
        self.assertEqual(len(stopped), 2)
        self.network.flush()
        for deferred in stopped:
            self.successResultOf(deferred)
        self.assertEqual(up.connections, [])
