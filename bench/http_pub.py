"""
Requests per second of nsqd's HTTP C{/pub} and C{/mpub}, measured with
C{wrk} against an in-process nsqd (L{NSQDService} plus L{NSQDSite}).

Usage::

    python bench/http_pub.py [--duration 10] [--connections 32] [--lines 100]
        [--size 200] [--consumer]

Runs C{wrk} (which must be on C{PATH}) once against C{POST /pub} (one
C{--size}-byte message per request) and once against C{POST /mpub}
(C{--lines} messages per request), keep-alive, one C{wrk} thread, and
prints C{wrk}'s summary and the rates.  nsqd and C{wrk} share the machine:
on 2 cores the figures are a floor.  With C{--consumer} a channel with
one in-process, always-ready consumer drains the topic, so each published
message is also delivered (and finished).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.utils import getProcessOutputAndValue

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.golden import listenSite
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.http import NSQDSite
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.state import Message
from txnsq.nsqd.tap import httpAPI

_LUA = """
wrk.method = "POST"
wrk.body = io.open("{body}", "rb"):read("*a")
"""


class _Drain:
    """
    An always-ready consumer that finishes every message at once.
    """

    msgTimeout = 60.0
    sampleRate = 0

    def __init__(self) -> None:
        self.channel: Any = None
        self.count = 0

    def capacity(self) -> int:
        return 1000

    def sendMessage(self, message: Message) -> None:
        self.count += 1
        self.channel.finish(self, message.id)

    def messageDone(self, message: Message, outcome: int) -> None:
        pass

    def inFlightReset(self) -> None:
        pass

    def channelClosed(self) -> None:
        pass


async def _wrk(url: str, body: bytes, args: argparse.Namespace, name: str) -> float:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not on PATH (apt-get install wrk)")
    directory = tempfile.mkdtemp()
    bodyPath = os.path.join(directory, "body")
    with open(bodyPath, "wb") as f:
        f.write(body)
    script = os.path.join(directory, "post.lua")
    with open(script, "w") as f:
        f.write(_LUA.format(body=bodyPath))
    out, err, code = await getProcessOutputAndValue(
        wrk,
        [
            "-t1",
            f"-c{args.connections}",
            f"-d{args.duration}s",
            "-s",
            script,
            url,
        ],
        env=os.environ,
    )
    text = out.decode()
    print(f"--- {name}: {url} ({len(body)} bytes per request)")
    print(text.strip())
    if code != 0:
        print(err.decode(), file=sys.stderr)
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        print(f"!!! {non2xx.group(1)} failed responses")
    return float(match.group(1)) if match else 0.0


async def main(args: argparse.Namespace) -> None:
    data = tempfile.mkdtemp()
    config = NSQDConfig(
        tcp_address="127.0.0.1:0",
        http_address="",
        broadcast_address="127.0.0.1",
        data_path=data,
    )
    service = NSQDService(config, reactor)
    service.startService()
    await service.whenTCPListening()
    site = NSQDSite(httpAPI(service).resource(), config)
    port, portNumber = listenSite(reactor, site)
    base = f"http://127.0.0.1:{portNumber}"
    drains = []
    if args.consumer:
        for topic in ("bench_pub", "bench_mpub"):
            drain = _Drain()
            drain.channel = service.broker.getChannel(topic, "c", reactor.seconds())
            drain.channel.addConsumer(drain)
            drains.append(drain)
    message = b"x" * args.size
    pubRate = await _wrk(f"{base}/pub?topic=bench_pub", message, args, "/pub")
    mpubRate = await _wrk(
        f"{base}/mpub?topic=bench_mpub",
        b"\n".join([message] * args.lines),
        args,
        "/mpub",
    )
    topics = service.broker.topics
    print()
    print(
        f"/pub : {pubRate:10.0f} requests/s = {pubRate:10.0f} messages/s "
        f"(published {topics['bench_pub'].messageCount})"
    )
    print(
        f"/mpub: {mpubRate:10.0f} requests/s = {mpubRate * args.lines:10.0f} "
        f"messages/s (published {topics['bench_mpub'].messageCount})"
    )
    if drains:
        print(f"delivered and finished: {[d.count for d in drains]}")
    stopped = port.stopListening()
    if stopped is not None:
        await stopped
    await service.stopService()


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--consumer", action="store_true")
    args = parser.parse_args()

    def done(result: object) -> object:
        reactor.stop()
        return result

    d: Deferred[None] = ensureDeferred(main(args))
    d.addBoth(done)
    reactor.run()


if __name__ == "__main__":
    run()
