"""
Many connections against a real C{twistd -n nsqd} (issue 17, item 6): hold
C{--connections} idle consumer connections (magic, IDENTIFY, SUB, RDY 0,
answering heartbeats with NOP) and measure a normal client's PUB->OK
latency meanwhile, next to the same client's latency with no idle
connection; then nsqd's RSS.

Usage::

    python bench/many_connections.py --connections 10000 --seconds 35
"""

from __future__ import annotations

import argparse
import selectors
import sys
import time

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
    args = parser.parse_args(argv)

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
