# -*- test-case-name: tests.nsqd.test_protocol -*-
"""
nsqd's TCP side: Twisted glue between sockets, the sans-IO command decoder
(L{txnsq.wire.commands}) and the broker (L{txnsq.nsqd.state}).

Cut along Go nsqd's seams:

  - L{NSQDFactory} is Go's C{tcp.go}: every accepted connection first
    sends a 4-byte magic naming its protocol.
  - L{NSQDProtocol} (L{txnsq.nsqd._protocolv2}) reads it, answering
    C{E_BAD_PROTOCOL} and closing for anything but the V2 magic (two
    spaces, then C{V2}); from then on it is Go's C{protocol_v2.go}: the
    command records and what each does.  The one object is the
    transport's protocol throughout (no wrapper that hands over: a
    connection costs one object less).
  - L{ClientV2} (L{txnsq.nsqd._clientv2}) is the state of Go's
    C{client_v2.go}; its delivery side (the broker's consumer, and the
    transport's producer) is L{txnsq.nsqd._pump}, its writes
    L{txnsq.nsqd._output}, its timers L{txnsq.nsqd._heartbeat}.

Writes are coalesced: message frames for a connection collect in a list
and the factory flushes every such list once per reactor turn with one
write each; responses to what a client sent join them and go out when its
read has been handled, so pipelined commands get one write; the write goes
to the socket at once when nothing waits (L{txnsq.nsqd._writer}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory

from txnsq.nsqd._clientv2 import (
    STATE_CLOSING,
    STATE_INIT,
    STATE_SUBSCRIBED,
    ClientV2,
)
from txnsq.nsqd._heartbeat import HeartbeatScheduler
from txnsq.nsqd._output import ClientOutput
from txnsq.nsqd._protocolv2 import MAGIC_V2, NSQDProtocol
from txnsq.nsqd._tls import serverTLSOptions
from txnsq.nsqd.auth import AuthClient
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.state import Broker
from txnsq.wire.identify import IdentifyLimits

if TYPE_CHECKING:
    from twisted.internet.interfaces import IAddress

__all__ = [
    "MAGIC_V2",
    "STATE_CLOSING",
    "STATE_INIT",
    "STATE_SUBSCRIBED",
    "ClientV2",
    "NSQDFactory",
    "NSQDProtocol",
    "identifyLimits",
]


def identifyLimits(config: NSQDConfig) -> IdentifyLimits:
    """
    The IDENTIFY bounds that follow from nsqd's settings.
    """
    return IdentifyLimits(
        defaultHeartbeatInterval=int(config.client_timeout * 1000) // 2,
        maxHeartbeatInterval=int(config.max_heartbeat_interval * 1000),
        defaultOutputBufferSize=16384,
        maxOutputBufferSize=config.max_output_buffer_size,
        defaultOutputBufferTimeout=int(config.output_buffer_timeout * 1000),
        minOutputBufferTimeout=int(config.min_output_buffer_timeout * 1000),
        maxOutputBufferTimeout=int(config.max_output_buffer_timeout * 1000),
        defaultMsgTimeout=int(config.msg_timeout * 1000),
        maxMsgTimeout=int(config.max_msg_timeout * 1000),
        maxRdyCount=config.max_rdy_count,
        maxDeflateLevel=config.max_deflate_level,
        tlsAvailable=config.tlsEnabled,
        snappyEnabled=config.snappy,
        deflateEnabled=config.deflate,
        authRequired=config.authEnabled,
    )


class NSQDFactory(Factory):
    """
    Makes an L{NSQDProtocol} per connection, all sharing one broker, and flushes their coalesced output once per reactor turn.

    @ivar connections: the V2 connections (those past their magic).
    @ivar awaitingMagic: the connections still reading their magic (each
        open connection is in one of the two sets).
    @ivar dirty: the outputs with frames waiting for L{flushAll}.
    @ivar reading: non-zero while a connection's received bytes are
        handled; the connection flushes every dirty output once that is
        done, so responses written meanwhile wait for it.
    """

    def __init__(self, broker: Broker, config: NSQDConfig, clock: IReactorTime) -> None:
        self.broker = broker
        self.config = config
        self.clock = clock
        self.identifyLimits = identifyLimits(config)
        self.maxReqTimeoutMs = int(config.max_req_timeout * 1000)
        self.tlsOptions = serverTLSOptions(config)
        self.authClient = AuthClient(config, clock) if config.authEnabled else None
        self.connections: set[NSQDProtocol] = set()
        self.awaitingMagic: set[NSQDProtocol] = set()
        self.dirty: set[ClientOutput] = set()
        # One timer for every connection's heartbeats and read deadline.
        self.heartbeats = HeartbeatScheduler(clock)
        self.reading = 0
        self._flushCall: IDelayedCall | None = None
        self._workCall: IDelayedCall | None = None
        #: Set by L{disconnectAll}: connections end because nsqd stops.
        self.stopping = False
        broker.setWakeup(self._wakeBroker)

    def _wakeBroker(self) -> None:
        # Topic backlogs are handed to channels one batch per reactor turn,
        # so a large backlog never stalls other connections.
        if self._workCall is None:
            self._workCall = self.clock.callLater(0, self._brokerWork)

    def _brokerWork(self) -> None:
        self._workCall = None
        self.broker.work(self.clock.seconds())

    def buildProtocol(self, addr: IAddress) -> NSQDProtocol:  # type: ignore[override]
        """
        A connection, which first reads its magic.
        """
        return NSQDProtocol(self)

    def markDirty(self, output: ClientOutput) -> None:
        """
        C{output} has buffered frames: flush them at the end of this
        reactor turn (one timer per turn, not per message).
        """
        self.dirty.add(output)
        # During a read, the reader flushes when it is done.
        if self._flushCall is None and not self.reading:
            self._flushCall = self.clock.callLater(0, self.flushAll)

    def markClean(self, output: ClientOutput) -> None:
        """
        C{output} has nothing buffered any more.
        """
        self.dirty.discard(output)

    def flushAll(self) -> None:
        """
        Write every connection's buffered frames.
        """
        if self._flushCall is not None:
            if self._flushCall.active():
                self._flushCall.cancel()
            self._flushCall = None
        dirty, self.dirty = self.dirty, set()
        for output in dirty:
            output.flush()

    def disconnectAll(self) -> None:
        """
        Close every client connection (shutdown).
        """
        self.stopping = True
        self.flushAll()
        for connection in [*self.awaitingMagic, *self.connections]:
            if connection.transport is not None:
                connection.transport.loseConnection()
