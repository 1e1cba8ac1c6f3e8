"""
nsqadmin at scale (issue 15): one nsqlookupd and C{--nsqds} txnsq nsqds
(each C{txnsq <daemon>} in its own process, on free ports), C{--topics}
topics with C{--channels} channels each created on every nsqd over HTTP,
and a C{txnsq nsqadmin} reading the cluster through the nsqlookupd; then
the median (and slowest) of C{--runs} requests to each JSON API route and
each web UI page, one request at a time, from a separate process.

Usage::

    python bench/nsqadmin_pages.py --nsqds 3 --topics 500 --channels 5 --runs 7
    python bench/nsqadmin_pages.py --profile /tmp/nsqadmin.prof   # cProfile

With C{--profile FILE} nsqadmin runs under cProfile (slower) and the
hottest functions are printed after the timings.  A page that nsqadmin
does not serve (404) is reported as such, not timed.  Exit status 1 when
a page is slower than C{--target-ms} (median).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pstats
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Routes timed: JSON API first, then the UI pages; {topic}, {channel} and
# {node} are filled in from the cluster.
API_PATHS = [
    "/api/topics",
    "/api/topics/{topic}",
    "/api/topics/{topic}/{channel}",
    "/api/nodes",
    "/api/nodes/{node}",
    "/api/counter",
]
PAGE_PATHS = [
    "/",
    "/topics/{topic}",
    "/topics/{topic}/{channel}",
    "/nodes",
    "/nodes/{node}",
    # The node page shows 100 topics at a time; this is all of them.
    "/nodes/{node}?page=all",
    "/counter",
    "/lookup",
]


class Child:
    """
    One C{txnsq <command>} in a subprocess, its output in a file.
    """

    def __init__(
        self, name: str, argv: list[str], directory: str, profile: str = ""
    ) -> None:
        self.name = name
        self.logPath = os.path.join(directory, f"{name}.log")
        self._log: IO[bytes] = open(self.logPath, "wb")  # noqa: SIM115
        env = dict(os.environ)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        command = [sys.executable]
        if profile:
            command += ["-m", "cProfile", "-o", profile]
        command += ["-m", "txnsq._cli", *argv]
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )

    def stop(self) -> None:
        """
        SIGINT (cProfile writes its file on a graceful exit), then SIGTERM
        (a child started in the background ignores SIGINT, and Twisted
        then leaves it so), then wait.
        """
        for sig, wait in ((signal.SIGINT, 5), (signal.SIGTERM, 60)):
            if self.process.poll() is not None:
                break
            self.process.send_signal(sig)
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@contextmanager
def running(children: list[Child]) -> Iterator[None]:
    """
    Stop every child (in reverse order) however the block ends.
    """
    try:
        yield
    finally:
        for child in reversed(children):
            child.stop()


def request(
    port: int, method: str, path: str, conn: http.client.HTTPConnection | None = None
) -> tuple[int, bytes]:
    """
    One request to 127.0.0.1:C{port} (on C{conn} if given); status, body.
    """
    own = conn is None
    if conn is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request(method, path, body=b"" if method == "POST" else None)
    response = conn.getresponse()
    body = response.read()
    if own:
        conn.close()
    return response.status, body


def populate(ports: list[int], topics: int, channels: int) -> None:
    """
    Create C{topics} topics with C{channels} channels on every nsqd, over
    one keep-alive connection per nsqd.
    """
    for port in ports:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for t in range(topics):
            topic = f"topic{t:04d}"
            status, body = request(port, "POST", f"/topic/create?topic={topic}", conn)
            assert status == 200, body
            for c in range(channels):
                status, body = request(
                    port,
                    "POST",
                    f"/channel/create?topic={topic}&channel=channel{c}",
                    conn,
                )
                assert status == 200, body
        conn.close()


def waitRegistered(lookupdPort: int, topics: int, nsqds: int) -> None:
    """
    Wait until nsqlookupd knows every topic on every nsqd.
    """
    deadline = time.monotonic() + 120
    last = ""
    while time.monotonic() < deadline:
        _, body = request(lookupdPort, "GET", f"/lookup?topic=topic{topics - 1:04d}")
        answer = json.loads(body)
        _, topicsBody = request(lookupdPort, "GET", "/topics")
        known = len(json.loads(topicsBody).get("topics") or [])
        last = f"{known} topics, last topic on {len(answer.get('producers') or [])}"
        if known >= topics and len(answer.get("producers") or []) == nsqds:
            return
        time.sleep(0.2)
    raise RuntimeError(f"nsqlookupd incomplete: {last}")


def cpuSeconds(pids: list[int]) -> float:
    """
    User plus system CPU time used so far by the processes C{pids}.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            # Fields after the command (which may hold spaces): utime is
            # the 12th, stime the 13th.
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def waitingSeconds(pid: int) -> float:
    """
    How long the threads of C{pid} have been ready to run but waiting
    for a CPU (the kernel's C{schedstat}; 0 where it keeps none).
    """
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def timeRoute(
    port: int, path: str, runs: int, adminPid: int, clusterPids: list[int]
) -> tuple[int, list[float], float, float, int, list[float]]:
    """
    Request C{path} C{runs} times (after one warm-up): the status, the
    times in milliseconds, nsqadmin's and the cluster's CPU milliseconds
    per request (which, unlike the times, do not grow when other work
    shares the machine; the cluster's include what its daemons use when
    idle, over the time the requests took), the body size, and each
    time less the milliseconds nsqadmin spent waiting for a CPU meanwhile
    (L{waitingSeconds}): what is left is nsqadmin's own work plus its
    wait for the nsqds' answers, which load still slows, so an upper
    bound of the time on an idle machine.  (Subtracting the daemons'
    waits too would count twice the moments when both waited.)
    """
    status, body = request(port, "GET", path)
    times = []
    unloaded = []
    adminBefore, clusterBefore = cpuSeconds([adminPid]), cpuSeconds(clusterPids)
    for _ in range(runs):
        waitedBefore = waitingSeconds(adminPid)
        started = time.perf_counter()
        status, body = request(port, "GET", path)
        wall = (time.perf_counter() - started) * 1000
        waited = (waitingSeconds(adminPid) - waitedBefore) * 1000
        times.append(wall)
        unloaded.append(max(0.0, wall - waited))
    adminCPU = (cpuSeconds([adminPid]) - adminBefore) * 1000 / runs
    clusterCPU = (cpuSeconds(clusterPids) - clusterBefore) * 1000 / runs
    return status, times, adminCPU, clusterCPU, len(body), unloaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--nsqds", type=int, default=3)
    parser.add_argument("--topics", type=int, default=500)
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--target-ms", type=float, default=500.0)
    parser.add_argument("--profile", default="", help="cProfile output file")
    parser.add_argument("--top", type=int, default=25, help="profile rows shown")
    parser.add_argument(
        "--cluster",
        default="",
        metavar="LOOKUPD_HTTP",
        help="time against this running cluster's nsqlookupd instead",
    )
    parser.add_argument(
        "--cluster-pids",
        default="",
        help="with --cluster: its processes, comma-separated, for CPU time",
    )
    parser.add_argument(
        "--hold",
        action="store_true",
        help="keep the cluster running after timing, until interrupted",
    )
    args = parser.parse_args(argv)
    if args.cluster:
        return _againstCluster(args)

    directory = tempfile.mkdtemp(prefix="txnsq-nsqadmin-bench-")
    children: list[Child] = []
    try:
        with running(children):
            # nsqds are told nsqlookupd's TCP port: choose both now.
            lookupdTCP, lookupdHTTP = _freePort(), _freePort()
            lookupd = Child(
                "nsqlookupd",
                [
                    "nsqlookupd",
                    f"--tcp-address=127.0.0.1:{lookupdTCP}",
                    f"--http-address=127.0.0.1:{lookupdHTTP}",
                    "--broadcast-address=127.0.0.1",
                    "--log-level=warn",
                ],
                directory,
            )
            children.append(lookupd)
            _httpPortOf(lookupd)
            nsqdPorts = []
            for i in range(args.nsqds):
                dataPath = os.path.join(directory, f"nsqd{i}")
                os.makedirs(dataPath)
                nsqd = Child(
                    f"nsqd{i}",
                    [
                        "nsqd",
                        "--tcp-address=127.0.0.1:0",
                        "--http-address=127.0.0.1:0",
                        "--broadcast-address=127.0.0.1",
                        f"--lookupd-tcp-address=127.0.0.1:{lookupdTCP}",
                        f"--data-path={dataPath}",
                        "--log-level=warn",
                    ],
                    directory,
                )
                children.append(nsqd)
            for child in children[1:]:
                nsqdPorts.append(_httpPortOf(child))
            started = time.monotonic()
            populate(nsqdPorts, args.topics, args.channels)
            waitRegistered(lookupdHTTP, args.topics, args.nsqds)
            print(
                f"cluster: {args.nsqds} nsqds x {args.topics} topics x "
                f"{args.channels} channels, created in "
                f"{time.monotonic() - started:.1f}s"
            )
            admin = Child(
                "nsqadmin",
                [
                    "nsqadmin",
                    "--http-address=127.0.0.1:0",
                    f"--lookupd-http-address=127.0.0.1:{lookupdHTTP}",
                    "--log-level=warn",
                ],
                directory,
                profile=args.profile,
            )
            children.append(admin)
            adminPort = _httpPortOf(admin)
            slow = _report(
                adminPort,
                f"127.0.0.1:{nsqdPorts[0]}",
                args,
                admin.process.pid,
                [child.process.pid for child in children[:-1]],
            )
            if args.hold:
                pids = ",".join(str(c.process.pid) for c in children[:-1])
                print(
                    f"holding: --cluster 127.0.0.1:{lookupdHTTP} --cluster-pids {pids}",
                    flush=True,
                )
                # Run in the background, SIGINT may be ignored: SIGTERM
                # stops the hold too, and the cluster with it.
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.default_int_handler)
                with suppress(KeyboardInterrupt):
                    signal.pause()
        if args.profile:
            print(f"\ncProfile of nsqadmin ({args.profile}), by own time:")
            stats = pstats.Stats(args.profile)
            stats.sort_stats("tottime").print_stats(args.top)
        return 1 if slow else 0
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _againstCluster(args: argparse.Namespace) -> int:
    _, port = args.cluster.rsplit(":", 1)
    _, body = request(int(port), "GET", "/nodes")
    pids = [int(pid) for pid in args.cluster_pids.split(",") if pid]
    producer = json.loads(body)["producers"][0]
    node = f"{producer['broadcast_address']}:{producer['http_port']}"
    directory = tempfile.mkdtemp(prefix="txnsq-nsqadmin-bench-")
    admin = Child(
        "nsqadmin",
        [
            "nsqadmin",
            "--http-address=127.0.0.1:0",
            f"--lookupd-http-address={args.cluster}",
            "--log-level=warn",
        ],
        directory,
        profile=args.profile,
    )
    try:
        with running([admin]):
            slow = _report(_httpPortOf(admin), node, args, admin.process.pid, pids)
        if args.profile:
            print(f"\ncProfile of nsqadmin ({args.profile}), by own time:")
            pstats.Stats(args.profile).sort_stats("tottime").print_stats(args.top)
        return 1 if slow else 0
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _report(
    adminPort: int,
    node: str,
    args: argparse.Namespace,
    adminPid: int,
    clusterPids: list[int],
) -> list[str]:
    fill = {"topic": "topic0000", "channel": "channel0", "node": node}
    print(
        f"{'route':<31}{'status':>7}{'median ms':>10}{'max ms':>8}"
        f"{'admin CPU':>10}{'nodes CPU':>10}{'bytes':>9}{'no wait':>9}"
    )
    slow = []
    for path in API_PATHS + PAGE_PATHS:
        concrete = path.format(**fill)
        status, times, adminCPU, clusterCPU, size, unloaded = timeRoute(
            adminPort, concrete, args.runs, adminPid, clusterPids
        )
        if status == 404 and path in PAGE_PATHS:
            print(f"{path:<31}{'404':>7}  (not served)")
            continue
        median = statistics.median(times)
        print(
            f"{path:<31}{status:>7}{median:>10.1f}{max(times):>8.1f}"
            f"{adminCPU:>10.1f}{clusterCPU:>10.1f}{size:>9}"
            f"{statistics.median(unloaded):>9.1f}",
            flush=True,
        )
        if median > args.target_ms or status != 200:
            slow.append(path)
    verdict = "every route" if not slow else "NOT " + ", ".join(slow)
    print(f"target: median < {args.target_ms:.0f} ms: {verdict}")
    load = os.getloadavg()[0]
    print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} CPUs")
    return slow


def _freePort() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _httpPortOf(child: Child) -> int:
    # Daemons run at --log-level=warn here do not log their listeners:
    # ask the kernel which port the child bound.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ports = _listeningPorts(child.process.pid)
        if ports:
            # The HTTP port answers /ping.
            for port in sorted(ports):
                try:
                    status, _ = request(port, "GET", "/ping")
                except (OSError, http.client.HTTPException):
                    continue
                if status == 200:
                    return port
        if child.process.poll() is not None:
            break
        time.sleep(0.1)
    with open(child.logPath) as f:
        raise RuntimeError(f"{child.name} did not listen:\n{f.read()}")


def _listeningPorts(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            # State 0A: LISTEN.
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].split(":")[1], 16))
    return ports


if __name__ == "__main__":
    sys.exit(main())
