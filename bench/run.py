"""
The benchmark harness of issue 8: start C{twistd -n nsqd} on free ports
with a fresh C{--data-path}, drive it with L{nsqbench}'s load generator,
stop it with SIGTERM, and print the median of several runs per row next to
Go nsqd 1.3.0's reference figures.

Usage::

    python bench/run.py --phases all --runs 5 --runfor 10s
    python bench/run.py --phases latency --rate 10000 --runfor 10s
    python bench/run.py --phases memory,idle
    python bench/run.py --phases all --python /tmp/pypy-venv/bin/python
    python bench/run.py --phases publish,consume --target dummy

Phases (C{all} is every row of the issue's table; C{full} adds latency,
memory and idle):

  - C{pubsub}: a fresh nsqd at default flags, topic and channel created;
    writers publish (MPUB batches) for C{--runfor}; then readers drain the
    pre-filled channel (for C{--runfor}, or until it is empty: the rate is
    then counted up to the last message); then nsqd's peak RSS (VmHWM).
    Rows: publish, consume, peak RSS.  (C{publish} and C{consume} are
    aliases.)
  - C{combined}: a fresh nsqd, writers and readers at once.
  - C{single}: a fresh nsqd, one message per MPUB, waiting for each OK.
  - C{pub}: a fresh nsqd, one message per PUB, waiting for each OK (this
    harness's generator even with C{--go-bench}: Go's tools have no PUB).
  - C{memq0}: C{pubsub} with C{--mem-queue-size=0}.
  - C{latency}: messages at C{--rate} per second on one connection, one
    consumer; publish-to-delivery p50/p99/p99.9.
  - C{memory}: RSS with 1,000,000 queued messages and no consumer, at the
    default C{--mem-queue-size} (most go to disk) and at
    C{--mem-queue-size=1000000} (all in memory: bytes per message).
  - C{idle}: RSS with 10,000 idle connections (magic, IDENTIFY, NOPs).

C{--target dummy} runs the throughput phases against L{nsqbench}'s
trivial dummy server instead, to show what the generator can drive.

To compare with Go nsqd on the same machine and measure the way issue 8's
reference figures were measured, build Go NSQ 1.3.0 somewhere outside this
checkout and point the harness at it (nothing of Go's is kept here):

  - C{--target go --go-nsqd PATH}: run Go's C{nsqd} binary instead of
    txnsq (same flags, ports and data directory handling);
  - C{--go-bench DIR}: drive the throughput phases with Go's
    C{DIR/bench_writer} and C{DIR/bench_reader} instead of L{nsqbench}
    (C{GOMAXPROCS} set to C{--connections}, which is how many connections
    Go's tools open).  Go's reader always runs for C{--runfor}; so that it
    cannot run out of messages, the C{pubsub} phase tops the channel up
    with a second, unreported writer run before it, and says so if the
    channel emptied anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nsqbench
from nsqbench import LoadSpec, Rate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs twistd with whichever interpreter is asked for (a venv's python has
# no twistd script of its own on PATH).
_TWISTD = (
    "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"
)

TABLE_PHASES = ["pubsub", "combined", "single", "pub", "memq0"]
ALL_PHASES = [*TABLE_PHASES, "latency", "memory", "idle"]
_ALIASES = {"publish": "pubsub", "consume": "pubsub", "all": "", "full": ""}

# Go nsqd 1.3.0's figures from issue 8, in msg/s (RSS in MB).
GO_REFERENCE: dict[str, float] = {
    "publish (MPUB 200)": 330_000,
    "consume with FIN (pre-filled)": 390_000,
    "combined: publish": 445_000,
    "combined: consume": 445_000,
    "publish, 1 msg per MPUB": 24_000,
    "memq0: publish": 187_000,
    "memq0: consume": 139_000,
    "peak RSS, default flags (MB)": 24,
}


def freePort() -> int:
    """
    A TCP port on 127.0.0.1 that nothing listens on right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def procStatus(pid: int) -> dict[str, int]:
    """
    The C{kB} fields of C{/proc/PID/status}, in bytes.
    """
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            parts = value.split()
            if len(parts) == 2 and parts[1] == "kB":
                out[name] = int(parts[0]) * 1024
    return out


def describeRuntime(python: str) -> str:
    """
    C{CPython 3.11.7} or C{PyPy 7.3.11 (Python 3.9.16)} for an interpreter.
    """
    code = (
        "import platform, sys\n"
        "impl = platform.python_implementation()\n"
        "if impl == 'PyPy':\n"
        "    v = sys.pypy_version_info\n"
        "    print(f'PyPy {v.major}.{v.minor}.{v.micro} (Python {platform.python_version()})')\n"
        "else:\n"
        "    print(impl, platform.python_version())\n"
    )
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def _goVersion(binary: str) -> str:
    try:
        output = subprocess.run(
            [binary, "--version"], capture_output=True, timeout=10
        ).stdout
    except OSError:
        return binary
    return output.decode(errors="replace").strip() or binary


def describeCommit() -> str:
    """
    The short commit of the checkout, with C{+dirty} when it has changes.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


class Daemon:
    """
    One C{twistd -n nsqd} in a subprocess, on free ports, with a fresh
    data directory that is removed when it stops.
    """

    def __init__(
        self,
        python: str,
        flags: list[str],
        target: str = "nsqd",
        root: str = ROOT,
        goNSQD: str = "nsqd",
    ) -> None:
        self.python = python
        self.goNSQD = goNSQD
        self.root = root
        self.flags = flags
        self.target = target
        self.dataPath = tempfile.mkdtemp(prefix="txnsq-bench-")
        self.tcpPort = freePort()
        self.httpPort = freePort()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def tcpAddress(self) -> str:
        """
        C{127.0.0.1:port} of the TCP listener.
        """
        return f"127.0.0.1:{self.tcpPort}"

    @property
    def pid(self) -> int:
        """
        The daemon's process id.
        """
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """
        Start the daemon and wait until its TCP port accepts connections.
        """
        if self.target == "dummy":
            argv = [
                self.python,
                os.path.join(ROOT, "bench", "nsqbench.py"),
                "dummy",
                f"--address={self.tcpAddress}",
            ]
        else:
            command = (
                [self.goNSQD]
                if self.target == "go"
                else [self.python, "-c", _TWISTD, "--pidfile=", "-n", "nsqd"]
            )
            argv = [
                *command,
                f"--tcp-address={self.tcpAddress}",
                f"--http-address=127.0.0.1:{self.httpPort}",
                f"--data-path={self.dataPath}",
                *self.flags,
            ]
        env = dict(os.environ, PYTHONPATH=self.root)
        with open(os.path.join(self.dataPath, "daemon.log"), "wb") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=self.dataPath,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # TCP listens before HTTP, as in Go: wait for both.
        ports = (
            [self.tcpPort] if self.target == "dummy" else [self.tcpPort, self.httpPort]
        )
        deadline = time.monotonic() + 60
        while ports and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited at start:\n{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", ports[0]), 1).close()
                ports.pop(0)
            except OSError:
                time.sleep(0.1)
        if ports:
            self.stop()
            raise RuntimeError("daemon did not listen within 60s")

    def log(self) -> str:
        """
        The last lines the daemon logged.
        """
        try:
            with open(os.path.join(self.dataPath, "daemon.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-30:]).decode(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """
        SIGTERM the daemon (by pid), wait for it (SIGKILL after 120s) and
        remove its data directory.
        """
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.dataPath, ignore_errors=True)

    def status(self) -> dict[str, int]:
        """
        The daemon's C{/proc/PID/status} sizes, in bytes.
        """
        return procStatus(self.pid)

    def http(self, method: str, path: str, **query: str) -> Any:
        """
        Call nsqd's HTTP API and decode the JSON answer (if any).
        """
        url = f"http://127.0.0.1:{self.httpPort}{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(
            url, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body.strip() else None

    def createChannel(self, topic: str, channel: str) -> None:
        """
        Create a topic and its channel, as Go's C{bench.sh} does.
        """
        if self.target == "dummy":
            return
        self.http("POST", "/topic/create", topic=topic)
        self.http("POST", "/channel/create", topic=topic, channel=channel)

    def channelDepth(self, topic: str, channel: str) -> int:
        """
        The channel's depth (memory plus disk), from C{/stats}.
        """
        stats = self.http("GET", "/stats", format="json", topic=topic, channel=channel)
        for t in stats.get("topics") or []:
            if t["topic_name"] == topic:
                for c in t.get("channels") or []:
                    if c["channel_name"] == channel:
                        return int(c["depth"])
        return 0


@contextmanager
def running(args: argparse.Namespace, flags: tuple[str, ...] = ()) -> Iterator[Daemon]:
    """
    A started daemon, stopped on the way out.
    """
    daemon = Daemon(
        args.python,
        [*args.nsqd_flag, *flags],
        args.target,
        args.source_root,
        args.go_nsqd,
    )
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()


@dataclass
class Results:
    """
    Every figure measured, by row, one entry per run.
    """

    rows: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, row: str, value: float) -> None:
        """
        Record one run's figure for a row.
        """
        self.rows.setdefault(row, []).append(value)


def _spec(args: argparse.Namespace, daemon: Daemon, **changes: Any) -> LoadSpec:
    spec = LoadSpec(
        address=daemon.tcpAddress,
        runfor=args.runfor,
        size=args.size,
        batchSize=args.batch_size,
        rdy=args.rdy,
        topic=args.topic,
        channel=args.channel,
        connections=args.connections,
    )
    return replace(spec, **changes)


# Go's bench tools end with "[bench_writer] duration: 10.0s - 62.9mb/s -
# 329912.3ops/s - 3.031us/op".
_GO_RESULT = re.compile(rb"duration: ([0-9.]+)(ms|s) - [0-9.]+mb/s - ([0-9.]+)ops/s")


def _goCommand(args: argparse.Namespace, spec: LoadSpec, kind: str) -> list[str]:
    argv = [
        os.path.join(args.go_bench, f"bench_{kind}"),
        f"--nsqd-tcp-address={spec.address}",
        f"--runfor={spec.runfor:g}s",
        f"--size={spec.size}",
        f"--topic={spec.topic}",
    ]
    if kind == "writer":
        argv.append(f"--batch-size={spec.batchSize}")
    else:
        argv += [f"--rdy={spec.rdy}", f"--channel={spec.channel}"]
    return argv


def goLoad(
    args: argparse.Namespace, writers: LoadSpec | None, readers: LoadSpec | None
) -> tuple[Rate | None, Rate | None]:
    """
    L{nsqbench.runLoad}'s counterpart with Go NSQ's own bench_writer and
    bench_reader, started together, one connection per C{GOMAXPROCS}.
    """
    started = []
    for spec, kind in ((writers, "writer"), (readers, "reader")):
        if spec is None:
            continue
        env = dict(os.environ, GOMAXPROCS=str(spec.connections))
        process = subprocess.Popen(
            _goCommand(args, spec, kind),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append((spec, kind, process))
    rates: dict[str, Rate] = {}
    for spec, kind, process in started:
        output, _ = process.communicate()
        found = _GO_RESULT.search(output)
        if process.returncode != 0 or found is None:
            raise RuntimeError(
                f"bench_{kind} failed:\n{output.decode(errors='replace')}"
            )
        seconds = float(found.group(1)) / (1000 if found.group(2) == b"ms" else 1)
        count = round(float(found.group(3)) * seconds)
        rates[kind] = Rate(count, seconds, spec.size)
    return rates.get("writer"), rates.get("reader")


def load(
    args: argparse.Namespace, writers: LoadSpec | None, readers: LoadSpec | None
) -> tuple[Rate | None, Rate | None]:
    """
    One load run with the generator asked for (L{nsqbench} or Go's tools).
    """
    if args.go_bench:
        return goLoad(args, writers, readers)
    return nsqbench.runLoad(writers, readers)


def _report(rate: Rate | None, name: str) -> float:
    assert rate is not None
    print(f"    {rate.describe(name)}", flush=True)
    return rate.perSecond


def pubsub(
    args: argparse.Namespace,
    results: Results,
    prefix: str = "",
    flags: tuple[str, ...] = (),
) -> None:
    """
    Publish for C{--runfor} into a channel nobody reads, then drain it.
    """
    with running(args, flags) as daemon:
        daemon.createChannel(args.topic, args.channel)
        written, _ = load(args, _spec(args, daemon), None)
        pubRow = f"{prefix}publish" if prefix else "publish (MPUB 200)"
        results.add(pubRow, _report(written, "publish"))
        if args.go_bench:
            # Go's reader runs for --runfor whatever the depth: top up.
            load(args, _spec(args, daemon), None)
        _, read = load(args, None, _spec(args, daemon, drainIdle=1.0))
        subRow = f"{prefix}consume" if prefix else "consume with FIN (pre-filled)"
        results.add(subRow, _report(read, "consume"))
        if args.go_bench and daemon.channelDepth(args.topic, args.channel) == 0:
            print("    !!! the channel emptied: the consume figure is a lower bound")
        if not prefix and args.target != "dummy":
            status = daemon.status()
            results.add("peak RSS, default flags (MB)", status["VmHWM"] / 1e6)
            print(
                f"    nsqd VmHWM {status['VmHWM'] / 1e6:.1f} MB, VmRSS {status['VmRSS'] / 1e6:.1f} MB"
            )


def combined(args: argparse.Namespace, results: Results) -> None:
    """
    Publish and consume at once.
    """
    with running(args) as daemon:
        daemon.createChannel(args.topic, args.channel)
        written, read = load(args, _spec(args, daemon), _spec(args, daemon))
        results.add("combined: publish", _report(written, "publish"))
        results.add("combined: consume", _report(read, "consume"))
        if args.target != "dummy":
            hwm = daemon.status()["VmHWM"]
            results.add("combined: peak RSS (MB)", hwm / 1e6)
            print(f"    nsqd VmHWM {hwm / 1e6:.1f} MB")


def single(args: argparse.Namespace, results: Results) -> None:
    """
    One message per MPUB, waiting for each OK.
    """
    with running(args) as daemon:
        daemon.createChannel(args.topic, args.channel)
        written, _ = load(args, _spec(args, daemon, batchSize=1), None)
        results.add("publish, 1 msg per MPUB", _report(written, "publish"))


def _pubLoop(
    address: str, topic: str, size: int, runfor: float, go: Any, out: Any
) -> None:
    # One connection: PUB one message, wait for its OK, again, for runfor.
    conn = nsqbench.Connection(address)
    conn.send(nsqbench.MAGIC)
    command = b"PUB " + topic.encode() + b"\n" + size.to_bytes(4, "big") + b"x" * size
    go.wait()
    count = 0
    started = time.perf_counter()
    deadline = started + runfor
    sock = conn.sock
    while time.perf_counter() < deadline:
        sock.sendall(command)
        # The OK frame is 10 bytes; read exactly that (no heartbeat can
        # come within a round trip of a busy connection).
        got = 0
        while got < 10:
            chunk = sock.recv(10 - got)
            if not chunk:
                raise ConnectionError("nsqd closed the connection")
            got += len(chunk)
        count += 1
    out.put((count, time.perf_counter() - started))
    conn.close()


def pub(args: argparse.Namespace, results: Results) -> None:
    """
    One message per PUB, waiting for each OK, on C{--connections}
    connections (always this harness's generator: Go's bench_writer only
    sends MPUB).
    """
    import multiprocessing

    with running(args) as daemon:
        daemon.createChannel(args.topic, args.channel)
        ctx = multiprocessing.get_context("fork")
        go = ctx.Event()
        out: Any = ctx.Queue()
        workers = [
            ctx.Process(
                target=_pubLoop,
                args=(daemon.tcpAddress, args.topic, args.size, args.runfor, go, out),
            )
            for _ in range(args.connections)
        ]
        for w in workers:
            w.start()
        time.sleep(0.5)
        go.set()
        reports = [out.get(timeout=args.runfor + 60) for _ in workers]
        for w in workers:
            w.join()
        count = sum(c for c, _ in reports)
        seconds = max(t for _, t in reports)
        rate = Rate(count, seconds, args.size)
        results.add("publish, 1 msg per PUB", _report(rate, "publish"))


def memq0(args: argparse.Namespace, results: Results) -> None:
    """
    L{pubsub} with C{--mem-queue-size=0}: every message through the disk.
    """
    pubsub(args, results, "memq0: ", ("--mem-queue-size=0",))


def latency(args: argparse.Namespace, results: Results) -> None:
    """
    Publish-to-delivery latency at a fixed rate.
    """
    if args.target == "dummy":
        raise SystemExit("the dummy server does not relay bodies: no latency phase")
    with running(args) as daemon:
        daemon.createChannel(args.topic, args.channel)
        figures = nsqbench.runLatency(_spec(args, daemon), args.rate, args.warmup)
        print(f"    {figures.describe()}", flush=True)
        results.add(f"latency p50 at {args.rate:.0f} msg/s (ms)", figures.p50 * 1e3)
        results.add(f"latency p99 at {args.rate:.0f} msg/s (ms)", figures.p99 * 1e3)
        results.add(f"latency p99.9 at {args.rate:.0f} msg/s (ms)", figures.p999 * 1e3)


def _settle(daemon: Daemon, args: argparse.Namespace, expect: int) -> None:
    # Wait until every message has reached the channel.
    deadline = time.monotonic() + 300
    depth = 0
    while time.monotonic() < deadline:
        depth = daemon.channelDepth(args.topic, args.channel)
        if depth >= expect:
            break
        time.sleep(0.5)
    else:
        print(f"    !!! channel depth {depth}, expected {expect}")
    time.sleep(1.0)


def memory(args: argparse.Namespace, results: Results) -> None:
    """
    RSS with C{--queued} messages in a channel nobody reads, at the
    default C{--mem-queue-size} and with all of them in memory.
    """
    n = args.queued
    cases: list[tuple[str, tuple[str, ...]]] = [
        ("default flags", ()),
        (f"--mem-queue-size={n}", (f"--mem-queue-size={n}",)),
    ]
    for label, flags in cases:
        with running(args, flags) as daemon:
            daemon.createChannel(args.topic, args.channel)
            time.sleep(1.0)
            before = daemon.status()["VmRSS"]
            started = time.monotonic()
            written, _ = nsqbench.runLoad(
                _spec(args, daemon, count=n, runfor=3600.0), None
            )
            assert written is not None
            _settle(daemon, args, n)
            status = daemon.status()
            after = status["VmRSS"]
            perMessage = (after - before) / n - args.size
            overhead = (
                f"; {perMessage:.0f} bytes per message over the {args.size}-byte body"
                if flags
                else ""
            )
            print(
                f"    {label}: {written.count} messages queued in "
                f"{time.monotonic() - started:.1f}s; RSS {before / 1e6:.1f} MB before, "
                f"{after / 1e6:.1f} MB after (VmHWM {status['VmHWM'] / 1e6:.1f} MB)"
                f"{overhead}",
                flush=True,
            )
            results.add(f"RSS, {n:,} queued, {label} (MB)", after / 1e6)
            if flags:
                results.add(f"overhead per queued message, {label} (bytes)", perMessage)


def idle(args: argparse.Namespace, results: Results) -> None:
    """
    RSS with C{--idle-connections} idle connections.
    """
    n = args.idle_connections
    limit = nsqbench.raiseFileLimit(n + 200)
    if limit < n + 50:
        print(f"    !!! open files limit is {limit}; idle connections will fail")
    with running(args) as daemon:
        time.sleep(1.0)
        before = daemon.status()["VmRSS"]
        conns = nsqbench.IdleConnections(daemon.tcpAddress, args.heartbeat_interval)
        try:
            started = time.monotonic()
            conns.open(n)
            opened = time.monotonic() - started
            conns.serve(args.hold)
            status = daemon.status()
            after = status["VmRSS"]
            print(
                f"    {n} connections open in {opened:.1f}s, held {args.hold:.0f}s, "
                f"{conns.heartbeats} heartbeats answered; RSS {before / 1e6:.1f} MB "
                f"before, {after / 1e6:.1f} MB after (VmHWM {status['VmHWM'] / 1e6:.1f} MB); "
                f"{(after - before) / n:,.0f} bytes per connection",
                flush=True,
            )
            results.add("RSS just started (MB)", before / 1e6)
            results.add(f"RSS with {n:,} idle connections (MB)", after / 1e6)
            results.add("bytes per idle connection", (after - before) / n)
        finally:
            conns.close()


PHASES: dict[str, Callable[[argparse.Namespace, Results], None]] = {
    "pubsub": pubsub,
    "combined": combined,
    "single": single,
    "pub": pub,
    "memq0": memq0,
    "latency": latency,
    "memory": memory,
    "idle": idle,
}
# Phases that are measured once whatever --runs says (they are long).
_ONCE = {"memory", "idle"}


def parsePhases(text: str) -> list[str]:
    """
    The phases named by C{--phases}, in table order, without repeats.
    """
    wanted: set[str] = set()
    for name in text.split(","):
        name = name.strip()
        if name == "all":
            wanted.update(TABLE_PHASES)
        elif name == "full":
            wanted.update(ALL_PHASES)
        elif name in PHASES or name in _ALIASES:
            wanted.add(_ALIASES.get(name) or name)
        else:
            raise argparse.ArgumentTypeError(f"unknown phase {name!r}")
    return [p for p in ALL_PHASES if p in wanted]


def summarise(results: Results, header: str) -> str:
    """
    A Markdown table of each row's median next to Go's figure.
    """
    lines = [
        header,
        "",
        "| row | median | runs | Go nsqd 1.3.0 | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row, values in results.rows.items():
        median = statistics.median(values)
        go = GO_REFERENCE.get(row)
        runs = ", ".join(_fmt(v) for v in values)
        ratio = f"{median / go:.2f}" if go else ""
        lines.append(
            f"| {row} | {_fmt(median)} | {runs} | {_fmt(go) if go else ''} | {ratio} |"
        )
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def buildParser() -> argparse.ArgumentParser:
    """
    The command line's options (also what C{bench/table.py} passes through).
    """
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phases", type=parsePhases, default=parsePhases("all"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=sys.executable, help="interpreter for nsqd")
    parser.add_argument(
        "--source-root",
        default=ROOT,
        help="the tree nsqd runs from (PYTHONPATH); this checkout by default",
    )
    parser.add_argument("--target", choices=["nsqd", "dummy", "go"], default="nsqd")
    parser.add_argument(
        "--go-nsqd",
        default="nsqd",
        help="--target go: Go nsqd's binary (built outside this checkout)",
    )
    parser.add_argument(
        "--go-bench",
        metavar="DIR",
        help="drive the throughput phases with DIR/bench_writer and "
        "DIR/bench_reader (Go NSQ's tools) instead of nsqbench",
    )
    parser.add_argument(
        "--nsqd-flag",
        action="append",
        default=[],
        help="an extra flag for every nsqd (repeatable)",
    )
    parser.add_argument("--rate", type=float, default=10000, help="latency: msg/s")
    parser.add_argument(
        "--warmup",
        type=nsqbench.parseDuration,
        default=1.0,
        help="latency: ignore messages published in the first WARMUP",
    )
    parser.add_argument(
        "--queued", type=int, default=1_000_000, help="memory: messages"
    )
    parser.add_argument("--idle-connections", type=int, default=10000)
    parser.add_argument(
        "--heartbeat-interval",
        type=int,
        default=5000,
        help="idle: heartbeat_interval in IDENTIFY (ms)",
    )
    parser.add_argument("--hold", type=nsqbench.parseDuration, default=6.0)
    parser.add_argument("--json", help="also write every figure to this file")
    nsqbench.addLoadOptions(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    """
    Run the phases asked for and print the medians.
    """
    args = buildParser().parse_args(argv)
    python = os.path.abspath(args.python) if os.sep in args.python else args.python
    args.python = python
    if args.target == "go":
        server = f"Go nsqd ({_goVersion(args.go_nsqd)})"
    elif args.target == "dummy":
        server = "dummy server"
    else:
        source = "" if args.source_root == ROOT else f" from {args.source_root}"
        server = f"nsqd{source} on {describeRuntime(python)}"
    generator = (
        f"Go's bench_writer/bench_reader from {args.go_bench}"
        if args.go_bench
        else f"generator on {describeRuntime(sys.executable)}"
    )
    header = (
        f"commit {describeCommit()}, {server}, {generator}, {os.cpu_count()} CPUs, "
        f"{args.runs} runs of {args.runfor:g}s, {args.connections} connections per side"
    )
    print(header, flush=True)
    results = Results()
    for phase in args.phases:
        runs = 1 if phase in _ONCE else args.runs
        for run in range(runs):
            print(f"{phase} (run {run + 1}/{runs})", flush=True)
            PHASES[phase](args, results)
    print()
    print(summarise(results, header))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": header, "rows": results.rows}, f, indent=2)


if __name__ == "__main__":
    main()
