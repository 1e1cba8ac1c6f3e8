# -*- test-case-name: tests.nsqd.test_lookupd -*-
"""
nsqd's registration with nsqlookupd: one reconnecting peer per
C{--lookupd-tcp-address}.

On every (re)connection a peer sends the magic (two spaces, C{V1}), IDENTIFYs with
nsqd's broadcast address and ports, then REGISTERs every channel and every
topic, as Go's C{connectCallback} does.  Afterwards topic and channel
creation and deletion become REGISTER / UNREGISTER, and a PING goes out
every 15 seconds.  Connections come from a L{ClientService} with back-off,
so an unreachable lookupd only costs a failed connection attempt now and
then; nothing waits for it.
"""

from __future__ import annotations

import json
import socket
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from zope.interface import implementer

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.error import (
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.internet.interfaces import (
    IDelayedCall,
    IProtocol,
    IProtocolFactory,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.task import LoopingCall
from twisted.logger import ILogObserver, LogEvent
from twisted.logger import Logger as _TwistedLogger
from twisted.python.failure import Failure

from txnsq import NSQ_VERSION
from txnsq._endpoints import splitHostPort
from txnsq._http import quietAgent
from txnsq._logging import Logger
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import Broker, Topic
from txnsq.wire.errors import E_INVALID
from txnsq.wire.lookup import (
    LookupdResponseDecoder,
    ReplyTooLarge,
    encodeIdentify,
    encodePing,
    encodeRegister,
    encodeUnregister,
    isErrorReply,
)
from txnsq.wire.names import isEphemeral, isValidName

__all__ = ["LookupdPeer", "LookupdPeerProtocol", "LookupdPeers"]

_log = Logger(namespace="txnsq.nsqd")

#: Go's lookupd ping interval and its dial / read deadline.
PING_INTERVAL = 15.0
PEER_TIMEOUT = 1.0


class LookupdError(Exception):
    """
    nsqlookupd answered with an error, or did not answer in time.
    """


class LookupdPeerProtocol(Protocol):
    """
    The client side of nsqlookupd's V1 protocol: commands are answered in
    order, one size-prefixed reply each.  It logs nothing itself: its
    L{LookupdPeer} logs each command's outcome under the lookupd's
    configured address, as Go does.
    """

    def __init__(
        self,
        clock: IReactorTime,
        maxReplySize: int,
        onConnect: Callable[[LookupdPeerProtocol], object],
    ) -> None:
        self._clock = clock
        self._onConnect = onConnect
        self._decoder = LookupdResponseDecoder(maxReplySize)
        self._pending: deque[tuple[Deferred[bytes], IDelayedCall]] = deque()
        self.connected = False

    def connectionMade(self) -> None:
        self.connected = True
        assert self.transport is not None
        self.transport.write(b"  V1")
        self._onConnect(self)

    def command(self, data: bytes) -> Deferred[bytes]:
        """
        Send one command; the Deferred fires with its reply's data, error
        replies included (Go reads them as data too), or fails with
        L{LookupdError} (no reply within Go's 1 s read deadline, which also
        drops the connection; a reply over the size limit; the connection
        lost).
        """
        if not self.connected or self.transport is None:
            return fail(LookupdError("not connected"))
        result: Deferred[bytes] = Deferred()
        timer = self._clock.callLater(PEER_TIMEOUT, self._timedOut)
        self._pending.append((result, timer))
        self.transport.write(data)
        return result

    def _timedOut(self) -> None:
        # Go's read deadline: the command fails, the connection is closed.
        assert self.transport is not None
        self._failAll(f"read {_goConnection(self.transport)}: i/o timeout")

    def _failAll(self, reason: str) -> None:
        pending, self._pending = self._pending, deque()
        for result, timer in pending:
            if timer.active():
                timer.cancel()
            result.errback(LookupdError(reason))
        if self.transport is not None:
            self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        try:
            replies = self._decoder.feed(data)
        except ReplyTooLarge as e:
            self._failAll(str(e))
            return
        for reply in replies:
            if not self._pending:
                continue
            result, timer = self._pending.popleft()
            if timer.active():
                timer.cancel()
            result.callback(reply)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.connected = False
        pending, self._pending = self._pending, deque()
        for result, timer in pending:
            if timer.active():
                timer.cancel()
            result.errback(LookupdError("connection lost"))


@implementer(ILogObserver)
def _discard(event: LogEvent) -> None:
    """
    Drop C{event}.
    """


class _QuietClientService(ClientService):
    """
    A L{ClientService} without its own C{Scheduling retry ...} lines:
    L{_LoggedEndpoint} already logs every attempt and failure in Go's
    words, and Go logs nothing else.
    """

    _log = _TwistedLogger(observer=_discard)


class LookupdPeer(MultiService):
    """
    One nsqlookupd, kept connected with back-off.

    @ivar address: the C{host:port} it was configured with.
    """

    def __init__(
        self,
        address: str,
        config: NSQDConfig,
        broker: Broker,
        reactor: Any,
        ready: Any = None,
    ) -> None:
        """
        @param ready: a callable returning a Deferred that fires once nsqd
            listens (its broadcast ports are known then).
        """
        super().__init__()  # type: ignore[no-untyped-call]
        self.address = address
        self._config = config
        self._broker = broker
        self._reactor = reactor
        self._ready = ready or (lambda: succeed(None))
        self._protocol: LookupdPeerProtocol | None = None
        #: The lookupd's HTTP address from its IDENTIFY reply, once known.
        self.httpAddress: str | None = None
        host, port = splitHostPort(address)
        endpoint = _LoggedEndpoint(
            address, HostnameEndpoint(reactor, host, int(port), timeout=PEER_TIMEOUT)
        )
        factory = Factory.forProtocol(
            lambda: LookupdPeerProtocol(reactor, config.max_body_size, self._register)
        )
        factory.noisy = False
        # Registration runs from connectionMade rather than ClientService's
        # prepareConnection: Twisted's client state machine cannot take a
        # disconnection while a preparation is still running.
        self._client = _QuietClientService(
            endpoint,
            factory,
            retryPolicy=backoffPolicy(initialDelay=1.0, maxDelay=PING_INTERVAL),
            clock=reactor,
        )
        self._client.setServiceParent(self)  # type: ignore[no-untyped-call]
        self._pinger = LoopingCall(self._ping)
        self._pinger.clock = reactor

    def startService(self) -> None:
        """
        Connect, and ping every 15 seconds.
        """
        super().startService()  # type: ignore[no-untyped-call]
        self._pinger.start(PING_INTERVAL, now=False)

    def stopService(self) -> Deferred[None]:
        """
        Stop pinging and disconnect.
        """
        if self._pinger.running:
            self._pinger.stop()
        self._protocol = None
        result: Deferred[None] = super().stopService()  # type: ignore[no-untyped-call]
        return result

    async def _registerAll(self, protocol: LookupdPeerProtocol) -> None:
        await self._ready()
        config = self._config
        identity = {
            "version": NSQ_VERSION,
            "tcp_port": config.broadcast_tcp_port,
            "http_port": config.broadcast_http_port,
            "hostname": socket.gethostname(),
            "broadcast_address": config.broadcast_address,
        }
        try:
            reply = await protocol.command(encodeIdentify(identity))
        except LookupdError as e:
            _log.error(
                "LOOKUPD({address}): IDENTIFY - {error}", address=self.address, error=e
            )
            _drop(protocol)
            return
        shown = reply.decode("utf-8", "replace")
        if reply == E_INVALID.encode():
            _log.info(
                "LOOKUPD({address}): lookupd returned {reply}",
                address=self.address,
                reply=shown,
            )
            _drop(protocol)
            return
        try:
            info = json.loads(reply)
        except ValueError:
            info = None
        if not isinstance(info, dict):
            # Go drops a peer whose IDENTIFY reply is not its JSON.
            _log.error(
                "LOOKUPD({address}): parsing response - {reply}",
                address=self.address,
                reply=shown,
            )
            _drop(protocol)
            return
        _log.info(
            "LOOKUPD({address}): peer info {info}",
            address=self.address,
            info=_formatPeerInfo(info),
        )
        if not info.get("broadcast_address"):
            _log.error("LOOKUPD({address}): no broadcast address", address=self.address)
        if info.get("broadcast_address") and info.get("http_port"):
            # Where nsqd asks for a new topic's channels (Go uses the same).
            self.httpAddress = f"{info['broadcast_address']}:{info['http_port']}"
        # From here on topology changes go straight to this connection, so
        # none made while the registrations below are answered is lost.
        self._protocol = protocol
        # Go registers each channel, and a topic on its own only when it has
        # no channel.
        for topic in list(self._broker.topics.values()):
            names = list(topic.channels) or [""]
            for channel in names:
                self.send(encodeRegister(topic.name, channel), "")

    def _register(self, protocol: LookupdPeerProtocol) -> None:
        self._protocol = None
        registering = Deferred.fromCoroutine(self._registerAll(protocol))
        registering.addErrback(self._registrationFailed, protocol)

    def _registrationFailed(
        self, failure: Failure, protocol: LookupdPeerProtocol
    ) -> None:
        _log.error(
            "LOOKUPD({address}): registration failed - {error}",
            address=self.address,
            error=failure.getErrorMessage(),
        )
        _drop(protocol)

    def send(self, command: bytes, branch: str | None = None) -> None:
        """
        Send a REGISTER / UNREGISTER now if connected, logging it as Go
        does (C{LOOKUPD(<address>): <branch> REGISTER t c}); otherwise the
        next connection registers the current state anyway.

        @param branch: C{"topic"} or C{"channel"} for a topology change,
            C{""} for the registrations made on connecting, L{None} to log
            nothing (PING).
        """
        protocol = self._protocol
        if protocol is not None and protocol.connected:
            if branch is not None:
                _log.info(
                    "LOOKUPD({address}): {branch}{command}",
                    address=self.address,
                    branch=f"{branch} " if branch else "",
                    command=_commandText(command),
                )
            protocol.command(command).addCallbacks(
                self._answered,
                self._failed,
                callbackArgs=(command,),
                errbackArgs=(command,),
            )

    def _answered(self, reply: bytes, command: bytes) -> None:
        # Go reads an error reply as data and goes on; it is worth a line.
        if isErrorReply(reply):
            self._failed(
                Failure(LookupdError(reply.decode("utf-8", "replace"))), command
            )

    def _failed(self, failure: Failure, command: bytes) -> None:
        _log.error(
            "LOOKUPD({address}): {command} - {error}",
            address=self.address,
            command=_commandText(command),
            error=failure.getErrorMessage(),
        )

    def _ping(self) -> None:
        if self._protocol is not None and self._protocol.connected:
            _log.debug("LOOKUPD({address}): sending heartbeat", address=self.address)
        self.send(encodePing())


class LookupdPeers(MultiService):
    """
    The set of lookupd peers, following the broker's topology and
    C{PUT /config/nsqlookupd_tcp_addresses}.
    """

    def __init__(
        self, config: NSQDConfig, broker: Broker, reactor: Any, ready: Any = None
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._config = config
        self._broker = broker
        self._reactor = reactor
        self._ready = ready
        self.peers: dict[str, LookupdPeer] = {}
        broker.observers.append(self)
        broker.topicStarter = self.startTopic
        self.setAddresses(list(config.nsqlookupd_tcp_addresses))

    def startTopic(self, topic: Topic) -> None:
        """
        Go's C{GetTopic}: before a new topic delivers anything, ask every
        lookupd for the topic's channels and create the non-ephemeral ones,
        so that messages published now also reach channels whose consumers
        are not connected yet.  The topic holds its messages meanwhile; a
        lookupd that fails or is slow only delays this topic.
        """
        addresses = [p.httpAddress for p in self.peers.values() if p.httpAddress]
        if not addresses:
            if self.peers:
                _log.error(
                    "no available nsqlookupd to query for channels to pre-create "
                    "for topic {topic}",
                    topic=topic.name,
                )
            topic.started(self._reactor.seconds())
            return
        querying = Deferred.fromCoroutine(self._channelsOf(topic.name, addresses))
        querying.addCallback(self._preCreate, topic)

    async def _channelsOf(self, topic: str, addresses: list[str]) -> set[str]:
        import treq

        # Quiet: no "Starting factory" log lines per new topic.
        client = treq.client.HTTPClient(
            quietAgent(
                self._reactor,
                self._config.http_client_connect_timeout,
                persistent=False,
            )
        )
        query = urlencode({"topic": topic})
        channels: set[str] = set()
        for address in addresses:
            try:
                request = client.get(f"http://{address}/channels?{query}")
                request.addTimeout(
                    self._config.http_client_request_timeout, self._reactor
                )
                response = await request
                body = await treq.json_content(response)
                channels.update(
                    name for name in body.get("channels") or () if isinstance(name, str)
                )
            except Exception as e:
                _log.warn(
                    "failed to query nsqlookupd for channels to pre-create for "
                    "topic {topic} - {error}",
                    topic=topic,
                    error=e,
                )
        return channels

    def _preCreate(self, channels: set[str], topic: Topic) -> None:
        now = self._reactor.seconds()
        if not topic.deleted:
            for name in sorted(channels):
                # Go does not create ephemeral channels without a consumer.
                if isValidName(name) and not isEphemeral(name):
                    self._broker.getChannel(topic.name, name, now, False)
        # Even for a topic deleted meanwhile: publishers waiting for it to
        # start must get their answer.
        topic.started(now)

    def stopService(self) -> Deferred[None]:
        """
        Disconnect from every lookupd.
        """
        _log.info("LOOKUP: closing")
        stopping: Deferred[None] = super().stopService()  # type: ignore[no-untyped-call]
        return stopping

    def setAddresses(self, addresses: list[str]) -> None:
        """
        Connect to exactly C{addresses}: new ones are added (and started if
        nsqd runs), dropped ones disconnected.
        """
        self._config.nsqlookupd_tcp_addresses = list(addresses)
        for address in list(self.peers):
            if address not in addresses:
                _log.info("LOOKUP({address}): removing peer", address=address)
                peer = self.peers.pop(address)
                peer.disownServiceParent()  # type: ignore[no-untyped-call]
        for address in addresses:
            if address not in self.peers:
                _log.info("LOOKUP({address}): adding peer", address=address)
                peer = LookupdPeer(
                    address, self._config, self._broker, self._reactor, self._ready
                )
                self.peers[address] = peer
                peer.setServiceParent(self)  # type: ignore[no-untyped-call]

    def topologyChanged(self, event: str, topic: str, channel: str | None) -> None:
        """
        Tell every lookupd about a topic or channel that came or went.
        """
        if event in ("topic_created", "channel_created"):
            command = encodeRegister(topic, channel or "")
        elif event in ("topic_deleted", "channel_deleted"):
            command = encodeUnregister(topic, channel or "")
        else:
            return
        branch = event.partition("_")[0]
        for peer in self.peers.values():
            peer.send(command, branch)


def _drop(protocol: LookupdPeerProtocol) -> None:
    # Go closes the peer; ClientService reconnects with back-off.
    if protocol.transport is not None:
        protocol.transport.loseConnection()


def _commandText(command: bytes) -> str:
    """
    A command as go-nsq's C{Command.String} shows it: its first line
    (C{REGISTER t c}, C{IDENTIFY} without its body).
    """
    return command.partition(b"\n")[0].decode("utf-8", "replace")


def _formatPeerInfo(info: dict[str, Any]) -> str:
    """
    An IDENTIFY reply as Go nsqd prints its C{peerInfo} with C{%+v}.
    """
    return (
        f"{{TCPPort:{info.get('tcp_port', 0)} HTTPPort:{info.get('http_port', 0)} "
        f"Version:{info.get('version', '')} "
        f"BroadcastAddress:{info.get('broadcast_address', '')}}}"
    )


def _goConnection(transport: Any) -> str:
    # A connection as Go's net.OpError names it: "tcp <local>-><remote>".
    local, remote = transport.getHost(), transport.getPeer()
    return (
        f"tcp {_hostPort(local.host, local.port)}->"
        f"{_hostPort(remote.host, remote.port)}"
    )


def _hostPort(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _dialError(address: str, failure: Failure) -> str:
    """
    Why a connection attempt failed, in Go's C{net.Dial} words where the
    reason is a common one (C{dial tcp 127.0.0.1:4160: connect: connection
    refused}).
    """
    if failure.check(ConnectionRefusedError):
        return f"dial tcp {address}: connect: connection refused"
    if failure.check(TimeoutError, TCPTimedOutError):
        return f"dial tcp {address}: i/o timeout"
    if failure.check(DNSLookupError):
        host = address.rpartition(":")[0].strip("[]")
        return f"dial tcp: lookup {host}: no such host"
    return f"dial tcp {address}: {failure.getErrorMessage()}"


@implementer(IStreamClientEndpoint)
class _LoggedEndpoint:
    """
    The endpoint of one lookupd, logging each connection attempt as Go's
    C{lookupPeer.Connect} does (C{LOOKUP connecting to <address>}), and a
    failed one as Go's failed PING is.
    """

    def __init__(self, address: str, endpoint: IStreamClientEndpoint) -> None:
        self._address = address
        self._endpoint = endpoint

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        """
        Log, then connect.
        """
        _log.info("LOOKUP connecting to {address}", address=self._address)
        connecting: Deferred[IProtocol] = self._endpoint.connect(protocolFactory)
        connecting.addErrback(self._failed)
        return connecting

    def _failed(self, failure: Failure) -> Failure:
        if failure.check(CancelledError):
            # nsqd stopped while connecting.
            return failure
        _log.error(
            "LOOKUPD({address}): PING - {error}",
            address=self._address,
            error=_dialError(self._address, failure),
        )
        return failure
