"""
Tests for L{txnsq._http._client}: HTTP clients that log nothing per
connection.
"""

from __future__ import annotations

from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txnsq._http import QuietConnectionPool, quietAgent


class QuietAgentTests(SynchronousTestCase):
    """
    L{quietAgent}'s connections log no C{Starting factory} / C{Stopping
    factory} lines (Twisted's pool logs two per connection otherwise).
    """

    def test_noFactoryLines(self) -> None:
        """
        Starting and stopping the factory of a connection the agent opens
        logs nothing.
        """
        events = EventLoggingObserver()
        globalLogPublisher.addObserver(events)
        self.addCleanup(globalLogPublisher.removeObserver, events)
        reactor = MemoryReactorClock()
        agent = quietAgent(reactor, 3.0)
        agent.request(b"GET", b"http://127.0.0.1:4161/channels?topic=t")
        [(host, port, factory, timeout, _)] = reactor.tcpClients
        self.assertEqual((host, port, timeout), ("127.0.0.1", 4161, 3.0))
        factory.doStart()
        factory.doStop()
        self.assertEqual([formatEvent(event) for event in events], [])

    def test_ownPool(self) -> None:
        """
        Each agent has its own L{QuietConnectionPool}, persistent or not as
        asked, never treq's global pool.
        """
        reactor = MemoryReactorClock()
        first = quietAgent(reactor, persistent=True)
        second = quietAgent(reactor, persistent=False)
        pools = [first._pool, second._pool]
        self.assertIsInstance(pools[0], QuietConnectionPool)
        self.assertIsNot(pools[0], pools[1])
        self.assertEqual([pool.persistent for pool in pools], [True, False])
