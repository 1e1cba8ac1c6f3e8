"""
Readiness probes for the quick-start test, run inside its network
namespace (C{python _probe.py COMMAND ...}); standard library only.

The page's commands are typed by a person, who never races a daemon that
is still starting; the test types faster, so between commands it waits
for what the person would have seen:

    ports PORT...            every port accepts TCP connections
    settle NSQD... -- LOOKUPD...
                             every topic of every nsqd (HTTP ports) is
                             registered with every nsqlookupd (HTTP ports)
    clients NSQD...          print how many consumers the nsqds have
    clients-above COUNT NSQD...
                             wait until they have more than COUNT
                             consumers per nsqd that has a topic, on top
                             of COUNT

A daemon whose port refuses connections has been stopped by the page and
is left out.  Each waits at most 150 seconds (a consumer whose first
nsqlookupd query failed under load asks again a poll interval, 60 s,
later), then exits 1 saying what it was waiting for.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

_DEADLINE = 150.0


def _get(port: int, path: str) -> Any:
    url = f"http://127.0.0.1:{port}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + _DEADLINE
    while True:
        try:
            if condition():
                return
        except (OSError, ValueError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"probe: gave up waiting for {what}")
        time.sleep(0.05)


def _listening(ports: list[int]) -> bool:
    for port in ports:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    return True


def _topics(nsqd: int) -> list[dict[str, Any]]:
    stats = _get(nsqd, "/stats?format=json")
    topics: list[dict[str, Any]] = stats["topics"]
    return topics


def _running(ports: list[int]) -> list[int]:
    # A daemon the page has stopped since (its port refuses connections)
    # is no longer waited for.
    running = []
    for port in ports:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                running.append(port)
        except ConnectionRefusedError:
            pass
    return running


def _settled(nsqds: list[int], lookupds: list[int]) -> bool:
    nsqds, lookupds = _running(nsqds), _running(lookupds)
    for nsqd in nsqds:
        for topic in _topics(nsqd):
            name = topic["topic_name"]
            for lookupd in lookupds:
                try:
                    found = _get(lookupd, f"/lookup?topic={name}")
                except urllib.error.HTTPError:
                    return False
                ports = {producer["http_port"] for producer in found["producers"]}
                if nsqd not in ports:
                    return False
    return True


def _consumers(nsqds: list[int]) -> int:
    return sum(
        len(channel["clients"])
        for nsqd in _running(nsqds)
        for topic in _topics(nsqd)
        for channel in topic["channels"]
    )


def main(argv: list[str]) -> None:
    """
    Run one probe.
    """
    command, args = argv[0], argv[1:]
    if command == "ports":
        ports = [int(a) for a in args]
        _until(lambda: _listening(ports), f"ports {ports}")
    elif command == "settle":
        split = args.index("--")
        nsqds = [int(a) for a in args[:split]]
        lookupds = [int(a) for a in args[split + 1 :]]
        _until(lambda: _settled(nsqds, lookupds), "nsqlookupd to know every topic")
    elif command == "clients":
        nsqds = [int(a) for a in args]
        counts: list[int] = []

        def read() -> bool:
            counts.append(_consumers(nsqds))
            return True

        _until(read, "nsqd's /stats")
        print(counts[-1])
    elif command == "clients-above":
        before = int(args[0])
        nsqds = [int(a) for a in args[1:]]

        def connected() -> bool:
            withTopics = sum(1 for nsqd in _running(nsqds) if _topics(nsqd))
            return _consumers(nsqds) >= before + max(withTopics, 1)

        _until(connected, "the consumer to connect to every nsqd")
    else:
        raise SystemExit(f"probe: unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
