"""
Consume messages/s through nsqd over plain, snappy, deflate and TLS
connections (and TLS with each compression).

Usage::

    python bench/consume_features.py [--messages 100000] [--size 200]
        [--modes plain,snappy,deflate,tls,tls+snappy,tls+deflate]
        [--nsqd HOST:PORT]

Without C{--nsqd}, starts C{twistd -n nsqd} (this checkout) in a child
process with certificates made on the spot (L{tests._certs}) and a memory
queue large enough for every message.  For each mode: one consumer
connection negotiates the features and subscribes with C{RDY 0}; a plain
connection publishes C{--messages} bodies of C{--size} bytes with MPUB;
then the consumer sends C{RDY 2500} and the clock runs until it has
received (and FINished, one FIN per message, batched per read) them all.

The client is this script, in Python, with blocking sockets, the
stdlib's C{ssl} and L{txnsq.wire.compression}'s codecs: the figures are
for the whole path, client included, and on a 2-core machine nsqd and
the client compete for the CPU.  Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests._certs import writeCertificates  # noqa: E402
from txnsq.wire.commands import encodeCommand, encodeIdentify, encodeMPub  # noqa: E402
from txnsq.wire.compression import (  # noqa: E402
    DeflateDecoder,
    DeflateEncoder,
    SnappyDecoder,
    SnappyEncoder,
)

_FRAME = struct.Struct(">ii")
FRAME_RESPONSE, FRAME_ERROR, FRAME_MESSAGE = 0, 1, 2
Codec = Callable[[bytes], bytes]


class Connection:
    """
    A blocking NSQ connection whose stream can be wrapped in TLS and a
    compression codec at frame boundaries.
    """

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self.sock: socket.socket = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.decode: Codec | None = None
        self.encode: Codec | None = None
        self.send(b"  V2")

    def send(self, data: bytes) -> None:
        """
        Write C{data} (through the compression, if any).
        """
        if self.encode is not None:
            data = self.encode(data)
        self.sock.sendall(data)

    def receive(self) -> None:
        """
        Read what is available into the (decoded) buffer.
        """
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("nsqd closed the connection")
        if self.decode is not None:
            data = self.decode(data)
        self.buffer += data

    def frame(self) -> tuple[int, bytes]:
        """
        Read exactly one frame.
        """
        while True:
            buf = self.buffer
            if len(buf) >= 8:
                size, kind = _FRAME.unpack_from(buf, 0)
                if len(buf) >= 4 + size:
                    data = bytes(buf[8 : 4 + size])
                    del buf[: 4 + size]
                    return kind, data
            self.receive()

    def expectOK(self) -> None:
        """
        Read one frame; it must be C{OK}.
        """
        frame = self.frame()
        if frame != (FRAME_RESPONSE, b"OK"):
            raise RuntimeError(f"expected OK, got {frame!r}")

    def startTLS(self, context: ssl.SSLContext) -> None:
        """
        Wrap the socket in TLS (nsqd sends nothing before the handshake).
        """
        assert not self.buffer
        self.sock = context.wrap_socket(self.sock)

    def startCompression(self, decode: Codec, encode: Codec) -> None:
        """
        From here on both directions go through the codec; what is
        already buffered after the last frame belongs to the new stream.
        """
        rest = bytes(self.buffer)
        self.buffer.clear()
        self.decode, self.encode = decode, encode
        if rest:
            self.buffer += decode(rest)

    def close(self) -> None:
        """
        Close the socket.
        """
        self.sock.close()


def negotiate(connection: Connection, mode: str, context: ssl.SSLContext) -> None:
    """
    IDENTIFY with the features of C{mode} and switch the stream as nsqd
    does.
    """
    features = set(mode.split("+"))
    request = {
        "feature_negotiation": True,
        "tls_v1": "tls" in features,
        "snappy": "snappy" in features,
        "deflate": "deflate" in features,
        "user_agent": "txnsq-bench/consume_features",
    }
    connection.send(encodeIdentify(request))
    kind, data = connection.frame()
    if kind != FRAME_RESPONSE:
        raise RuntimeError(f"IDENTIFY failed: {data!r}")
    reply = json.loads(data)
    for feature in ("tls_v1", "snappy", "deflate"):
        if bool(reply[feature]) != bool(request[feature]):
            raise RuntimeError(f"nsqd did not agree to {feature}: {reply}")
    if reply["tls_v1"]:
        connection.startTLS(context)
        connection.expectOK()
    if reply["snappy"]:
        connection.startCompression(SnappyDecoder(), SnappyEncoder())
        connection.expectOK()
    elif reply["deflate"]:
        level = reply["deflate_level"]
        connection.startCompression(DeflateDecoder(), DeflateEncoder(level))
        connection.expectOK()


def publish(address: str, topic: str, count: int, size: int) -> None:
    """
    MPUB C{count} bodies of C{size} bytes in batches, waiting for each OK.
    """
    publisher = Connection(address)
    body = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    batch = 500
    sent = 0
    while sent < count:
        n = min(batch, count - sent)
        publisher.send(encodeMPub(topic.encode(), [body] * n))
        publisher.expectOK()
        sent += n
    publisher.close()


def consume(
    address: str, mode: str, count: int, size: int, context: ssl.SSLContext
) -> float:
    """
    Subscribe with C{mode}'s features, publish C{count} messages, then
    time receiving and finishing them all; return messages/s.
    """
    topic = "bench_" + re.sub(r"[^a-z]", "_", mode)
    consumer = Connection(address)
    negotiate(consumer, mode, context)
    consumer.send(encodeCommand(b"SUB", topic.encode(), b"c"))
    consumer.expectOK()
    publish(address, topic, count, size)
    consumer.send(encodeCommand(b"RDY", b"2500"))
    started = time.perf_counter()
    received = 0
    frame = _FRAME
    while received < count:
        consumer.receive()
        buf = consumer.buffer
        pos = 0
        fins = []
        end = len(buf)
        while end - pos >= 8:
            length, kind = frame.unpack_from(buf, pos)
            if end - pos - 4 < length:
                break
            if kind == FRAME_MESSAGE:
                fins.append(b"FIN " + bytes(buf[pos + 18 : pos + 34]) + b"\n")
            elif kind == FRAME_RESPONSE and buf[pos + 8 : pos + 4 + length] == (
                b"_heartbeat_"
            ):
                fins.append(b"NOP\n")
            elif kind == FRAME_ERROR:
                raise RuntimeError(bytes(buf[pos + 8 : pos + 4 + length]))
            pos += 4 + length
        del buf[:pos]
        if fins:
            received += sum(1 for f in fins if f.startswith(b"FIN"))
            consumer.send(b"".join(fins))
    elapsed = time.perf_counter() - started
    consumer.close()
    return count / elapsed


def startNSQD(messages: int) -> tuple[subprocess.Popen[bytes], str, str]:
    """
    Run C{twistd -n nsqd} with TLS; return the process, its TCP address
    and the directory to remove afterwards.
    """
    directory = tempfile.mkdtemp(prefix="txnsq-bench-")
    files = writeCertificates(os.path.join(directory, "certs"))
    data = os.path.join(directory, "data")
    os.makedirs(data)
    code = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
    argv = [
        sys.executable,
        *("-c", code, "-n", "--pidfile=", "nsqd"),
        "--tcp-address=127.0.0.1:0",
        "--http-address=127.0.0.1:0",
        f"--data-path={data}",
        f"--tls-cert={files.serverCert}",
        f"--tls-key={files.serverKey}",
        f"--mem-queue-size={messages + 1}",
    ]
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    logPath = os.path.join(directory, "nsqd.log")
    # A file, not a pipe: nobody reads nsqd's log while the bench runs.
    with open(logPath, "wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=directory
        )
    pattern = re.compile(rb"TCP: listening on ([0-9.]+:\d+)")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        with open(logPath, "rb") as log:
            match = pattern.search(log.read())
        if match:
            return process, match.group(1).decode(), directory
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"nsqd did not start; see {logPath}")


def main(argv: list[str]) -> int:
    """
    Parse C{argv}, run each mode and print a table.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100000)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument(
        "--modes", default="plain,snappy,deflate,tls,tls+snappy,tls+deflate"
    )
    parser.add_argument("--nsqd", default=None)
    args = parser.parse_args(argv)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    process = None
    directory = None
    address = args.nsqd
    if address is None:
        process, address, directory = startNSQD(args.messages)
    try:
        print(f"{args.messages} messages of {args.size} bytes, nsqd at {address}")
        print(f"{'mode':<12} {'msgs/s':>10} {'MB/s':>8}")
        for mode in args.modes.split(","):
            rate = consume(address, mode, args.messages, args.size, context)
            print(
                f"{mode:<12} {rate:>10.0f} {rate * args.size / 1e6:>8.1f}", flush=True
            )
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
