"""
A small load generator speaking the same command stream as Go NSQ's
bench_writer and bench_reader: writers send MPUB batches and wait for each
OK; readers SUB with a large RDY and FIN every message.

Usage::

    python bench/nsqbench.py writer --nsqd-tcp-address=127.0.0.1:4150 --runfor=10
    python bench/nsqbench.py reader --nsqd-tcp-address=127.0.0.1:4150 --runfor=10

Each connection runs in its own process, so the generator is not limited
to one core.  Prints messages/s and MB/s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import struct
import time

_FRAME = struct.Struct(">ii")


def _connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"  V2")
    return sock


def _readFrames(sock: socket.socket, buf: bytearray) -> list[tuple[int, bytes]]:
    data = sock.recv(1 << 20)
    if not data:
        raise ConnectionError("closed")
    buf += data
    frames = []
    pos = 0
    while len(buf) - pos >= 8:
        size, kind = _FRAME.unpack_from(buf, pos)
        if len(buf) - pos - 4 < size:
            break
        frames.append((kind, bytes(buf[pos + 8 : pos + 4 + size])))
        pos += 4 + size
    del buf[:pos]
    return frames


def _writer(args: argparse.Namespace, result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    sock = _connect(args.nsqd_tcp_address)
    body = b"a" * args.size
    inner = struct.pack(">i", args.batch_size) + (
        struct.pack(">i", len(body)) + body
    ) * args.batch_size
    command = b"MPUB %s\n" % args.topic.encode() + struct.pack(">i", len(inner)) + inner
    buf = bytearray()
    sent = 0
    deadline = time.monotonic() + args.runfor
    start = time.monotonic()
    while time.monotonic() < deadline:
        sock.sendall(command)
        while True:
            frames = [f for f in _readFrames(sock, buf) if f[1] != b"_heartbeat_"]
            if frames:
                if frames[0] != (0, b"OK"):
                    raise RuntimeError(frames[0])
                break
        sent += args.batch_size
    result.put((sent, time.monotonic() - start))


def _reader(args: argparse.Namespace, result: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    sock = _connect(args.nsqd_tcp_address)
    sock.sendall(b"SUB %s %s\nRDY %d\n" % (args.topic.encode(), args.channel.encode(), args.rdy))
    buf = bytearray()
    received = 0
    start = time.monotonic()
    deadline = start + args.runfor
    sock.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            frames = _readFrames(sock, buf)
        except TimeoutError:
            continue
        fins = [b"FIN %s\n" % data[10:26] for kind, data in frames if kind == 2]
        if fins:
            sock.sendall(b"".join(fins))
            received += len(fins)
    result.put((received, time.monotonic() - start))


def main() -> None:
    """
    Run writer or reader connections and print the aggregate rate.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["writer", "reader"])
    parser.add_argument("--nsqd-tcp-address", default="127.0.0.1:4150")
    parser.add_argument("--runfor", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--rdy", type=int, default=2500)
    parser.add_argument("--topic", default="sub_bench")
    parser.add_argument("--channel", default="ch")
    parser.add_argument("--connections", type=int, default=2)
    args = parser.parse_args()
    target = _writer if args.mode == "writer" else _reader
    result: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [
        multiprocessing.Process(target=target, args=(args, result))
        for _ in range(args.connections)
    ]
    for proc in procs:
        proc.start()
    outcomes = [result.get() for _ in procs]
    for proc in procs:
        proc.join()
    count = sum(n for n, _ in outcomes)
    elapsed = max(t for _, t in outcomes)
    rate = count / elapsed
    print(
        f"{args.mode}: {count} msgs in {elapsed:.2f}s = {rate:,.0f} msg/s, "
        f"{rate * args.size / 1e6:.2f} MB/s"
    )


if __name__ == "__main__":
    main()
