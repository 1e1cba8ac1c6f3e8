"""
Client throughput: txnsq's L{Consumer <txnsq.client.Consumer>} and
L{Producer <txnsq.client.Producer>} beside Go NSQ's C{bench_reader} and
C{bench_writer} and pynsq's C{Reader} and C{Writer}, against one nsqd.

Usage::

    python bench/client_bench.py reader --nsqd-tcp-address=127.0.0.1:4150
    python bench/client_bench.py writer --nsqd-tcp-address=127.0.0.1:4150
    python bench/client_bench.py compare --runs 5 --go-bench /path/to/go/bin \\
        --pynsq-python /tmp/pynsq-venv/bin/python

C{reader} and C{writer} take Go's bench tools' flags (C{--runfor},
C{--size}, C{--batch-size}, C{--rdy}, C{--topic}, C{--channel},
C{--nsqd-tcp-address}) and print their result line
(C{duration: ... - ...mb/s - ...ops/s - ...us/op}).  The reader is a
L{Consumer <txnsq.client.Consumer>} with C{maxInFlight} C{--rdy} and a
handler that returns L{None} (so every message is FINed by the client); the
writer is C{--connections} L{Producer <txnsq.client.Producer>}s each
keeping C{--concurrency} C{multiPublish} calls of C{--batch-size} messages
outstanding.
C{pynsq-reader} and C{pynsq-writer} do the same with pynsq (run them with
an interpreter that has pynsq, see C{--pynsq-python}).

C{compare} starts one nsqd (Go's, from C{--go-bench}/nsqd when that
directory has one, else this checkout's), then for each of C{--runs} runs,
back to back: every writer for C{--runfor} on a fresh topic, then every
reader on a fresh topic and channel pre-filled with enough messages for
C{--runfor} (C{--prefill}).  Go's tools open one connection per
C{GOMAXPROCS} (C{--go-procs}, this machine's core count by default), with
one MPUB in flight on each; txnsq's and pynsq's writers open as many, with
C{--concurrency} MPUBs in flight on each (1 by default); their readers use
one connection, as a consumer of one nsqd does.  C{--baseline DIR} runs
another checkout's client too (C{base}), for figures before and after a
change in the same batch.  It prints the median of
the runs for each tool and the ratios the client's targets are stated in
(issue 18).  Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import socket
import statistics
import struct
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Go's bench tools end with "duration: 10.0s - 62.9mb/s - 329912.3ops/s -
# 3.031us/op"; the Python readers and writers here print the same.
_RESULT = re.compile(rb"duration: ([0-9.]+)(ms|s) - [0-9.]+mb/s - ([0-9.]+)ops/s")


def parseDuration(text: str) -> float:
    """
    Seconds in a Go duration such as C{10s}, C{500ms} or C{1m}.
    """
    units = {"ms": 0.001, "s": 1.0, "m": 60.0}
    found = re.fullmatch(r"([0-9.]+)(ms|s|m)?", text)
    if found is None:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}")
    return float(found.group(1)) * units[found.group(2) or "s"]


def resultLine(count: int, seconds: float, size: int) -> str:
    """
    Go's bench tools' result line.
    """
    seconds = max(seconds, 1e-9)
    return (
        f"duration: {seconds:.3f}s - {count * size / seconds / 1024 / 1024:.3f}mb/s"
        f" - {count / seconds:.3f}ops/s - {seconds * 1e6 / max(count, 1):.3f}us/op"
    )


# txnsq.


def txnsqReader(args: argparse.Namespace) -> None:
    """
    Consume for C{--runfor} from the first message (or until C{--count}
    messages), FINing each (the handler returns L{None}).
    """
    from twisted.internet import reactor

    from txnsq.client import Consumer

    r: Any = reactor
    received = 0
    started = 0.0
    limit = args.count or -1

    cpu = [0.0]

    def handler(message: object) -> None:
        nonlocal received, started
        received += 1
        if received == 1:
            started = time.perf_counter()
            cpu[0] = time.process_time()
            r.callLater(args.runfor, done)
        elif received == limit:
            done()

    finished: list[float] = []

    def done() -> None:
        if not finished:
            finished.append(time.perf_counter())
            cpu[0] = time.process_time() - cpu[0]
            consumer.setMaxInFlight(0)
            r.stop()

    consumer = Consumer(
        args.topic,
        args.channel,
        handler,
        nsqdAddresses=[args.nsqd_tcp_address],
        maxInFlight=args.rdy,
    )
    consumer.start()
    r.run()
    count = received if received != limit else received - 1
    # The client's own CPU time per message: steadier than the rate on a
    # shared machine.
    print(
        f"[txnsq_reader] {resultLine(count, finished[0] - started, args.size)}"
        f" - cpu {cpu[0] * 1e6 / max(count, 1):.3f}us/msg"
    )


def txnsqWriter(args: argparse.Namespace) -> None:
    """
    With C{--connections} producers (one connection each, as Go's
    C{bench_writer} opens one per worker), keep C{--concurrency} MPUBs of
    C{--batch-size} outstanding on each for C{--runfor}.
    """
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred

    from txnsq.client import Producer

    r: Any = reactor
    producers = [Producer([args.nsqd_tcp_address]) for _ in range(args.connections)]
    bodies = [b"a" * args.size] * args.batch_size
    result: list[tuple[int, float, float]] = []

    async def run() -> None:
        for producer in producers:
            await producer.whenConnected()
        start = time.perf_counter()
        cpu = time.process_time()
        deadline = start + args.runfor
        sent = 0

        async def worker(producer: Producer) -> None:
            nonlocal sent
            while time.perf_counter() < deadline:
                await producer.multiPublish(args.topic, bodies)
                sent += len(bodies)

        await Deferred.fromCoroutine(
            _gather(worker(p) for p in producers for _ in range(args.concurrency))
        )
        result.append((sent, time.perf_counter() - start, time.process_time() - cpu))
        for producer in producers:
            await producer.stop()

    def stop(outcome: object) -> object:
        r.stop()
        return outcome

    for producer in producers:
        producer.start()
    Deferred.fromCoroutine(run()).addBoth(stop)
    r.run()
    if not result:
        raise SystemExit("writer failed")
    sent, seconds, cpu = result[0]
    print(
        f"[txnsq_writer] {resultLine(sent, seconds, args.size)}"
        f" - cpu {cpu * 1e6 / max(sent, 1):.3f}us/msg"
    )


async def _gather(coroutines: Any) -> None:
    from twisted.internet.defer import Deferred, gatherResults

    await gatherResults([Deferred.fromCoroutine(c) for c in coroutines])


# pynsq (imported at run time: it lives in another virtualenv).


def pynsqReader(args: argparse.Namespace) -> None:
    """
    As L{txnsqReader}, with pynsq's C{Reader} (the handler returns C{True}:
    FIN).
    """
    import logging

    logging.basicConfig(level=logging.WARNING)
    nsq: Any = importlib.import_module("nsq")
    ioloop: Any = importlib.import_module("tornado.ioloop")
    loop = ioloop.IOLoop.current()
    received = 0
    started = 0.0
    limit = args.count or -1
    finished: list[float] = []

    def done() -> None:
        if not finished:
            finished.append(time.perf_counter())
            loop.stop()

    def handler(message: object) -> bool:
        nonlocal received, started
        received += 1
        if received == 1:
            started = time.perf_counter()
            loop.call_later(args.runfor, done)
        elif received == limit:
            done()
        return True

    nsq.Reader(
        topic=args.topic,
        channel=args.channel,
        message_handler=handler,
        nsqd_tcp_addresses=[args.nsqd_tcp_address],
        max_in_flight=args.rdy,
    )
    loop.start()
    count = received if received != limit else received - 1
    print(f"[pynsq_reader] {resultLine(count, finished[0] - started, args.size)}")


def pynsqWriter(args: argparse.Namespace) -> None:
    """
    As L{txnsqWriter}, with pynsq's C{Writer.mpub}.
    """
    import logging

    logging.basicConfig(level=logging.WARNING)
    nsq: Any = importlib.import_module("nsq")
    ioloop: Any = importlib.import_module("tornado.ioloop")
    loop = ioloop.IOLoop.current()
    writers = [nsq.Writer([args.nsqd_tcp_address]) for _ in range(args.connections)]
    bodies = [b"a" * args.size] * args.batch_size
    state = {"sent": 0, "running": 0}
    times: list[float] = []

    def publish(writer: Any) -> None:
        if time.perf_counter() >= times[0] + args.runfor:
            state["running"] -= 1
            if state["running"] == 0:
                times.append(time.perf_counter())
                loop.stop()
            return

        def published(conn: object, data: object) -> None:
            if isinstance(data, Exception):
                raise SystemExit(f"pynsq writer: {data}")
            state["sent"] += len(bodies)
            publish(writer)

        writer.mpub(args.topic, bodies, callback=published)

    def begin() -> None:
        if not all(writer.conns for writer in writers):
            loop.call_later(0.05, begin)
            return
        times.append(time.perf_counter())
        state["running"] = args.concurrency * len(writers)
        for writer in writers:
            for _ in range(args.concurrency):
                publish(writer)

    loop.call_later(0.05, begin)
    loop.start()
    seconds = times[1] - times[0]
    print(f"[pynsq_writer] {resultLine(state['sent'], seconds, args.size)}")


# compare.


def prefill(address: str, topic: str, count: int, size: int) -> None:
    """
    Publish C{count} messages of C{size} bytes to C{topic} as fast as nsqd
    takes them: MPUBs of 500, sixteen in flight, over a blocking socket.
    """
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"  V2")
    batch = 500
    body = b"b" * size
    payload = struct.pack(">i", batch) + (struct.pack(">i", size) + body) * batch
    command = b"MPUB %s\n" % topic.encode() + struct.pack(">i", len(payload)) + payload
    ok = struct.pack(">ii", 6, 0) + b"OK"
    batches = -(-count // batch)
    sent = answered = 0
    pending = b""
    while answered < batches:
        while sent < batches and sent - answered < 16:
            sock.sendall(command)
            sent += 1
        pending += sock.recv(65536)
        if not pending:
            raise RuntimeError("nsqd closed the connection during the prefill")
        while len(pending) >= len(ok):
            if pending[: len(ok)] != ok:
                raise RuntimeError(f"prefill: unexpected answer {pending[:64]!r}")
            pending = pending[len(ok) :]
            answered += 1
    sock.close()


_CPU = re.compile(rb"cpu ([0-9.]+)us/msg")


def runTool(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """
    Run one reader or writer and return its messages/s, and its CPU time
    per message in microseconds when it reports it (else 0).
    """
    done = subprocess.run(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600
    )
    found = _RESULT.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise RuntimeError(
            f"{' '.join(argv)} failed:\n{done.stdout.decode(errors='replace')}"
        )
    cpu = _CPU.search(done.stdout)
    return float(found.group(3)), float(cpu.group(1)) if cpu else 0.0


def compare(args: argparse.Namespace) -> None:
    """
    Every tool back to back against one nsqd, C{--runs} times; medians and
    ratios.
    """
    sys.path.insert(0, HERE)
    from run import Daemon, describeCommit

    goBench = args.go_bench
    goNSQD = os.path.join(goBench, "nsqd") if goBench else ""
    target = "go" if goNSQD and os.path.exists(goNSQD) else "nsqd"
    daemon = Daemon(
        sys.executable,
        [f"--mem-queue-size={args.mem_queue_size}"],
        target,
        ROOT,
        goNSQD or "nsqd",
    )
    me = [sys.executable, os.path.abspath(__file__)]
    common = [f"--size={args.size}", f"--runfor={args.runfor:g}s"]
    goEnv = dict(os.environ, GOMAXPROCS=str(args.go_procs))
    tools: list[str] = []
    if goBench:
        tools.append("go")
    if args.pynsq_python:
        tools.append("pynsq")
    tools.append("txnsq")
    baseEnv = dict(os.environ)
    if args.baseline:
        # Another checkout's client (an older commit, for before/after).
        tools.append("base")
        baseEnv["PYTHONPATH"] = os.path.abspath(args.baseline)
    rates: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    load = os.getloadavg()
    daemon.start()
    try:
        address = daemon.tcpAddress
        for run in range(args.runs):
            for tool in tools:
                topic = f"w_{tool}_{run}"
                if tool == "go":
                    argv = [
                        os.path.join(goBench, "bench_writer"),
                        f"--nsqd-tcp-address={address}",
                        f"--topic={topic}",
                        f"--batch-size={args.batch_size}",
                        *common,
                    ]
                else:
                    python = args.pynsq_python if tool == "pynsq" else sys.executable
                    argv = [
                        python,
                        me[1],
                        "pynsq-writer" if tool == "pynsq" else "writer",
                        f"--nsqd-tcp-address={address}",
                        f"--topic={topic}",
                        f"--batch-size={args.batch_size}",
                        f"--concurrency={args.concurrency}",
                        f"--connections={args.go_procs}",
                        *common,
                    ]
                rate, cpu = runTool(argv, baseEnv if tool == "base" else goEnv)
                rates.setdefault(f"{tool} writer", []).append(rate)
                if cpu:
                    cpus.setdefault(f"{tool} writer", []).append(cpu)
                daemon.http("POST", "/topic/delete", topic=topic)
                print(f"run {run + 1}: {tool} writer {rate:,.0f} msg/s", flush=True)
            for tool in tools:
                topic = f"r_{tool}_{run}"
                daemon.createChannel(topic, "ch")
                prefill(address, topic, args.prefill, args.size)
                reader = [f"--nsqd-tcp-address={address}", f"--topic={topic}"]
                reader += ["--channel=ch", f"--rdy={args.rdy}", *common]
                if tool == "go":
                    argv = [os.path.join(goBench, "bench_reader"), *reader]
                else:
                    python = args.pynsq_python if tool == "pynsq" else sys.executable
                    kind = "pynsq-reader" if tool == "pynsq" else "reader"
                    argv = [python, me[1], kind, *reader, f"--count={args.prefill}"]
                rate, cpu = runTool(argv, baseEnv if tool == "base" else goEnv)
                if cpu:
                    cpus.setdefault(f"{tool} reader", []).append(cpu)
                left = daemon.channelDepth(topic, "ch")
                note = " (channel emptied: figure low)" if left == 0 else ""
                rates.setdefault(f"{tool} reader", []).append(rate)
                daemon.http("POST", "/topic/delete", topic=topic)
                print(
                    f"run {run + 1}: {tool} reader {rate:,.0f} msg/s{note}", flush=True
                )
    finally:
        daemon.stop()
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print()
    print(
        f"nsqd: {'Go ' + goNSQD if target == 'go' else 'txnsq'}; {args.runs} runs;"
        f" --runfor {args.runfor:g}s, --size {args.size}, --batch-size"
        f" {args.batch_size}, --rdy {args.rdy}; Go tools GOMAXPROCS={args.go_procs};"
        f" load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f};"
        f" txnsq {describeCommit()}"
        + (f"; base: {_describe(args.baseline)}" if args.baseline else "")
    )
    for name, median in medians.items():
        runs = ", ".join(f"{v:,.0f}" for v in rates[name])
        print(f"  {name:14} median {median:>10,.0f} msg/s   ({runs})")
    for name, values in cpus.items():
        runs = ", ".join(f"{v:.2f}" for v in values)
        print(
            f"  {name:14} client CPU median {statistics.median(values):.2f} us/msg"
            f"   ({runs})"
        )
    for kind in ("reader", "writer"):
        ours = medians.get(f"txnsq {kind}")
        for other in ("go", "pynsq", "base"):
            theirs = medians.get(f"{other} {kind}")
            if ours and theirs:
                print(f"  txnsq {kind} / {other} {kind}: {ours / theirs:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rates": rates, "medians": medians, "cpu": cpus}, f, indent=2)


def _describe(checkout: str) -> str:
    done = subprocess.run(
        ["git", "-C", checkout, "log", "-1", "--format=%h %cs"],
        stdout=subprocess.PIPE,
        text=True,
    )
    return done.stdout.strip() or checkout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {
        "reader": txnsqReader,
        "writer": txnsqWriter,
        "pynsq-reader": pynsqReader,
        "pynsq-writer": pynsqWriter,
        "compare": compare,
    }
    for name in commands:
        p = sub.add_parser(name)
        p.add_argument("--nsqd-tcp-address", default="127.0.0.1:4150")
        p.add_argument("--runfor", type=parseDuration, default=10.0)
        p.add_argument("--size", type=int, default=200)
        p.add_argument("--batch-size", type=int, default=200)
        p.add_argument("--rdy", "--max-in-flight", type=int, default=2500)
        p.add_argument("--topic", default="sub_bench")
        p.add_argument("--channel", default="ch")
        p.add_argument(
            "--connections",
            type=int,
            default=1,
            help="writers: connections (compare: --go-procs, as Go's tools)",
        )
        p.add_argument(
            "--concurrency", type=int, default=1, help="writers: MPUBs in flight each"
        )
        p.add_argument(
            "--count", type=int, default=0, help="readers: stop after this many"
        )
        if name == "compare":
            p.add_argument("--runs", type=int, default=3)
            p.add_argument("--go-bench", default="", help="dir of Go NSQ binaries")
            p.add_argument("--go-procs", type=int, default=os.cpu_count() or 1)
            p.add_argument("--pynsq-python", default="")
            p.add_argument("--prefill", type=int, default=2_000_000)
            p.add_argument("--mem-queue-size", type=int, default=3_000_000)
            p.add_argument("--json", default="")
            p.add_argument(
                "--baseline",
                default="",
                help="another checkout whose client to run too (as 'base')",
            )
    args = parser.parse_args(argv)
    commands[args.command](args)


if __name__ == "__main__":
    main()
