"""
The fuzz job of issue 17: the generator of C{tests/fuzz/_mutate.py} run
for a million inputs (TCP conversations and HTTP requests, interleaved)
against a real C{twistd -n nsqd} on free ports, several connections at a
time, while a well-behaved producer and consumer count their messages.

Prints inputs per second, classified mismatches, structurally malformed
answers, hung connections, the daemon's RSS before and after, whether its
log shows a traceback or an unhandled error, whether the good pair lost
anything, and a verdict.  Exits 1 on a failing verdict.

    python bench/fuzz.py --inputs 1000000 --seed 1 --connections 32
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import time
from collections.abc import Iterator
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from run import Daemon  # noqa: E402
from twisted.internet.defer import ensureDeferred  # noqa: E402
from twisted.internet.task import react  # noqa: E402

from tests.fuzz._drive import (  # noqa: E402
    Report,
    finishGoodPair,
    runCases,
    sendOne,
    startGoodPair,
)
from tests.fuzz._mutate import (  # noqa: E402
    HTTPCase,
    TCPCase,
    httpCase,
    parseHTTPResponse,
    tcpCase,
)

#: Share of HTTP requests among the inputs.
HTTP_SHARE = 0.2
#: The generator assumes nsqd's default limits.
FLAGS = ["--broadcast-address=127.0.0.1"]


def cases(seed: int, count: int) -> Iterator[TCPCase | HTTPCase]:
    """
    C{count} interleaved cases from C{seed}.
    """
    rng = random.Random(seed)
    for _ in range(count):
        yield httpCase(rng) if rng.random() < HTTP_SHARE else tcpCase(rng)


def rss(daemon: Daemon) -> int:
    """
    The daemon's resident set, in bytes.
    """
    return int(daemon.status().get("VmRSS", 0))


async def fuzz(reactor: Any, options: argparse.Namespace) -> int:
    daemon = Daemon(sys.executable, FLAGS)
    daemon.start()
    try:
        producer, consumer = await startGoodPair(reactor, daemon.tcpPort)
        before = rss(daemon)
        print(f"nsqd pid {daemon.pid}, RSS before: {before / 2**20:.1f} MiB", flush=True)
        report = Report()
        start = time.monotonic()
        done = 0
        step = options.progress
        source = cases(options.seed, options.inputs)
        while done < options.inputs:
            batch = list(itertools.islice(source, step))
            await runCases(
                reactor, daemon.tcpPort, daemon.httpPort, batch, options.connections, report
            )
            done += len(batch)
            elapsed = time.monotonic() - start
            print(
                f"{done} inputs, {done / elapsed:.0f}/s, mismatches {report.mismatchCount},"
                f" malformed {len(report.malformed)}, hung {report.hung},"
                f" RSS {rss(daemon) / 2**20:.1f} MiB, good pair {producer.acked}"
                f" published / {len(consumer.bodies)} received",
                flush=True,
            )
        elapsed = time.monotonic() - start
        after = rss(daemon)
        answer, _hung = await sendOne(reactor, daemon.httpPort, b"GET /ping HTTP/1.0\r\n\r\n")
        pinged = parseHTTPResponse(answer) == (200, b"OK")
        lost = await finishGoodPair(producer, consumer)
    finally:
        daemon.stop()
    log = daemon.log()
    unhandled = "Traceback" in log or "Unhandled" in log
    print(f"inputs: {done} in {elapsed:.1f}s = {done / elapsed:.0f} inputs/s")
    print("by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(report.kinds.items())))
    print(f"classified mismatches: {report.mismatchCount}")
    for kind, data, expected, got in report.mismatches[:10]:
        print(f"  {kind}: sent {data!r}\n    expected {expected!r}\n    got      {got!r}")
    print(f"malformed answers: {len(report.malformed)}")
    for kind, data, problem in report.malformed[:10]:
        print(f"  {kind}: {problem}: {data!r}")
    print(f"hung connections: {report.hung}")
    print(f"RSS before {before / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB")
    print(f"/ping after: {'OK' if pinged else 'FAILED'}")
    print(f"unhandled error or traceback in nsqd's log: {'yes' if unhandled else 'no'}")
    print(f"good pair: {producer.acked} published, {len(consumer.bodies)} received, problems {lost}")
    passed = report.ok() and pinged and not unhandled and not lost
    print(f"verdict: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--progress", type=int, default=50_000, help="inputs per progress line")
    options = parser.parse_args(argv)

    def run(reactor: Any) -> Any:
        return ensureDeferred(fuzz(reactor, options)).addCallback(
            lambda code: sys.exit(code) if code else None
        )

    react(run)


if __name__ == "__main__":
    main()
