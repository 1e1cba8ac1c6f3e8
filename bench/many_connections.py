"""
Many connections against a real C{twistd -n nsqd} (issue 17, item 6): hold
C{--connections} idle consumer connections (magic, IDENTIFY, SUB, RDY 0,
answering heartbeats with NOP) and measure a normal client's PUB->OK
latency meanwhile, next to the same client's latency with no idle
connection; then nsqd's RSS.

With C{--tracemalloc}, nsqd's TCP side runs in this process instead, and
C{tracemalloc} says how many bytes each idle IDENTIFY+SUB connection holds
and where they were allocated (issue 19).

Usage::

    python bench/many_connections.py --connections 10000 --seconds 35
    python bench/many_connections.py --tracemalloc --connections 1000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import selectors
import socket
import struct
import sys
import time
import tracemalloc
from typing import Any

import nsqbench
from run import Daemon


def openIdle(address: str, count: int, conns: nsqbench.IdleConnections) -> None:
    """
    Open C{count} connections that IDENTIFY and SUB to C{idle/idle}, 32 at a
    time (so nsqd's listen backlog never overflows), into C{conns}.
    """
    subscribe = conns.identify + b"SUB idle idle\n"
    while len(conns.buffers) < count:
        pending = []
        for _ in range(min(32, count - len(conns.buffers))):
            conn = nsqbench.Connection(address)
            conn.send(subscribe)
            pending.append(conn)
        for conn in pending:
            conn.expectOK()
            conn.expectOK()
            conn.sock.setblocking(False)
            conns.buffers[conn.sock] = conn.buffer
            conns.selector.register(conn.sock, selectors.EVENT_READ)
        conns.poll(0)


def latencies(
    address: str, seconds: float, conns: nsqbench.IdleConnections | None
) -> list[float]:
    """
    PUB->OK times (seconds) of messages published one at a time for
    C{seconds}, answering the idle connections' heartbeats in between.
    """
    client = nsqbench.Connection(address)
    client.send(nsqbench.MAGIC)
    out = []
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        command = b"PUB latency\n" + len(b"%d" % i).to_bytes(4, "big") + b"%d" % i
        started = time.perf_counter()
        client.send(command)
        client.expectOK()
        out.append(time.perf_counter() - started)
        if conns is not None and i % 10 == 0:
            conns.poll(0)
    client.close()
    return out


def summary(values: list[float]) -> str:
    """
    p50, p99 and max, in milliseconds.
    """
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (
        f"p50 {at(0.5):.3f} ms, p99 {at(0.99):.3f} ms, max {ordered[-1] * 1000:.3f} ms"
    )


def traceConnections(count: int, lines: int = 15) -> None:
    """
    Open C{count} IDENTIFY+SUB connections (from a forked child) to an
    in-process L{NSQDFactory}, and print the bytes C{tracemalloc} sees
    each one hold, in all and by allocation site.
    """
    from twisted.internet import reactor as _reactor
    from twisted.logger import globalLogBeginner

    from txnsq.nsqd.config import NSQDConfig
    from txnsq.nsqd.protocol import STATE_SUBSCRIBED, NSQDFactory
    from txnsq.nsqd.state import Broker

    reactor: Any = _reactor
    # As twistd does: log events go to an observer and are not kept (until
    # logging begins Twisted buffers them, which would count here).
    globalLogBeginner.beginLoggingTo([], redirectStandardIO=False)
    config = NSQDConfig(node_id=7, broadcast_address="127.0.0.1")
    factory = NSQDFactory(Broker(config), config, reactor)
    factory.noisy = False
    port = reactor.listenTCP(0, factory, interface="127.0.0.1", backlog=1024)
    portNumber = port.getHost().port
    child = os.fork()
    if child == 0:
        body = json.dumps(
            {"client_id": "c", "hostname": "h", "heartbeat_interval": 60000}
        ).encode()
        hello = b"  V2IDENTIFY\n" + struct.pack(">l", len(body)) + body
        hello += b"SUB idle idle\n"
        socks = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", portNumber))
            sock.sendall(hello)
            socks.append(sock)
            if len(socks) % 32 == 0:
                for s in socks[-32:]:
                    s.recv(4096)
        time.sleep(3600)
        os._exit(0)
    state: dict[str, Any] = {}

    def start() -> None:
        gc.collect()
        tracemalloc.start(1)
        state["before"] = tracemalloc.take_snapshot()

    def check() -> None:
        ready = [p for p in factory.connections if p.client.state == STATE_SUBSCRIBED]
        if len(ready) < count:
            reactor.callLater(0.2, check)
            return
        gc.collect()
        after = tracemalloc.take_snapshot()
        for kind, shown in (("filename", 10), ("lineno", lines)):
            stats = after.compare_to(state["before"], kind)
            if kind == "filename":
                total = sum(st.size_diff for st in stats)
                print(f"{count:,} connections: {total / count:,.0f} bytes each")
            for st in stats[:shown]:
                frame = st.traceback[0]
                where = frame.filename if kind == "filename" else str(frame)
                print(f"  {st.size_diff / count:7.0f} B  {where}")
        os.kill(child, 9)
        os.waitpid(child, 0)
        reactor.stop()

    reactor.callWhenRunning(start)
    reactor.callLater(0.5, check)
    reactor.run()


def main(argv: list[str] | None = None) -> None:
    """
    Run the scenario and print the figures.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument(
        "--seconds",
        type=float,
        default=35.0,
        help="how long to measure (35 s spans nsqd's 30 s heartbeat interval)",
    )
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="in-process nsqd: bytes per connection by allocation site",
    )
    parser.add_argument(
        "--lines",
        type=int,
        default=15,
        help="with --tracemalloc: how many allocation sites to show",
    )
    args = parser.parse_args(argv)
    if args.tracemalloc:
        nsqbench.raiseFileLimit(2 * args.connections + 200)
        traceConnections(args.connections, args.lines)
        return

    limit = nsqbench.raiseFileLimit(args.connections + 200)
    if limit < args.connections + 50:
        print(f"!!! open files limit is {limit}; connections will fail")
    daemon = Daemon(args.python, [])
    daemon.start()
    conns = nsqbench.IdleConnections(daemon.tcpAddress)
    try:
        daemon.http("POST", "/topic/create", topic="latency")
        before = daemon.status()["VmRSS"]
        print(
            f"no idle connection:  PUB->OK {summary(latencies(daemon.tcpAddress, args.seconds, None))}"
        )
        started = time.monotonic()
        openIdle(daemon.tcpAddress, args.connections, conns)
        opened = time.monotonic() - started
        measured = latencies(daemon.tcpAddress, args.seconds, conns)
        print(
            f"{args.connections:,} idle (IDENTIFY+SUB) connections, opened in {opened:.1f}s:"
        )
        print(
            f"                     PUB->OK {summary(measured)} ({len(measured):,} PUBs)"
        )
        after = daemon.status()["VmRSS"]
        print(
            f"RSS {before / 1e6:.1f} MB before, {after / 1e6:.1f} MB with them "
            f"({(after - before) / args.connections:,.0f} bytes per connection); "
            f"{conns.heartbeats} heartbeats answered"
        )
    finally:
        conns.close()
        daemon.stop()


if __name__ == "__main__":
    main()
