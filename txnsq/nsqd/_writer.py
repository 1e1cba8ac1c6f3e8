# -*- test-case-name: tests.nsqd.test_writer -*-
"""
Writes that go to the socket at once when nothing waits before them.

Twisted's C{FileDescriptor.write} never sends: it appends to the
transport's buffer and registers the socket for writability, and the
reactor sends on the next turn, then unregisters.  With epoll that is two
C{epoll_ctl} calls for every write, even when the kernel would have taken
the bytes at once: five system calls per request/response round trip
(C{epoll_wait}, C{recvfrom}, C{epoll_ctl}, C{sendto}, C{epoll_ctl})
instead of three.

L{DirectWriter} is the seam nsqd writes through instead (what asyncio's
selector transport does): when the transport's own buffer is empty, it
sends on the socket at once, and hands Twisted only what the kernel did not
take, so Twisted registers for writability only then, and keeps doing all
the rest: buffering, pausing and resuming the registered producer, closing
after C{loseConnection}, and finding a broken connection.  It sends
directly only on a transport it knows: a Twisted C{FileDescriptor} with a
C{socket} (TCP and UNIX connections of the posix reactors), with no TLS,
and not half-closed or closing; anything else (TLS, other reactors, test
transports) gets C{transport.write} as before.

It reads the transport's buffer state (C{dataBuffer}, C{offset},
C{_tempDataLen}, C{TLS}, C{_writeDisconnected}), which Twisted's
C{FileDescriptor} has kept for a decade; a transport lacking any of them
is written to the ordinary way.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from errno import EAGAIN, EINTR, ENOBUFS, EWOULDBLOCK
from typing import Any

from twisted.internet.abstract import FileDescriptor
from twisted.internet.interfaces import ITransport

__all__ = ["DirectWriter"]

# send() found the kernel's buffer full: what was not taken waits in
# Twisted's buffer for writability, as every write did before.
_RETRY = frozenset({EAGAIN, EWOULDBLOCK, EINTR, ENOBUFS})

# What a transport needs for a direct send (see the module docstring).
_STATE = (
    "socket",
    "dataBuffer",
    "offset",
    "_tempDataLen",
    "_writeDisconnected",
    "_writeDisconnecting",
)


# Writes of at least this many bytes in a few pieces (a large message's
# header and body) go out in one gathering send (sendmsg, writev's
# counterpart) instead of being joined into a new string first; smaller
# ones are joined, which costs less than building the gather list.
GATHER_BYTES = 64 * 1024
# At most this many pieces per gathering send (IOV_MAX is 1024 on Linux).
GATHER_PIECES = 64
_CAN_GATHER = hasattr(socket.socket, "sendmsg")


def _directTarget(transport: ITransport) -> Any:
    # The transport itself when it can take direct sends, else None.
    if not isinstance(transport, FileDescriptor):
        return None
    if not all(hasattr(transport, name) for name in _STATE):
        return None
    if getattr(transport, "_sendmsgQueue", None):
        # A UNIX socket with file descriptors to pass: Twisted's path.
        return None
    return transport


class DirectWriter:
    """
    Writes bytes to a transport, to the socket at once when nothing waits
    in the transport's buffer.

    @ivar transport: the transport written to.
    @ivar directSends: how many writes went out directly (whole or in
        part); the rest went through C{transport.write}.
    """

    __slots__ = ("_target", "directSends", "transport")

    def __init__(self, transport: ITransport) -> None:
        self.transport = transport
        self.directSends = 0
        self._target = _directTarget(transport)

    def _idle(self) -> Any:
        # The transport, when a send now keeps the order of the stream:
        # plaintext, open, and nothing waiting in its buffer.
        target = self._target
        if (
            target is None
            or getattr(target, "TLS", False)
            or not target.connected
            or target.disconnecting
            or target._writeDisconnected
            or target._writeDisconnecting
            or target._tempDataLen
            or len(target.dataBuffer) != target.offset
        ):
            return None
        return target

    def write(self, data: bytes) -> None:
        """
        Write C{data} after everything written before.
        """
        target = self._idle()
        if target is None or not data:
            self.transport.write(data)
            return
        self._send(target, data)

    def writeSequence(self, data: Sequence[bytes]) -> None:
        """
        Write C{data}'s strings, in order, after everything written before.
        """
        target = self._idle()
        if target is None or not data:
            self.transport.writeSequence(data)
        elif len(data) == 1:
            self._send(target, data[0])
        elif (
            _CAN_GATHER
            and len(data) <= GATHER_PIECES
            and sum(map(len, data)) >= GATHER_BYTES
        ):
            self._gather(target, data)
        else:
            self._send(target, b"".join(data))

    def _gather(self, target: Any, data: Sequence[bytes]) -> None:
        # A large message's body goes to the kernel as it is: no copy of it
        # joined to its header.
        try:
            sent = target.socket.sendmsg(data)
        except OSError as e:
            if e.errno not in _RETRY:
                self.transport.writeSequence(data)
                return
            sent = 0
        self.directSends += 1
        rest: list[bytes | memoryview] = []
        for index, piece in enumerate(data):
            if sent < len(piece):
                rest.append(memoryview(piece)[sent:] if sent else piece)
                rest.extend(data[index + 1 :])
                break
            sent -= len(piece)
        if rest:
            # What the kernel did not take waits in Twisted's buffer, as
            # one string: Twisted would join the pieces on its next send
            # anyway, and keeps one string as it is (join returns a lone
            # bytes piece itself, so an untouched piece is not copied).
            self.transport.write(b"".join(rest))

    def _send(self, target: Any, data: bytes) -> None:
        try:
            sent = target.socket.send(data)
        except OSError as e:
            if e.errno not in _RETRY:
                # The connection is broken: Twisted's write path meets the
                # same error on its next attempt and loses the connection
                # the usual way (connectionLost with the reason).
                self.transport.write(data)
                return
            sent = 0
        self.directSends += 1
        if sent < len(data):
            # Twisted registers for writability, and pauses the producer if
            # this fills its buffer.
            self.transport.write(data[sent:])
