"""
A TCP relay that holds every byte for a fixed time before passing it on:
the cluster tests' stand-in for C{tc qdisc ... netem delay}, which this
machine's kernel does not have.

  python -m tests.cluster._relay --delay SECONDS LISTEN=TARGET [LISTEN=TARGET ...]

Each C{LISTEN} (C{host:port}, the host's public address) accepts
connections and joins each to a new connection to C{TARGET} (the daemon,
bound to C{127.0.0.1} in the same namespace).  Data in either direction is
written on after C{SECONDS}, in order, and a close follows the data before
it, so a client sees the round trip grow by twice the delay, as with netem
on both hosts' links.  It prints one JSON line per listener
(C{{"event": "listening", "address": ...}}) once bound.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from typing import Any

from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure


class _DelayLine:
    """
    Writes to C{protocol}'s transport C{delay} seconds after each write,
    in order; a close is queued like data.
    """

    def __init__(self, clock: IReactorTime, delay: float) -> None:
        self.clock = clock
        self.delay = delay
        self.target: Protocol | None = None
        self._queue: deque[tuple[float, bytes | None]] = deque()
        self._timer: IDelayedCall | None = None

    def put(self, data: bytes | None) -> None:
        self._queue.append((self.clock.seconds() + self.delay, data))
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None or not self._queue or self.target is None:
            return
        due = self._queue[0][0]
        self._timer = self.clock.callLater(
            max(0.0, due - self.clock.seconds()), self._flush
        )

    def _flush(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        while self._queue and self._queue[0][0] <= now:
            _, data = self._queue.popleft()
            transport = self.target.transport if self.target is not None else None
            if transport is None:
                continue
            if data is None:
                transport.loseConnection()
            else:
                transport.write(data)
        self._schedule()

    def attach(self, target: Protocol) -> None:
        self.target = target
        self._schedule()


class _Side(Protocol):
    def __init__(self, outgoing: _DelayLine) -> None:
        # What this side receives goes, delayed, to the other side.
        self.outgoing = outgoing

    def dataReceived(self, data: bytes) -> None:
        self.outgoing.put(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.outgoing.put(None)


class _Once(Factory):
    """
    Builds the one given protocol.
    """

    def __init__(self, protocol: Protocol) -> None:
        self.protocol_ = protocol

    def buildProtocol(self, addr: object) -> Protocol:
        return self.protocol_


class _Routes(Factory):
    def __init__(self, clock: Any, delay: float, target: tuple[str, int]) -> None:
        self.clock = clock
        self.delay = delay
        self.target = target

    def buildProtocol(self, addr: object) -> Protocol:
        return _Accepted(self.clock, self.delay, self.target)


class _Accepted(_Side):
    def __init__(self, clock: Any, delay: float, target: tuple[str, int]) -> None:
        super().__init__(_DelayLine(clock, delay))
        self.clock = clock
        self.targetAddress = target
        self.back = _DelayLine(clock, delay)

    def connectionMade(self) -> None:
        host, port = self.targetAddress
        upstream = _Side(self.back)
        self.back.attach(self)
        d = TCP4ClientEndpoint(self.clock, host, port, timeout=5).connect(
            _Once(upstream)
        )
        d.addCallbacks(lambda _: self.outgoing.attach(upstream), self._failed)

    def _failed(self, reason: Failure) -> None:
        if self.transport is not None:
            self.transport.loseConnection()


def _hostPort(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main(argv: list[str]) -> None:
    from twisted.internet import reactor

    parser = argparse.ArgumentParser(prog="python -m tests.cluster._relay")
    parser.add_argument("--delay", type=float, required=True)
    parser.add_argument("routes", nargs="+", metavar="LISTEN=TARGET")
    args = parser.parse_args(argv)

    def failed(reason: Failure) -> None:
        print(reason.getTraceback(), file=sys.stderr)
        reactor.stop()

    def listen() -> None:
        for route in args.routes:
            listenText, targetText = route.split("=", 1)
            host, port = _hostPort(listenText)
            target = _hostPort(targetText)
            factory = _Routes(reactor, args.delay, target)
            endpoint = TCP4ServerEndpoint(reactor, port, interface=host)
            d = endpoint.listen(factory)
            d.addCallback(
                lambda _, listenText=listenText: print(
                    json.dumps({"event": "listening", "address": listenText}),
                    flush=True,
                )
            )
            d.addErrback(failed)

    reactor.callWhenRunning(listen)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
