"""
How nsqd's cost grows with the shape of the work (issue 19, item 5): many
topics, many consumers on one channel, large messages; and C{/stats} at
many topics.

Each case starts a fresh daemon (L{run.Daemon}: txnsq's C{twistd -n nsqd},
or Go nsqd with C{--target go}), at C{--mem-queue-size=1000000} so the
figures are the broker's, not the disk queue's, except for many topics
(default flags: Go allocates each channel's whole memory queue up front,
4 GB for 5,000 channels):

  - C{topics}: 1, 100, 1,000 topics with 5 channels each (created over
    HTTP); one connection publishes C{--messages} 200-byte messages, MPUBs
    of 100 to the topics in turn, each waiting for its C{OK}; then C{GET
    /stats?format=json} five times (the median is shown) and the RSS.
    Every message is copied to 5 channels, so publish cost per message
    should stay flat as topics grow, and C{/stats} grow linearly with
    channels.
  - C{consumers}: 1, 10, 100 consumers (C{nsqbench} readers, RDY
    2500/N, at least 25, FIN everything) draining one channel pre-filled
    with C{--messages} messages.
  - C{sizes}: 200 B, 10 KB, 1 MB bodies: C{--bytes} of bodies published
    (MPUBs of about 256 KB; single messages at 1 MB) and drained by two
    readers; msg/s and MB/s each way.

Usage::

    python bench/scale.py --cases topics,consumers,sizes
    python bench/scale.py --target go --go-nsqd /opt/go-nsq/bin/nsqd
    python bench/scale.py --cases topics:100,sizes:1000000 --json out.json

C{--cases NAME:N} runs one count (topics, consumers) or body size of a
case; C{--json FILE} saves every figure by row (C{bench/table.py} uses
both).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import struct
import sys
import time
from collections.abc import Callable, Sequence

import nsqbench
from nsqbench import LoadSpec
from run import ROOT, Daemon, describeCommit, describeRuntime

_MPUB_HEAD = struct.Struct(">ll")

TOPIC_COUNTS = (1, 100, 1000)
CONSUMER_COUNTS = (1, 10, 100)
SIZES = (200, 10_000, 1_000_000)


def _mpub(topic: str, bodies: list[bytes]) -> bytes:
    payload = b"".join(struct.pack(">l", len(b)) + b for b in bodies)
    return (
        b"MPUB "
        + topic.encode()
        + b"\n"
        + _MPUB_HEAD.pack(len(payload) + 4, len(bodies))
        + payload
    )


_HEARTBEAT = b"\x00\x00\x00\x00_heartbeat_"


def _readFrame(sock: socket.socket) -> bytes:
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            raise RuntimeError("nsqd closed the connection")
        head += chunk
    (size,) = struct.unpack(">l", head)
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise RuntimeError("nsqd closed the connection")
        data += chunk
    return data


def _publishRoundRobin(address: str, topics: list[str], messages: int) -> float:
    """
    Publish C{messages} 200-byte bodies in MPUBs of 100, to each topic in
    turn, waiting for each C{OK}; the rate in msg/s.
    """
    host, _, port = address.rpartition(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(nsqbench.MAGIC)
    bodies = [b"x" * 200] * 100
    commands = {t: _mpub(t, bodies) for t in topics}
    started = time.perf_counter()
    sent = 0
    i = 0
    while sent < messages:
        sock.sendall(commands[topics[i % len(topics)]])
        frame = _readFrame(sock)
        while frame == _HEARTBEAT:
            # A run longer than the heartbeat interval (30 s) gets one
            # before its OK: answer it, as every client must.
            sock.sendall(b"NOP\n")
            frame = _readFrame(sock)
        if frame[4:] != b"OK":
            raise RuntimeError(f"MPUB answered {frame!r}")
        sent += 100
        i += 1
    elapsed = time.perf_counter() - started
    sock.close()
    return sent / elapsed


def _statsTime(daemon: Daemon) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        daemon.http("GET", "/stats", format="json")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def topics(
    args: argparse.Namespace, counts: Sequence[int] = TOPIC_COUNTS
) -> dict[str, float]:
    """
    1, 100, 1,000 topics with 5 channels each.
    """
    figures: dict[str, float] = {}
    print("| topics x 5 channels | publish msg/s | /stats (ms) | RSS (MB) |")
    print("| ---: | ---: | ---: | ---: |")
    for count in counts:
        daemon = _daemon(args, inMemory=False)
        try:
            names = [f"t{i}" for i in range(count)]
            for name in names:
                daemon.http("POST", "/topic/create", topic=name)
                for c in range(5):
                    daemon.http("POST", "/channel/create", topic=name, channel=f"c{c}")
            rate = _publishRoundRobin(daemon.tcpAddress, names, args.messages)
            stats = _statsTime(daemon)
            rss = daemon.status()["VmRSS"] / 1e6
            figures[f"topics {count}: publish (msg/s)"] = rate
            figures[f"topics {count}: /stats (ms)"] = stats * 1e3
            figures[f"topics {count}: RSS (MB)"] = rss
            print(
                f"| {count:,} | {rate:,.0f} | {stats * 1e3:.1f} | {rss:.1f} |",
                flush=True,
            )
        finally:
            daemon.stop()
    return figures


def consumers(
    args: argparse.Namespace, counts: Sequence[int] = CONSUMER_COUNTS
) -> dict[str, float]:
    """
    1, 10, 100 consumers draining one channel.
    """
    figures: dict[str, float] = {}
    print("| consumers on one channel | consume msg/s |")
    print("| ---: | ---: |")
    for count in counts:
        daemon = _daemon(args)
        try:
            daemon.createChannel("scale", "ch")
            spec = LoadSpec(
                address=daemon.tcpAddress,
                runfor=3600.0,
                topic="scale",
                channel="ch",
                connections=2,
                count=args.messages,
            )
            nsqbench.runLoad(spec, None)
            reader = LoadSpec(
                address=daemon.tcpAddress,
                runfor=600.0,
                rdy=max(25, 2500 // count),
                topic="scale",
                channel="ch",
                connections=count,
                drainIdle=1.0,
            )
            _, read = nsqbench.runLoad(None, reader)
            assert read is not None
            figures[f"consumers {count}: consume (msg/s)"] = read.perSecond
            print(f"| {count} | {read.perSecond:,.0f} |", flush=True)
        finally:
            daemon.stop()
    return figures


def sizes(args: argparse.Namespace, counts: Sequence[int] = SIZES) -> dict[str, float]:
    """
    200 B, 10 KB, 1 MB bodies.
    """
    figures: dict[str, float] = {}
    print("| body | publish msg/s | MB/s | consume msg/s | MB/s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for size in counts:
        daemon = _daemon(args)
        try:
            daemon.createChannel("scale", "ch")
            count = max(100, args.bytes // size)
            batch = max(1, min(200, (256 * 1024) // size))
            spec = LoadSpec(
                address=daemon.tcpAddress,
                runfor=3600.0,
                size=size,
                batchSize=batch,
                topic="scale",
                channel="ch",
                connections=2,
                count=count,
            )
            written, _ = nsqbench.runLoad(spec, None)
            reader = LoadSpec(
                address=daemon.tcpAddress,
                runfor=600.0,
                size=size,
                rdy=min(2500, max(10, (16 << 20) // size)),
                topic="scale",
                channel="ch",
                connections=2,
                drainIdle=1.0,
            )
            _, read = nsqbench.runLoad(None, reader)
            assert written is not None and read is not None
            figures[f"size {size}: publish (MB/s)"] = written.megabytesPerSecond
            figures[f"size {size}: consume (MB/s)"] = read.megabytesPerSecond
            print(
                f"| {size:,} B | {written.perSecond:,.0f} | "
                f"{written.megabytesPerSecond:.1f} | {read.perSecond:,.0f} | "
                f"{read.megabytesPerSecond:.1f} |",
                flush=True,
            )
        finally:
            daemon.stop()
    return figures


CASES: dict[str, Callable[[argparse.Namespace, Sequence[int]], dict[str, float]]] = {
    "topics": topics,
    "consumers": consumers,
    "sizes": sizes,
}
_COUNTS = {"topics": TOPIC_COUNTS, "consumers": CONSUMER_COUNTS, "sizes": SIZES}


def _daemon(args: argparse.Namespace, inMemory: bool = True) -> Daemon:
    # In memory, so the figures are the broker's, not the disk queue's;
    # Go nsqd allocates every channel's queue up front, though, so many
    # topics run at default flags.
    flags = ["--mem-queue-size=1000000"] if inMemory else []
    daemon = Daemon(
        args.python,
        [*flags, *args.nsqd_flag],
        args.target,
        args.source_root,
        args.go_nsqd,
    )
    daemon.start()
    return daemon


def main(argv: list[str] | None = None) -> None:
    """
    Run the cases asked for and print their tables.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="topics,consumers,sizes")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument(
        "--bytes", type=int, default=200_000_000, help="sizes: bytes of bodies"
    )
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--source-root", default=ROOT)
    parser.add_argument("--target", choices=["nsqd", "go"], default="nsqd")
    parser.add_argument("--go-nsqd", default="nsqd")
    parser.add_argument("--nsqd-flag", action="append", default=[])
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args(argv)
    nsqbench.raiseFileLimit(1000)
    server = (
        f"Go nsqd {args.go_nsqd}"
        if args.target == "go"
        else f"nsqd on {describeRuntime(args.python)}"
    )
    print(f"commit {describeCommit()}, {server}")
    figures: dict[str, float] = {}
    for case in args.cases.split(","):
        name, _, count = case.partition(":")
        print()
        figures.update(CASES[name](args, [int(count)] if count else _COUNTS[name]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
