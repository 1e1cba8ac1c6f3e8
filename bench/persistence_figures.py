"""
Figures for the persistence issue (3): publish and consume rates with the
default C{--mem-queue-size} and with C{--mem-queue-size=0}, and how long a
graceful shutdown (SIGTERM to exit) takes with 1,000,000 queued messages.

Each measurement starts its own C{twistd -n nsqd} on a free loopback port
with a fresh C{--data-path}, drives it with C{bench/nsqbench.py writer} and
C{reader}, stops it with SIGTERM and removes the directory.

Usage::

    python bench/persistence_figures.py [--runfor 10] [--runs 1] [--queued 1000000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NSQBENCH = os.path.join(HERE, "nsqbench.py")
TWISTD = (
    "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
)
_RATE = re.compile(r"(\d+) msgs in ([\d.]+)s: ([\d,]+) msg/s")


def freePort() -> int:
    """
    A TCP port free on 127.0.0.1 right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class NSQD:
    """
    A C{twistd -n nsqd} child on a data path.
    """

    def __init__(self, dataPath: str, *flags: str) -> None:
        self.port = freePort()
        self.address = f"127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
        self.log = open(os.path.join(dataPath, "..", "nsqd.log"), "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                TWISTD,
                "-n",
                "--pidfile=",
                "nsqd",
                f"--tcp-address={self.address}",
                "--http-address=127.0.0.1:0",
                f"--data-path={dataPath}",
                *flags,
            ],
            cwd=dataPath,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("nsqd exited at start") from None
                time.sleep(0.05)
        raise RuntimeError("nsqd did not listen")

    def stop(self) -> float:
        """
        SIGTERM; wait for the exit.

        @return: seconds from the signal to the exit.
        """
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(600)
        elapsed = time.monotonic() - started
        self.log.close()
        return elapsed

    def kill(self) -> None:
        """
        Make sure the child is gone.
        """
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not self.log.closed:
            self.log.close()


@contextmanager
def nsqd(*flags: str) -> Iterator[tuple[NSQD, str]]:
    """
    An nsqd on a fresh data path; both gone afterwards.
    """
    root = tempfile.mkdtemp(prefix="txnsq-persist-bench-")
    dataPath = os.path.join(root, "data")
    os.makedirs(dataPath)
    server = NSQD(dataPath, *flags)
    try:
        yield server, dataPath
    finally:
        server.kill()
        shutil.rmtree(root)


def bench(mode: str, address: str, *args: str) -> tuple[int, float, float]:
    """
    Run C{nsqbench.py MODE}; return (messages, seconds, messages/s).
    """
    out = subprocess.run(
        [sys.executable, NSQBENCH, mode, f"--nsqd-tcp-address={address}", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    ).stdout
    match = _RATE.search(out)
    if match is None:
        raise RuntimeError(f"unexpected nsqbench output: {out!r}")
    return (
        int(match.group(1)),
        float(match.group(2)),
        float(match.group(3).replace(",", "")),
    )


def createChannel(address: str) -> None:
    """
    Create topic and channel by running a reader briefly (Go's way).
    """
    bench("reader", address, "--runfor=1s", "--connections=1")


def pubSub(runfor: float, *flags: str) -> tuple[float, float, int]:
    """
    Publish for C{runfor} seconds, then consume for up to C{runfor}
    seconds (or until the channel is drained).

    @return: publish msg/s, consume msg/s, messages published.
    """
    with nsqd(*flags) as (server, _):
        createChannel(server.address)
        written, _, pubRate = bench("writer", server.address, f"--runfor={runfor}s")
        _, _, subRate = bench(
            "reader", server.address, f"--runfor={runfor}s", "--drain-idle=1s"
        )
        server.stop()
        return pubRate, subRate, written


def simultaneous(runfor: float, *flags: str) -> tuple[float, float]:
    """
    Writers and readers at once for C{runfor} seconds (the memory queue
    can then carry the stream).

    @return: publish msg/s, consume msg/s.
    """
    with nsqd(*flags) as (server, _):
        createChannel(server.address)
        out = subprocess.run(
            [
                sys.executable,
                NSQBENCH,
                "both",
                f"--nsqd-tcp-address={server.address}",
                f"--runfor={runfor}s",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        ).stdout
        server.stop()
        rates = [float(m.group(3).replace(",", "")) for m in _RATE.finditer(out)]
        if len(rates) != 2:
            raise RuntimeError(f"unexpected nsqbench output: {out!r}")
        return rates[0], rates[1]


def queuedShutdown(count: int, *flags: str) -> tuple[float, float, str]:
    """
    Publish C{count} 200-byte messages to a channel with no consumer, then
    time SIGTERM to exit.

    @return: publish seconds, shutdown seconds, the channel's metadata
        text after the exit.
    """
    with nsqd(*flags) as (server, dataPath):
        createChannel(server.address)
        _, published, _ = bench(
            "writer", server.address, f"--count={count}", "--runfor=3600s"
        )
        # Let nsqd settle (its own sync timer), so the figure is the stop.
        time.sleep(3)
        seconds = server.stop()
        with open(os.path.join(dataPath, "sub_bench:ch.diskqueue.meta.dat")) as f:
            meta = f.read()
        return published, seconds, meta


def main() -> None:
    """
    Print the figures.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runfor", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--queued", type=int, default=1000000)
    parser.add_argument("--skip-rates", action="store_true")
    parser.add_argument("--skip-shutdown", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    if not args.skip_rates:
        for label, flags in (
            ("default --mem-queue-size", ()),
            ("--mem-queue-size=0", ("--mem-queue-size=0",)),
        ):
            for run in range(args.runs):
                pub, sub, count = pubSub(args.runfor, *flags)
                print(
                    f"{label} run {run + 1}: publish {pub:,.0f} msg/s,"
                    f" then consume {sub:,.0f} msg/s ({count:,} messages)",
                    flush=True,
                )
                pub, sub = simultaneous(args.runfor, *flags)
                print(
                    f"{label} run {run + 1}, writers and readers at once:"
                    f" publish {pub:,.0f} msg/s, consume {sub:,.0f} msg/s",
                    flush=True,
                )
    if not args.skip_shutdown:
        for label, flags in (
            ("default --mem-queue-size (10000 in memory)", ()),
            (
                "--mem-queue-size=1000000 (all in memory)",
                (f"--mem-queue-size={args.queued}",),
            ),
            ("--mem-queue-size=0 (all on disk)", ("--mem-queue-size=0",)),
        ):
            published, seconds, meta = queuedShutdown(args.queued, *flags)
            print(
                f"{args.queued:,} queued, {label}: published in {published:.1f}s;"
                f" SIGTERM to exit {seconds:.2f}s; channel metadata"
                f" {meta.split()!r}",
                flush=True,
            )
    print(f"load average at end: {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    threading.current_thread().name = "persistence-figures"
    main()
