# -*- test-case-name: tests.nsqd.test_clientv2 -*-
"""
What nsqd knows about one client connection: Go's C{clientV2} without its
I/O.

L{ClientV2} holds the IDENTIFY settings, RDY and the message counters, the
stream upgrades, the auth server's answer and the connection's state; the
TCP protocol (L{txnsq.nsqd._protocolv2}) changes it as commands arrive, and
C{/stats} (L{txnsq.nsqd.stats}) reads it.  It also answers the question
Go's command handlers ask first, whether the connection's state allows a
command at all (L{ClientV2.admitCommand}, the decoder's gate).

Plain Python: no Twisted, so it can be built and checked in tests alone.
"""

from __future__ import annotations

from typing import Generic, Optional, Protocol, TypeVar, overload

import attrs

from txnsq.nsqd._authorizations import Authorizations
from txnsq.nsqd.config import NSQDConfig
from txnsq.wire.errors import E_INVALID, ProtocolError
from txnsq.wire.identify import IdentifyResult

__all__ = [
    "IDENTIFIED",
    "STATE_CLOSING",
    "STATE_INIT",
    "STATE_SUBSCRIBED",
    "ClientV2",
    "TLSConnection",
    "formatRemoteAddress",
]

# Connection states, numbered as Go numbers them (and /stats reports them).
STATE_INIT = 0
STATE_SUBSCRIBED = 3
STATE_CLOSING = 4

# The state each command needs (commands not listed need none): FIN, REQ
# and TOUCH a subscription (or CLS sent); RDY a subscription, and is
# ignored after CLS; IDENTIFY and AUTH come before SUB; SUB once, with
# heartbeats; CLS after SUB.
_IN_FLIGHT, _READY, _BEFORE_SUB, _SUB, _CLS = range(5)
_STATE_RULES = {
    b"FIN": _IN_FLIGHT,
    b"REQ": _IN_FLIGHT,
    b"TOUCH": _IN_FLIGHT,
    b"RDY": _READY,
    b"IDENTIFY": _BEFORE_SUB,
    b"AUTH": _BEFORE_SUB,
    b"SUB": _SUB,
    b"CLS": _CLS,
}

# Go's default output buffer (defaultBufferSize).
_DEFAULT_OUTPUT_BUFFER_SIZE = 16384

# The publish counts of every client that has published nothing: shared,
# never written to (L{ClientV2.published} gives a client its own dict), so
# that an idle consumer holds no dict of its own.
_NO_PUBLISHES: dict[str, int] = {}

# The outcome of a client's first IDENTIFY, once applied: the settings a
# later IDENTIFY needs of it (its defaults) are the client's own fields, so
# nothing more is kept per client (L{ClientV2.lastIdentify} rebuilds them).
IDENTIFIED = IdentifyResult(
    clientID=None,
    hostname=None,
    userAgent="",
    featureNegotiation=False,
    heartbeatInterval=0,
    outputBufferSize=0,
    outputBufferTimeout=0,
    sampleRate=0,
    msgTimeout=0,
    tls=False,
    snappy=False,
    deflate=False,
    deflateLevel=0,
)

# Timeouts and intervals in seconds, shared: most clients have the same
# few, and each would otherwise hold float objects of its own (24 bytes
# each, thousands of idle connections).  Bounded: the values are the
# clients' to choose.
_SHARED_SECONDS: dict[float, float] = {}
_MAX_SHARED_SECONDS = 256


def _shared(seconds: float) -> float:
    shared = _SHARED_SECONDS.get(seconds)
    if shared is not None:
        return shared
    if len(_SHARED_SECONDS) < _MAX_SHARED_SECONDS:
        _SHARED_SECONDS[seconds] = seconds
    return seconds


class TLSConnection(Protocol):
    """
    The parts of a connection's pyOpenSSL C{Connection} C{/stats} reads
    (what a transport's C{getHandle} gives once TLS has started).
    """

    def get_cipher_name(self) -> str | None:
        """
        The OpenSSL name of the negotiated cipher.
        """

    def get_protocol_version_name(self) -> str:
        """
        The OpenSSL name of the negotiated protocol version.
        """

    def get_alpn_proto_negotiated(self) -> bytes:
        """
        The ALPN protocol negotiated, if any.
        """


@attrs.define(eq=False)
class _Upgrades:
    """
    What few clients have (L{ClientV2}'s properties of the same names).
    """

    tls: bool = False
    tlsConnection: TLSConnection | None = None
    snappy: bool = False
    deflate: bool = False
    deflateLevel: int = 0
    authSecret: bytes = b""
    authorizations: Authorizations | None = None


# The upgrades of every client that has none: shared, never written to.
_NO_UPGRADES = _Upgrades()

_T = TypeVar("_T")


class _Upgrade(Generic[_T]):
    """
    A field of L{_Upgrades} read and set as an attribute of L{ClientV2}:
    a client shares L{_NO_UPGRADES} until a value other than the default is
    set, and then has an object of its own.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        self._default = getattr(_NO_UPGRADES, name)

    @overload
    def __get__(self, client: None, owner: type) -> _Upgrade[_T]: ...

    @overload
    def __get__(self, client: ClientV2, owner: type) -> _T: ...

    def __get__(self, client: ClientV2 | None, owner: type) -> _T | _Upgrade[_T]:
        if client is None:
            return self
        value: _T = getattr(client._upgrades, self._name)
        return value

    def __set__(self, client: ClientV2, value: _T) -> None:
        upgrades = client._upgrades
        if upgrades is _NO_UPGRADES:
            if value is self._default or value == self._default:
                # A default set on a client without upgrades changes nothing.
                return
            upgrades = client._upgrades = _Upgrades()
        setattr(upgrades, self._name, value)


@attrs.define(eq=False)
class ClientV2:
    """
    One client's state, as Go's C{clientV2} holds it.

    Times are in seconds.

    @ivar remoteAddress: the peer's C{host:port} (IPv6 hosts in brackets).
    @ivar connectTime: when the connection was made (the clock's seconds).
    @ivar clientID: IDENTIFY's C{client_id}; the peer's host before.
    @ivar hostname: IDENTIFY's C{hostname}; the peer's host before.
    @ivar userAgent: IDENTIFY's C{user_agent}.
    @ivar state: L{STATE_INIT}, L{STATE_SUBSCRIBED} or L{STATE_CLOSING}.
    @ivar readyCount: the client's RDY.
    @ivar inFlightCount: messages delivered and not yet finished.
    @ivar messageCount: messages delivered.
    @ivar finishCount: messages finished.
    @ivar requeueCount: messages requeued by the client.
    @ivar pubCounts: messages published, by topic, in publishing order.
    @ivar sampleRate: IDENTIFY's C{sample_rate} (0: every message).
    @ivar msgTimeout: how long a delivered message may stay in flight.
    @ivar heartbeatInterval: the heartbeat interval (0 or less: none); the
        read deadline is twice this.
    @ivar outputBufferSize: how many bytes of messages are buffered before
        they are written.
    @ivar outputBufferTimeout: IDENTIFY's C{output_buffer_timeout}.
    @ivar tlsRequired: whether nsqd refuses every command but IDENTIFY
        until TLS has started (C{--tls-required}).
    @ivar _identity: C{None} before IDENTIFY; L{IDENTIFIED} after one (its
        settings are this client's fields); after more, the latest one's
        outcome.  Read it with L{lastIdentify}.
    """

    remoteAddress: str
    connectTime: float
    msgTimeout: float
    heartbeatInterval: float
    outputBufferTimeout: float
    clientID: str = ""
    hostname: str = ""
    userAgent: str = ""
    state: int = STATE_INIT
    readyCount: int = 0
    inFlightCount: int = 0
    messageCount: int = 0
    finishCount: int = 0
    requeueCount: int = 0
    pubCounts: dict[str, int] = _NO_PUBLISHES
    sampleRate: int = 0
    outputBufferSize: int = _DEFAULT_OUTPUT_BUFFER_SIZE
    tlsRequired: bool = False
    _identity: IdentifyResult | None = None
    _upgrades: _Upgrades = _NO_UPGRADES

    # The stream upgrades and the auth server's answer, which most clients
    # never have: one shared object of defaults until one is set (7 slots
    # less a client).  Not annotated, so not attrs fields.
    tls = _Upgrade[bool]()
    tlsConnection = _Upgrade[Optional[TLSConnection]]()
    snappy = _Upgrade[bool]()
    deflate = _Upgrade[bool]()
    deflateLevel = _Upgrade[int]()
    authSecret = _Upgrade[bytes]()
    authorizations = _Upgrade[Optional[Authorizations]]()

    @classmethod
    def connected(
        cls, config: NSQDConfig, host: str, port: int, now: float
    ) -> ClientV2:
        """
        A client just connected from C{host:port} (Go's C{newClientV2}):
        named after its host until IDENTIFY, with nsqd's defaults.
        """
        return cls(
            remoteAddress=formatRemoteAddress(host, port),
            connectTime=now,
            clientID=host,
            hostname=host,
            msgTimeout=config.msg_timeout,
            heartbeatInterval=_shared(config.client_timeout / 2),
            outputBufferTimeout=config.output_buffer_timeout,
            tlsRequired=config.tls_required != 0,
        )

    def admitCommand(self, name: bytes) -> ProtocolError | bool:
        """
        The checks Go's handlers make before they parse a command's
        parameters (a L{txnsq.wire.commands.CommandGate}): the TLS policy,
        then the state each command needs.

        @return: C{True} to decode the command, C{False} to ignore it (RDY
            after CLS), or the fatal error that refuses it.
        """
        if self.tlsRequired and not self.tls and name != b"IDENTIFY":
            text = name.decode("utf-8", "surrogateescape")
            return ProtocolError(
                E_INVALID, f"cannot {text} in current state (TLS required)"
            )
        rule = _STATE_RULES.get(name)
        if rule is None:
            # Publishing (and NOP) is allowed in every state.
            return True
        state = self.state
        if rule == _IN_FLIGHT:
            if state == STATE_INIT:
                return _wrongState(name)
        elif rule == _READY:
            if state == STATE_CLOSING:
                # Go ignores readiness changes once CLS was sent.
                return False
            if state != STATE_SUBSCRIBED:
                return _wrongState(name)
        elif rule == _BEFORE_SUB:
            if state != STATE_INIT:
                return _wrongState(name)
        elif rule == _SUB:
            if state != STATE_INIT:
                return _wrongState(name)
            if self.heartbeatInterval <= 0:
                return ProtocolError(E_INVALID, "cannot SUB with heartbeats disabled")
        elif state != STATE_SUBSCRIBED:  # _CLS
            return _wrongState(name)
        return True

    # A client is its connection's command gate: the decoder keeps the
    # client rather than a bound method of it (64 bytes less a connection).
    __call__ = admitCommand

    def applyIdentify(self, result: IdentifyResult) -> bool:
        """
        Take IDENTIFY's outcome.  Go applies every IDENTIFY to the client in
        place (what C{/stats}, the read deadline and SUB's heartbeat check
        see), but its message pump takes the heartbeat ticker, buffering,
        sampling and message timeout from the first IDENTIFY only.

        @return: whether this was the first IDENTIFY (the caller then
            restarts the heartbeat ticker with L{heartbeatInterval}).
        """
        self.clientID = result.clientID or ""
        self.hostname = result.hostname or ""
        self.userAgent = result.userAgent
        self.heartbeatInterval = _shared(result.heartbeatInterval / 1000.0)
        first = self._identity is None
        if first:
            self.outputBufferSize = result.outputBufferSize
            self.outputBufferTimeout = _shared(result.outputBufferTimeout / 1000.0)
            self.sampleRate = result.sampleRate
            self.msgTimeout = _shared(result.msgTimeout / 1000.0)
            # Nothing more to keep: the fields above are its settings.
            self._identity = IDENTIFIED
        else:
            self._identity = result
        return first

    def lastIdentify(self) -> IdentifyResult | None:
        """
        The settings the latest IDENTIFY gave this client, which a later
        one keeps where it sends a zero, as Go applies IDENTIFY in place
        (C{negotiateIdentify}'s C{current}); C{None} before IDENTIFY.

        After the first IDENTIFY they are rebuilt from this client's fields
        (without C{featureNegotiation}, which nothing reads back).
        """
        identity = self._identity
        if identity is not IDENTIFIED:
            return identity
        return IdentifyResult(
            clientID=self.clientID,
            hostname=self.hostname,
            userAgent=self.userAgent,
            featureNegotiation=False,
            heartbeatInterval=round(self.heartbeatInterval * 1000),
            outputBufferSize=self.outputBufferSize,
            outputBufferTimeout=round(self.outputBufferTimeout * 1000),
            sampleRate=self.sampleRate,
            msgTimeout=round(self.msgTimeout * 1000),
            tls=self.tls,
            snappy=self.snappy,
            deflate=self.deflate,
            deflateLevel=self.deflateLevel,
        )

    def published(self, topic: str, count: int) -> None:
        """
        Count C{count} messages published to C{topic} (Go's
        C{PublishedMessage}).
        """
        counts = self.pubCounts
        if counts is _NO_PUBLISHES:
            counts = self.pubCounts = {}
        counts[topic] = counts.get(topic, 0) + count

    def authorized(self) -> bool:
        """
        Whether the auth server granted anything (Go's
        C{HasAuthorizations}).
        """
        return self.authorizations is not None and bool(self.authorizations.entries)


def formatRemoteAddress(host: str, port: int) -> str:
    """
    C{host:port} as Go shows a peer's address (IPv6 hosts in brackets).
    """
    bracketed = f"[{host}]" if ":" in host else host
    return f"{bracketed}:{port}"


def _wrongState(name: bytes) -> ProtocolError:
    text = name.decode("utf-8", "surrogateescape")
    return ProtocolError(E_INVALID, f"cannot {text} in current state")
