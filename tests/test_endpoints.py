"""
Tests for L{txnsq._endpoints}: Go listen addresses as endpoints, and
L{ListeningService}.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, succeed
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from txnsq._endpoints import (
    ListenError,
    ListeningService,
    endpointDescription,
    formatAddress,
    listeningService,
    splitHostPort,
)


class AddressTests(SynchronousTestCase):
    """
    Go C{host:port} strings and Twisted endpoint strings.
    """

    def test_splitHostPort(self) -> None:
        """
        Addresses split as Go's C{net.SplitHostPort} splits them.
        """
        cases = {
            "0.0.0.0:4150": ("0.0.0.0", "4150"),
            ":4150": ("", "4150"),
            "[::1]:4150": ("::1", "4150"),
            "localhost:": ("localhost", ""),
            "[fe80::1%eth0]:80": ("fe80::1%eth0", "80"),
        }
        for address, parts in cases.items():
            self.assertEqual(splitHostPort(address), parts, address)

    def test_splitHostPortErrors(self) -> None:
        """
        What Go rejects is rejected.
        """
        for address in ("nsqd.sock", "::1:4150", "[::1]", "[::1]x:1", "a[b:1", "a]:1"):
            self.assertRaises(ValueError, splitHostPort, address)

    def test_descriptions(self) -> None:
        """
        Go addresses become endpoint strings: interfaces escaped, C{:port}
        for all interfaces, an empty port for any port, and anything that is
        not C{host:port} a unix socket path.
        """
        cases = {
            "0.0.0.0:4150": "tcp:4150:interface=0.0.0.0",
            "127.0.0.1:0": "tcp:0:interface=127.0.0.1",
            ":4150": "tcp:4150",
            "127.0.0.1:": "tcp:0:interface=127.0.0.1",
            "[::1]:4150": "tcp6:4150:interface=\\:\\:1",
            "[::]:4150": "tcp6:4150:interface=\\:\\:",
            "localhost:4150": "tcp:4150:interface=localhost",
            "/tmp/nsqd.sock": "unix:/tmp/nsqd.sock",
            "nsqd.sock": "unix:nsqd.sock",
            "/tmp/x:y:z\\w": "unix:/tmp/x\\:y\\:z\\\\w",
        }
        for address, description in cases.items():
            self.assertEqual(endpointDescription(address), description, address)

    def test_badPort(self) -> None:
        """
        Named or out-of-range ports are refused.
        """
        self.assertRaises(ValueError, endpointDescription, "host:http")
        self.assertRaises(ValueError, endpointDescription, "host:65536")

    def test_formatAddress(self) -> None:
        """
        Bound addresses print as Go's C{net.Addr.String}.
        """
        self.assertEqual(
            formatAddress(IPv4Address("TCP", "127.0.0.1", 4150)), "127.0.0.1:4150"
        )
        self.assertEqual(formatAddress(IPv6Address("TCP", "::1", 4150)), "[::1]:4150")
        self.assertEqual(formatAddress(UNIXAddress(b"/tmp/n.sock")), "/tmp/n.sock")


@implementer(IListeningPort)
class _Port:
    """
    A listening port whose stop can be held.
    """

    def __init__(self, stopped: Deferred[None] | None = None) -> None:
        self.stopped = stopped
        self.stopCalls = 0

    def startListening(self) -> None:
        """
        Already listening.
        """

    def stopListening(self) -> Deferred[None] | None:
        """
        Count the call; return the held Deferred if any.
        """
        self.stopCalls += 1
        return self.stopped

    def getHost(self) -> IPv4Address:
        """
        A fixed address.
        """
        return IPv4Address("TCP", "127.0.0.1", 4151)


@implementer(IStreamServerEndpoint)
class _Endpoint:
    """
    An endpoint whose C{listen} result the test controls.
    """

    def __init__(self, result: Deferred[Any]) -> None:
        self.result = result
        self.factories: list[Any] = []

    def listen(self, factory: Any) -> Deferred[Any]:
        """
        Record the factory; return the prepared result.
        """
        self.factories.append(factory)
        return self.result


class ListeningServiceTests(SynchronousTestCase):
    """
    L{ListeningService} listens, reports the bound port and logs Go's lines.
    """

    def setUp(self) -> None:
        """
        Capture log events; a trivial factory.
        """
        # What EventLoggingObserver.createWithCleanup does; it is annotated
        # for trial's TestCase only, and this is a SynchronousTestCase.
        self.events = EventLoggingObserver()
        globalLogPublisher.addObserver(self.events)
        self.addCleanup(globalLogPublisher.removeObserver, self.events)
        self.factory = Factory.forProtocol(Protocol)

    def _messages(self) -> list[str]:
        from twisted.logger import formatEvent

        return [formatEvent(event) for event in self.events]

    def test_listensOnStart(self) -> None:
        """
        Starting listens on the Go address with the real reactor API, and
        L{ListeningService.whenListening} gives the port.
        """
        reactor = MemoryReactorClock()
        service = listeningService(reactor, "127.0.0.1:4150", self.factory)
        waiting = service.whenListening()
        self.assertNoResult(waiting)
        service.privilegedStartService()
        service.startService()
        self.assertEqual(reactor.tcpServers, [(4150, self.factory, 50, "127.0.0.1")])
        port = self.successResultOf(waiting)
        host = port.getHost()
        assert isinstance(host, IPv4Address)
        self.assertEqual(host.port, 4150)
        self.assertIdentical(self.successResultOf(service.whenListening()), port)
        self.assertIn("TCP: listening on 0.0.0.0:4150", self._messages())

    def test_unixSocket(self) -> None:
        """
        A path listens on a unix socket.
        """
        reactor = MemoryReactorClock()
        service = listeningService(reactor, "/tmp/nsqd.sock", self.factory, "HTTP")
        service.startService()
        self.assertEqual(reactor.unixServers[0][0], "/tmp/nsqd.sock")

    def test_labelAndNamespace(self) -> None:
        """
        The label starts Go's line and the events carry the namespace given.
        """
        service = ListeningService(
            _Endpoint(succeed(_Port())), self.factory, "HTTP", "x", "txnsq.nsqd"
        )
        service.startService()
        self.assertIn("HTTP: listening on 127.0.0.1:4151", self._messages())
        self.assertEqual(self.events[-1]["log_namespace"], "txnsq.nsqd")

    def test_synchronousFailureRaises(self) -> None:
        """
        If the endpoint fails at once (address in use), starting raises
        L{ListenError} with Go's wording, and L{whenListening} fails.
        """
        endpoint = _Endpoint(Deferred())
        endpoint.result.errback(CannotListenError("127.0.0.1", 4150, OSError("in use")))
        service = ListeningService(endpoint, self.factory, "TCP", "127.0.0.1:4150")
        with self.assertRaises(ListenError) as raised:
            service.privilegedStartService()
        self.assertTrue(
            str(raised.exception).startswith("listen (127.0.0.1:4150) failed - ")
        )
        self.failureResultOf(service.whenListening(), CannotListenError)

    def test_laterFailureLogged(self) -> None:
        """
        A failure after starting is logged and fails the waiters.
        """
        endpoint = _Endpoint(Deferred())
        service = ListeningService(endpoint, self.factory, "TCP", "x:1")
        service.startService()
        waiting = service.whenListening()
        endpoint.result.errback(CannotListenError("x", 1, OSError("no")))
        self.failureResultOf(waiting, CannotListenError)
        self.assertEqual(len(self.flushLoggedErrors(CannotListenError)), 1)

    def test_stopWaitsForPort(self) -> None:
        """
        Stopping stops the port, fires when the port has stopped, and then
        logs Go's C{closing} line.
        """
        held: Deferred[None] = Deferred()
        port = _Port(held)
        service = ListeningService(_Endpoint(succeed(port)), self.factory, "TCP")
        service.startService()
        stopping = service.stopService()
        self.assertEqual(port.stopCalls, 1)
        self.assertNoResult(stopping)
        self.assertNotIn("TCP: closing 127.0.0.1:4151", self._messages())
        held.callback(None)
        self.successResultOf(stopping)
        self.assertIn("TCP: closing 127.0.0.1:4151", self._messages())
        self.assertFalse(service.running)

    def test_stopBeforeListening(self) -> None:
        """
        Stopping while the listen is pending cancels it quietly.
        """
        pending: Deferred[Any] = Deferred()
        service = ListeningService(_Endpoint(pending), self.factory)
        service.startService()
        waiting = service.whenListening()
        self.successResultOf(service.stopService())
        self.failureResultOf(waiting)
        self.assertEqual(self.flushLoggedErrors(), [])
