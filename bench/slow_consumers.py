"""
Slow and stuck consumers against a real C{twistd -n nsqd} (issue 17, item
5): nsqd's RSS over time while a writer publishes 1 KB messages for
C{--seconds} to a topic with two channels, one consumed by a reader that
never reads its socket (RDY 2500, heartbeats every 60 s, the most nsqd
allows) and one by a reader that reads every message and never FINs (RDY
2500, so C{--msg-timeout} requeues them).  Memory should level off: the stuck reader is offered nothing once
its socket backs up, the non-FINing one holds at most RDY in flight, and
what waits past C{--mem-queue-size} goes to the channels' disk queues.

Usage::

    python bench/slow_consumers.py --seconds 60 --rate 5000
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

import nsqbench
from run import Daemon

MESSAGE = b"x" * 1024


def subscribe(address: str, channel: str, **identify: object) -> socket.socket:
    """
    A consumer connection: magic, IDENTIFY, SUB, RDY 2500.
    """
    conn = nsqbench.Connection(address)
    conn.send(nsqbench.MAGIC + nsqbench.identify(channel, **identify))
    conn.expectOK()
    conn.send(b"SUB slow " + channel.encode() + b"\n")
    conn.expectOK()
    conn.send(b"RDY 2500\n")
    return conn.sock


def drain(sock: socket.socket, buffer: bytearray) -> int:
    """
    Read what has arrived on the non-FINing reader, answer heartbeats with
    NOP and FIN nothing.

    @return: how many messages were read.
    """
    messages = 0
    while True:
        try:
            chunk = sock.recv(1 << 20)
        except BlockingIOError:
            return messages
        if not chunk:
            raise ConnectionError("nsqd closed the non-FINing reader")
        buffer += chunk
        while len(buffer) >= 8:
            size, kind = nsqbench._HEADER.unpack_from(buffer, 0)
            if len(buffer) < 4 + size:
                break
            data = bytes(buffer[8 : 4 + size])
            del buffer[: 4 + size]
            if kind == nsqbench.FRAME_MESSAGE:
                messages += 1
            elif data == nsqbench.HEARTBEAT:
                sock.setblocking(True)
                sock.sendall(b"NOP\n")
                sock.setblocking(False)


def main(argv: list[str] | None = None) -> None:
    """
    Run the scenario and print nsqd's RSS every C{--every} seconds.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=5000, help="messages/s")
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--msg-timeout", default="10s")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)

    daemon = Daemon(args.python, [f"--msg-timeout={args.msg_timeout}"])
    daemon.start()
    try:
        daemon.createChannel("slow", "stuck")
        daemon.http("POST", "/channel/create", topic="slow", channel="nofin")
        stuck = subscribe(daemon.tcpAddress, "stuck", heartbeat_interval=60000)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        nofin = subscribe(daemon.tcpAddress, "nofin")
        nofin.setblocking(False)
        writer = nsqbench.Connection(daemon.tcpAddress)
        writer.send(nsqbench.MAGIC)
        batch = [MESSAGE] * 100
        command = nsqbench.mpub("slow", batch)
        buffer = bytearray()

        started = time.monotonic()
        published = read = 0
        nextSample = started
        print(
            "  t (s)   RSS (MB)   published   read (no FIN)   depth stuck   depth nofin"
        )
        while True:
            now = time.monotonic()
            if now >= nextSample:
                rss = daemon.status()["VmRSS"] / 1e6
                print(
                    f"{now - started:7.1f} {rss:10.1f} {published:11,} {read:15,}"
                    f" {daemon.channelDepth('slow', 'stuck'):13,}"
                    f" {daemon.channelDepth('slow', 'nofin'):13,}",
                    flush=True,
                )
                nextSample += args.every
                if now - started >= args.seconds:
                    break
            if published < (now - started) * args.rate:
                writer.send(command)
                writer.expectOK()
                published += len(batch)
            else:
                time.sleep(0.001)
            read += drain(nofin, buffer)
        status = daemon.status()
        print(
            f"VmHWM {status['VmHWM'] / 1e6:.1f} MB; {published:,} published "
            f"({published * len(MESSAGE) / 1e6:,.0f} MB of bodies); "
            f"nsqd still running: {daemon.process is not None and daemon.process.poll() is None}"
        )
        for sock in (stuck, nofin, writer.sock):
            sock.close()
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
