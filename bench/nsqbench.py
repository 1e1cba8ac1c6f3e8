"""
A load generator for nsqd that speaks the same command stream as Go NSQ's
C{bench_writer} and C{bench_reader}, with their flags.

Usage::

    python bench/nsqbench.py writer --nsqd-tcp-address=127.0.0.1:4150 --runfor=10s
    python bench/nsqbench.py reader --nsqd-tcp-address=127.0.0.1:4150 --runfor=10s
    python bench/nsqbench.py both   --nsqd-tcp-address=127.0.0.1:4150 --runfor=10s
    python bench/nsqbench.py latency --nsqd-tcp-address=127.0.0.1:4150 --rate=10000
    python bench/nsqbench.py idle --nsqd-tcp-address=127.0.0.1:4150 --idle-connections=10000
    python bench/nsqbench.py dummy --address=127.0.0.1:4150

Writers (like C{bench_writer}): each connection sends the magic and an
IDENTIFY, then keeps one C{MPUB} of C{--batch-size} messages of C{--size}
bytes outstanding, waiting for its C{OK} before sending the next, until
C{--runfor} has passed.  Readers (like C{bench_reader}): each connection
sends the magic, IDENTIFY, C{SUB}, C{RDY --rdy} and FINs every message it is
given.  Every connection runs in its own process (forked), so the
generator is not limited to one core; a reader parses every frame of one
C{recv} with one precompiled C{struct} and answers them with one
C{sendall} of FINs.

C{dummy} is a trivial server (one forked process per connection) that
answers every publish with C{OK} and streams pre-built message frames up to
the reader's RDY count: run the generator against it to see how fast the
generator itself can go.

Rates are printed as messages/s and MB/s, with Go's bench tools' meaning
of MB (2**20 bytes of message bodies).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import selectors
import signal
import socket
import socketserver
import struct
import sys
import time
from array import array
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.context import ForkContext
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

MAGIC = b"  V2"
FRAME_RESPONSE = 0
FRAME_ERROR = 1
FRAME_MESSAGE = 2
HEARTBEAT = b"_heartbeat_"

_HEADER = struct.Struct(">ii")
_SIZE = struct.Struct(">i")
_STAMP = struct.Struct(">q")
_OK_FRAME = _HEADER.pack(6, FRAME_RESPONSE) + b"OK"
# A message frame: size, frame type, timestamp (8), attempts (2), id (16).
_MESSAGE_HEADER = struct.Struct(">iiqH16s")
# Offsets from the start of a frame.
_ID_START = 4 + 4 + 8 + 2
_ID_END = _ID_START + 16
_BODY_START = _ID_END
_RECV_SIZE = 1 << 18

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,
    "\u03bcs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parseDuration(text: str) -> float:
    """
    Parse a Go duration (C{10s}, C{1m30s}, C{500ms}) into seconds; a bare
    number is taken as seconds.

    @raise argparse.ArgumentTypeError: if C{text} is not a duration.
    """
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos = 0
    total = 0.0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if match is None:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return total


def splitAddress(address: str) -> tuple[str, int]:
    """
    Split C{host:port}.
    """
    host, port = address.rsplit(":", 1)
    return host.strip("[]") or "127.0.0.1", int(port)


def identify(clientID: str, **extra: object) -> bytes:
    """
    An IDENTIFY command as Go's bench tools send it.
    """
    body = json.dumps(
        {
            "client_id": clientID,
            "hostname": clientID,
            "user_agent": f"txnsq-bench_{clientID}/1.3.0",
            **extra,
        }
    ).encode()
    return b"IDENTIFY\n" + _SIZE.pack(len(body)) + body


def mpub(topic: str, bodies: list[bytes]) -> bytes:
    """
    An MPUB command.
    """
    inner = b"".join([_SIZE.pack(len(body)) + body for body in bodies])
    payload = _SIZE.pack(len(bodies)) + inner
    return b"MPUB " + topic.encode() + b"\n" + _SIZE.pack(len(payload)) + payload


class ProtocolError(Exception):
    """
    nsqd sent an error frame or something unexpected.
    """


class Connection:
    """
    A blocking connection to nsqd with a receive buffer, for the paths
    that are not hot (handshakes, responses).
    """

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(splitAddress(address), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()

    def send(self, data: bytes) -> None:
        """
        Send all of C{data}.
        """
        self.sock.sendall(data)

    def readFrame(self) -> tuple[int, bytes]:
        """
        The next frame, answering heartbeats with NOP on the way.
        """
        buf = self.buffer
        while True:
            if len(buf) >= 8:
                size, kind = _HEADER.unpack_from(buf, 0)
                if len(buf) >= 4 + size:
                    data = bytes(buf[8 : 4 + size])
                    del buf[: 4 + size]
                    if kind == FRAME_RESPONSE and data == HEARTBEAT:
                        self.sock.sendall(b"NOP\n")
                        continue
                    return kind, data
            chunk = self.sock.recv(_RECV_SIZE)
            if not chunk:
                raise ConnectionError("nsqd closed the connection")
            buf += chunk

    def expectOK(self) -> None:
        """
        Read one frame; it must be the C{OK} response.
        """
        kind, data = self.readFrame()
        if kind != FRAME_RESPONSE or data != b"OK":
            raise ProtocolError(f"expected OK, got frame {kind}: {data[:200]!r}")

    def close(self) -> None:
        """
        Close the socket.
        """
        self.sock.close()


@dataclass(frozen=True)
class LoadSpec:
    """
    What one side of a load run does.

    @ivar address: nsqd's TCP address, C{host:port}.
    @ivar runfor: seconds to run.
    @ivar count: writers: stop after this many messages in all (0: no
        limit).
    @ivar drainIdle: readers: stop once no message came for this many
        seconds, and time the run up to the last message (0: never).
    """

    address: str = "127.0.0.1:4150"
    runfor: float = 10.0
    size: int = 200
    batchSize: int = 200
    rdy: int = 2500
    topic: str = "sub_bench"
    channel: str = "ch"
    connections: int = 2
    count: int = 0
    drainIdle: float = 0.0


@dataclass(frozen=True)
class Rate:
    """
    The outcome of one side of a load run.
    """

    count: int
    seconds: float
    size: int

    @property
    def perSecond(self) -> float:
        """
        Messages per second.
        """
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def megabytesPerSecond(self) -> float:
        """
        Body megabytes (2**20 bytes, as Go's bench tools count) per second.
        """
        return self.perSecond * self.size / (1 << 20)

    def describe(self, name: str) -> str:
        """
        One line, like Go's bench tools print.
        """
        return (
            f"{name}: {self.count} msgs in {self.seconds:.2f}s: "
            f"{self.perSecond:,.0f} msg/s, {self.megabytesPerSecond:.2f} MB/s"
        )


# A worker's report: ("ready", None), ("done", (count, start, end)) or
# ("error", text).
_Report = tuple[str, Any]


def _writer(
    spec: LoadSpec, index: int, go: Event, reports: Queue[_Report], quota: int
) -> None:
    conn = Connection(spec.address)
    conn.send(MAGIC + identify("writer"))
    conn.expectOK()
    command = mpub(spec.topic, [b"a" * spec.size] * spec.batchSize)
    sock = conn.sock
    sock.settimeout(None)
    buf = conn.buffer
    reports.put(("ready", None))
    go.wait()
    sent = 0
    start = time.monotonic()
    deadline = start + spec.runfor
    while True:
        sock.sendall(command)
        # The answer is almost always the 10-byte OK frame alone.
        if not buf:
            chunk = sock.recv(4096)
            if chunk == _OK_FRAME:
                sent += spec.batchSize
                if (quota and sent >= quota) or time.monotonic() > deadline:
                    break
                continue
            if not chunk:
                raise ConnectionError("nsqd closed the connection")
            buf += chunk
        while True:
            if len(buf) >= 8:
                size, kind = _HEADER.unpack_from(buf, 0)
                if len(buf) >= 4 + size:
                    data = bytes(buf[8 : 4 + size])
                    del buf[: 4 + size]
                    if kind == FRAME_RESPONSE and data == b"OK":
                        break
                    if kind == FRAME_RESPONSE and data == HEARTBEAT:
                        sock.sendall(b"NOP\n")
                        continue
                    raise ProtocolError(f"writer {index}: {kind} {data[:200]!r}")
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("nsqd closed the connection")
            buf += chunk
        sent += spec.batchSize
        if quota and sent >= quota:
            break
        if time.monotonic() > deadline:
            break
    end = time.monotonic()
    conn.close()
    reports.put(("done", (sent, start, end)))


def _reader(spec: LoadSpec, index: int, go: Event, reports: Queue[_Report]) -> None:
    conn = Connection(spec.address)
    conn.send(
        MAGIC
        + identify("reader")
        + b"SUB %s %s\n" % (spec.topic.encode(), spec.channel.encode())
    )
    conn.expectOK()
    conn.expectOK()
    sock = conn.sock
    buf = conn.buffer
    reports.put(("ready", None))
    go.wait()
    start = time.monotonic()
    last = start
    deadline = start + spec.runfor
    sock.sendall(b"RDY %d\n" % spec.rdy)
    unpack = _HEADER.unpack_from
    received = 0
    # One timeout for good: switching between blocking and timeouts costs
    # a system call each time.
    sock.settimeout(0.5)
    while True:
        now = time.monotonic()
        if now >= deadline:
            end = now
            break
        if spec.drainIdle and received and now - last > spec.drainIdle:
            end = last
            break
        try:
            chunk = sock.recv(_RECV_SIZE)
        except TimeoutError:
            continue
        if not chunk:
            raise ConnectionError("nsqd closed the connection")
        buf += chunk
        n = len(buf)
        pos = 0
        ids = []
        while n - pos >= 8:
            size, kind = unpack(buf, pos)
            end = pos + 4 + size
            if end > n:
                break
            if kind == FRAME_MESSAGE:
                ids.append(buf[pos + _ID_START : pos + _ID_END])
            elif kind == FRAME_RESPONSE and buf[pos + 8 : end] == HEARTBEAT:
                sock.sendall(b"NOP\n")
            elif kind != FRAME_RESPONSE:
                raise ProtocolError(f"reader {index}: {bytes(buf[pos + 8 : end])!r}")
            pos = end
        del buf[:pos]
        if ids:
            sock.sendall(b"FIN " + b"\nFIN ".join(ids) + b"\n")
            received += len(ids)
            last = time.monotonic()
    conn.close()
    reports.put(("done", (received, start, end)))


def _guard(target: Any, reports: Queue[_Report], *args: object) -> None:
    # Report a failure instead of leaving the parent waiting.
    try:
        target(*args)
    except BaseException as e:
        reports.put(("error", f"{type(e).__name__}: {e}"))
        raise SystemExit(1)


def _context() -> ForkContext:
    return multiprocessing.get_context("fork")


def runLoad(
    writers: LoadSpec | None, readers: LoadSpec | None
) -> tuple[Rate | None, Rate | None]:
    """
    Run writer and reader connections at once, one process each, start
    them together once every connection has done its handshake, and
    return the aggregate rates (count over the span from the first start
    to the last end of that side).
    """
    ctx = _context()
    go = ctx.Event()
    sides: list[tuple[LoadSpec, list[Any], Queue[_Report]]] = []
    for spec, kind in ((writers, "w"), (readers, "r")):
        if spec is None:
            continue
        reports: Queue[_Report] = ctx.Queue()
        procs = []
        for i in range(spec.connections):
            if kind == "w":
                share = spec.count // spec.connections if spec.count else 0
                if spec.count and i < spec.count % spec.connections:
                    share += 1
                args: tuple[object, ...] = (
                    _writer,
                    reports,
                    spec,
                    i,
                    go,
                    reports,
                    share,
                )
            else:
                args = (_reader, reports, spec, i, go, reports)
            procs.append(ctx.Process(target=_guard, args=args, daemon=True))
        sides.append((spec, procs, reports))
    try:
        for _, procs, _ in sides:
            for proc in procs:
                proc.start()
        for _, procs, reports in sides:
            for _ in procs:
                kind, payload = reports.get(timeout=60)
                if kind == "error":
                    raise RuntimeError(payload)
        go.set()
        results: list[Rate] = []
        for spec, procs, reports in sides:
            outcomes = []
            for _ in procs:
                kind, payload = reports.get(timeout=spec.runfor + 600)
                if kind == "error":
                    raise RuntimeError(payload)
                outcomes.append(payload)
            count = sum(o[0] for o in outcomes)
            seconds = max(o[2] for o in outcomes) - min(o[1] for o in outcomes)
            results.append(Rate(count, seconds, spec.size))
    finally:
        for _, procs, _ in sides:
            for proc in procs:
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.terminate()
                    proc.join()
    out: list[Rate | None] = []
    it = iter(results)
    out.append(next(it) if writers is not None else None)
    out.append(next(it) if readers is not None else None)
    return out[0], out[1]


# Latency mode.


@dataclass(frozen=True)
class Latency:
    """
    Publish-to-delivery latencies, in seconds.
    """

    published: int
    samples: int
    seconds: float
    p50: float
    p99: float
    p999: float
    maximum: float

    def describe(self) -> str:
        """
        One line of figures in milliseconds.
        """
        return (
            f"latency: {self.published} published in {self.seconds:.1f}s "
            f"({self.published / self.seconds:,.0f} msg/s), {self.samples} sampled: "
            f"p50 {self.p50 * 1e3:.3f} ms, p99 {self.p99 * 1e3:.3f} ms, "
            f"p99.9 {self.p999 * 1e3:.3f} ms, max {self.maximum * 1e3:.3f} ms"
        )


def _percentile(ordered: list[int], fraction: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index] / 1e9


def _paced(spec: LoadSpec, rate: float, go: Event, reports: Queue[_Report]) -> None:
    # Publish PUBs at a fixed rate, each stamped with CLOCK_MONOTONIC in
    # nanoseconds as it is sent; OKs are read without blocking.
    conn = Connection(spec.address)
    conn.send(MAGIC + identify("latency_writer"))
    conn.expectOK()
    sock = conn.sock
    sock.setblocking(False)
    prefix = b"PUB " + spec.topic.encode() + b"\n" + _SIZE.pack(spec.size)
    padding = b"a" * (spec.size - 8)
    reports.put(("ready", None))
    go.wait()
    sent = 0
    start = time.monotonic_ns()
    interval = 1e9 / rate
    total = int(spec.runfor * rate)
    while sent < total:
        due = min(total, int((time.monotonic_ns() - start) / interval) + 1)
        if due > sent:
            parts = []
            for _ in range(due - sent):
                parts.append(prefix + _STAMP.pack(time.monotonic_ns()) + padding)
            data = b"".join(parts)
            sock.setblocking(True)
            sock.sendall(data)
            sock.setblocking(False)
            sent = due
        try:
            while sock.recv(_RECV_SIZE):
                pass
        except BlockingIOError:
            pass
        wait = (start + sent * interval - time.monotonic_ns()) / 1e9
        if wait > 0:
            time.sleep(wait)
    seconds = (time.monotonic_ns() - start) / 1e9
    time.sleep(0.5)
    conn.close()
    reports.put(("done", (sent, seconds)))


def _stamps(
    spec: LoadSpec, warmup: float, go: Event, reports: Queue[_Report], expect: int
) -> None:
    conn = Connection(spec.address)
    conn.send(
        MAGIC
        + identify("latency_reader")
        + b"SUB %s %s\n" % (spec.topic.encode(), spec.channel.encode())
        + b"RDY %d\n" % spec.rdy
    )
    conn.expectOK()
    conn.expectOK()
    sock = conn.sock
    buf = conn.buffer
    reports.put(("ready", None))
    go.wait()
    skipBefore = time.monotonic_ns() + int(warmup * 1e9)
    deadline = time.monotonic() + spec.runfor + 5
    latencies = array("q")
    unpack = _HEADER.unpack_from
    stamp = _STAMP.unpack_from
    received = 0
    sock.settimeout(0.5)
    while received < expect and time.monotonic() < deadline:
        try:
            chunk = sock.recv(_RECV_SIZE)
        except TimeoutError:
            continue
        now = time.monotonic_ns()
        if not chunk:
            raise ConnectionError("nsqd closed the connection")
        buf += chunk
        n = len(buf)
        pos = 0
        ids = []
        while n - pos >= 8:
            size, kind = unpack(buf, pos)
            end = pos + 4 + size
            if end > n:
                break
            if kind == FRAME_MESSAGE:
                ids.append(buf[pos + _ID_START : pos + _ID_END])
                (sentAt,) = stamp(buf, pos + _BODY_START)
                if sentAt >= skipBefore:
                    latencies.append(now - sentAt)
            elif kind == FRAME_RESPONSE and buf[pos + 8 : end] == HEARTBEAT:
                sock.sendall(b"NOP\n")
            elif kind != FRAME_RESPONSE:
                raise ProtocolError(bytes(buf[pos + 8 : end]).decode())
            pos = end
        del buf[:pos]
        if ids:
            sock.sendall(b"FIN " + b"\nFIN ".join(ids) + b"\n")
            received += len(ids)
    conn.close()
    reports.put(("done", (received, latencies.tobytes())))


def runLatency(spec: LoadSpec, rate: float, warmup: float = 1.0) -> Latency:
    """
    Publish C{spec.size}-byte messages at C{rate} per second for
    C{spec.runfor} seconds on one connection, consume them on another
    (one process each) and measure publish-to-delivery latency with the
    consumer's clock (CLOCK_MONOTONIC, shared by processes on one
    machine), skipping messages published in the first C{warmup} seconds.
    """
    if spec.size < 8:
        raise ValueError("--size must be at least 8 to carry a timestamp")
    ctx = _context()
    go = ctx.Event()
    reports: Queue[_Report] = ctx.Queue()
    expect = int(spec.runfor * rate)
    procs = [
        ctx.Process(
            target=_guard,
            args=(_stamps, reports, spec, warmup, go, reports, expect),
            daemon=True,
        ),
        ctx.Process(
            target=_guard, args=(_paced, reports, spec, rate, go, reports), daemon=True
        ),
    ]
    try:
        for proc in procs:
            proc.start()
        for _ in procs:
            kind, payload = reports.get(timeout=60)
            if kind == "error":
                raise RuntimeError(payload)
        go.set()
        published = 0
        seconds = 0.0
        raw = b""
        for _ in procs:
            kind, payload = reports.get(timeout=spec.runfor + 120)
            if kind == "error":
                raise RuntimeError(payload)
            if isinstance(payload[1], bytes):
                raw = payload[1]
            else:
                published, seconds = payload
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
    samples = array("q")
    samples.frombytes(raw)
    ordered = sorted(samples)
    return Latency(
        published=published,
        samples=len(ordered),
        seconds=seconds,
        p50=_percentile(ordered, 0.50),
        p99=_percentile(ordered, 0.99),
        p999=_percentile(ordered, 0.999),
        maximum=ordered[-1] / 1e9 if ordered else float("nan"),
    )


# Idle connections.


def raiseFileLimit(wanted: int) -> int:
    """
    Raise this process's soft limit on open files towards C{wanted} (up to
    the hard limit); processes started afterwards inherit it.

    @return: the new soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class IdleConnections:
    """
    Many connections that send the magic and IDENTIFY, then nothing but
    NOP replies to heartbeats.
    """

    def __init__(self, address: str, heartbeatInterval: int = 0) -> None:
        """
        @param heartbeatInterval: milliseconds asked for in IDENTIFY (0:
            leave nsqd's default).
        """
        self.address = address
        extra = {"heartbeat_interval": heartbeatInterval} if heartbeatInterval else {}
        self.identify = MAGIC + identify("idle", **extra)
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytearray] = {}
        self.heartbeats = 0

    def open(self, count: int, step: int = 32) -> None:
        """
        Open C{count} connections, C{step} at a time, waiting for each
        step's IDENTIFY responses before opening more (so nsqd's listen
        backlog, 50 with Twisted's default, never overflows: a SYN dropped
        for a full backlog is retried only after a second) and answering the heartbeats of those
        already open in between.
        """
        while len(self.buffers) < count:
            pending = []
            for _ in range(min(step, count - len(self.buffers))):
                conn = Connection(self.address)
                conn.send(self.identify)
                pending.append(conn)
            for conn in pending:
                conn.expectOK()
                conn.sock.setblocking(False)
                self.buffers[conn.sock] = conn.buffer
                self.selector.register(conn.sock, selectors.EVENT_READ)
            self.poll(0)

    def serve(self, seconds: float) -> None:
        """
        Answer heartbeats with NOP for C{seconds}.
        """
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.poll(left)

    def poll(self, timeout: float) -> None:
        """
        Read whatever has arrived within C{timeout} seconds and answer
        each heartbeat with NOP.
        """
        for key, _ in self.selector.select(timeout):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            buf = self.buffers[sock]
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("nsqd closed an idle connection")
            buf += chunk
            while len(buf) >= 8:
                size, kind = _HEADER.unpack_from(buf, 0)
                if len(buf) < 4 + size:
                    break
                data = bytes(buf[8 : 4 + size])
                del buf[: 4 + size]
                if kind == FRAME_RESPONSE and data == HEARTBEAT:
                    self.heartbeats += 1
                    sock.setblocking(True)
                    sock.sendall(b"NOP\n")
                    sock.setblocking(False)
                else:
                    raise ProtocolError(f"idle connection got {kind} {data!r}")

    def close(self) -> None:
        """
        Close every connection.
        """
        for sock in self.buffers:
            self.selector.unregister(sock)
            sock.close()
        self.buffers.clear()
        self.selector.close()


# The dummy server.


class _DummyHandler(socketserver.BaseRequestHandler):
    """
    One connection to the dummy server: OK for every publish, IDENTIFY
    and SUB; after RDY, pre-built message frames up to the RDY count.
    """

    size = 200

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = b"b" * self.size
        frame = (
            _MESSAGE_HEADER.pack(
                4 + 8 + 2 + 16 + self.size,
                FRAME_MESSAGE,
                time.time_ns(),
                1,
                b"0123456789abcdef",
            )
            + body
        )
        blob = memoryview(b"")
        frameLength = len(frame)
        buf = bytearray()
        rdy = 0
        inFlight = 0
        magic = False
        while True:
            if inFlight < rdy:
                count = rdy - inFlight
                sock.sendall(blob[: count * frameLength])
                inFlight += count
            chunk = sock.recv(_RECV_SIZE)
            if not chunk:
                return
            buf += chunk
            if not magic:
                if len(buf) < 4:
                    continue
                del buf[:4]
                magic = True
            pos = 0
            out = []
            last = buf.rfind(b"\n")
            # The common case: nothing but FINs (21 bytes each).
            if last >= 0 and (last + 1) % 21 == 0 and buf[0:4] == b"FIN ":
                fins = buf.count(b"FIN ", 0, last + 1)
                if fins * 21 == last + 1:
                    inFlight -= fins
                    pos = last + 1
            while True:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    break
                line = bytes(buf[pos:nl])
                verb = line.split(b" ", 1)[0]
                if verb == b"FIN":
                    inFlight -= 1
                elif verb in (b"MPUB", b"PUB", b"IDENTIFY", b"DPUB"):
                    if len(buf) < nl + 5:
                        break
                    (length,) = _SIZE.unpack_from(buf, nl + 1)
                    if len(buf) < nl + 5 + length:
                        break
                    out.append(_OK_FRAME)
                    pos = nl + 5 + length
                    continue
                elif verb == b"SUB":
                    out.append(_OK_FRAME)
                elif verb == b"RDY":
                    rdy = int(line[4:])
                    if len(blob) < rdy * frameLength:
                        blob = memoryview(frame * rdy)
                pos = nl + 1
            del buf[:pos]
            if out:
                sock.sendall(b"".join(out))


class _ForkingServer(socketserver.ForkingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    request_queue_size = 128
    # ForkingMixIn stops accepting at 40 live children by default.
    max_children = 1024


def serveDummy(address: str, size: int) -> None:
    """
    Run the dummy server until interrupted.
    """
    host, port = splitAddress(address)
    _DummyHandler.size = size
    with _ForkingServer((host, port), _DummyHandler) as server:
        print(f"dummy nsqd listening on {host}:{server.server_address[1]}", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        server.serve_forever()


# Command line.


def addLoadOptions(parser: argparse.ArgumentParser) -> None:
    """
    Add Go's bench_writer / bench_reader flags, and C{--connections}.
    """
    parser.add_argument("--nsqd-tcp-address", default="127.0.0.1:4150")
    parser.add_argument("--runfor", type=parseDuration, default=10.0)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--rdy", type=int, default=2500)
    parser.add_argument("--topic", default="sub_bench")
    parser.add_argument("--channel", default="ch")
    parser.add_argument("--connections", type=int, default=2)


def specFrom(args: argparse.Namespace) -> LoadSpec:
    """
    The L{LoadSpec} the command-line flags describe.
    """
    return LoadSpec(
        address=args.nsqd_tcp_address,
        runfor=args.runfor,
        size=args.size,
        batchSize=args.batch_size,
        rdy=args.rdy,
        topic=args.topic,
        channel=args.channel,
        connections=args.connections,
    )


def main(argv: list[str] | None = None) -> None:
    """
    Run one mode and print its figures.
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "mode", choices=["writer", "reader", "both", "latency", "idle", "dummy"]
    )
    addLoadOptions(parser)
    parser.add_argument("--count", type=int, default=0, help="writer: stop after N")
    parser.add_argument(
        "--drain-idle",
        type=parseDuration,
        default=0.0,
        help="reader: stop once no message came for this long",
    )
    parser.add_argument("--rate", type=float, default=10000, help="latency: msg/s")
    parser.add_argument("--warmup", type=parseDuration, default=1.0)
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument("--heartbeat-interval", type=int, default=5000)
    parser.add_argument("--hold", type=parseDuration, default=6.0)
    parser.add_argument("--address", default="127.0.0.1:4150", help="dummy: listen")
    args = parser.parse_args(argv)
    spec = specFrom(args)
    if args.mode == "dummy":
        serveDummy(args.address, args.size)
    elif args.mode in ("writer", "reader", "both"):
        writers = replace(spec, count=args.count) if args.mode != "reader" else None
        readers = (
            replace(spec, drainIdle=args.drain_idle) if args.mode != "writer" else None
        )
        written, read = runLoad(writers, readers)
        if written is not None:
            print(written.describe("writer"))
        if read is not None:
            print(read.describe("reader"))
    elif args.mode == "latency":
        print(runLatency(spec, args.rate, args.warmup).describe())
    else:
        print(f"open files limit: {raiseFileLimit(args.idle_connections + 100)}")
        idle = IdleConnections(spec.address, args.heartbeat_interval)
        try:
            started = time.monotonic()
            idle.open(args.idle_connections)
            print(
                f"{len(idle.buffers)} idle connections open in "
                f"{time.monotonic() - started:.1f}s; holding {args.hold:.0f}s"
            )
            idle.serve(args.hold)
            print(f"answered {idle.heartbeats} heartbeats")
        finally:
            idle.close()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
