"""
What a Prometheus scrape of C{/metrics} costs (issue 14): a real broker
with 1,000 topics of 5 channels each, some messages queued, deferred and in
flight; the time to take the stats snapshot and to render it, the size of
the body, and, for nsqlookupd, a registration database of as many topics
and channels spread over a few nsqds.

A scrape runs on the reactor thread, so its time is time nothing else
runs.  Not run by the tests.

Usage::

    python bench/metrics_scrape.py [--topics 1000] [--channels 5] [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from prometheus_client import generate_latest  # noqa: E402

from txnsq.metrics.prometheus import LookupdMetrics, NSQDMetrics  # noqa: E402
from txnsq.nsqd.config import NSQDConfig  # noqa: E402
from txnsq.nsqd.state import Broker, Message  # noqa: E402
from txnsq.nsqd.stats import Health, Stats, gatherStats  # noqa: E402
from txnsq.nsqlookupd.registry import PeerInfo, RegistrationDB  # noqa: E402

NOW = 1_700_000_000.0


class Subscriber:
    """
    A consumer with a RDY count, keeping what it is sent in flight.
    """

    def __init__(self, ready: int) -> None:
        self.ready = ready
        self.inFlight = 0
        self.msgTimeout = 60.0
        self.sampleRate = 0
        self.received: list[Message] = []

    def capacity(self) -> int:
        """
        RDY minus in flight.
        """
        return self.ready - self.inFlight

    def sendMessages(self, messages: list[Message]) -> None:
        """
        Keep the messages in flight.
        """
        self.inFlight += len(messages)
        self.received.extend(messages)

    def messagesFinished(self, messages: list[Message]) -> None:
        """
        Messages were finished.
        """
        self.inFlight -= len(messages)

    def messageDone(self, message: Message, outcome: int) -> None:
        """
        A message left flight otherwise.
        """
        self.inFlight -= 1

    def inFlightReset(self) -> None:
        """
        The channel was emptied.
        """
        self.inFlight = 0

    def channelClosed(self) -> None:
        """
        The channel went away.
        """


def buildBroker(topics: int, channels: int) -> Broker:
    """
    C{topics} topics of C{channels} channels, ten messages published to
    each topic; the first channel of each has a consumer holding two in
    flight and one deferred, the rest of the channels hold them queued.
    """
    broker = Broker(NSQDConfig(node_id=1))
    for t in range(topics):
        name = f"topic-{t:05d}"
        subscriber = Subscriber(ready=3)
        for c in range(channels):
            channel = broker.getChannel(name, f"channel-{c}", NOW)
            if c == 0:
                channel.addConsumer(subscriber)
        broker.publish(name, [b"x" * 100] * 10, NOW)
        first = broker.topics[name].channels["channel-0"]
        first.requeue(subscriber, subscriber.received[0].id, 60.0, NOW)
    return broker


def buildRegistrations(topics: int, channels: int, nodes: int) -> RegistrationDB:
    """
    C{nodes} nsqds, each with every C{nodes}-th topic and its channels.
    """
    db = RegistrationDB()
    peers = [
        PeerInfo(
            id=f"10.0.0.{n}:4150",
            remoteAddress=f"10.0.0.{n}:4150",
            hostname=f"nsqd-{n}",
            broadcastAddress=f"nsqd-{n}",
            tcpPort=4150,
            httpPort=4151,
            version="1.3.0",
            lastUpdate=NOW,
        )
        for n in range(nodes)
    ]
    for peer in peers:
        db.identify(peer)
    for t in range(topics):
        peer = peers[t % nodes]
        for c in range(channels):
            db.register(peer, f"topic-{t:05d}", f"channel-{c}")
    return db


def timed(action: Callable[[], object], runs: int) -> str:
    """
    The median and the fastest wall time of C{action}, in milliseconds.
    """
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return (
        f"{statistics.median(times) * 1000:8.1f} ms (fastest {min(times) * 1000:.1f})"
    )


def main() -> None:
    """
    Build, scrape, print the figures.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    implementation = sys.implementation.name
    print(
        f"{implementation} {sys.version.split()[0]}: "
        f"{options.topics} topics x {options.channels} channels"
    )

    broker = buildBroker(options.topics, options.channels)

    def gather(includeClients: bool) -> Stats:
        return gatherStats(broker, (), includeClients=includeClients, now=NOW)

    metrics = NSQDMetrics(gather, health=Health(), startTime=NOW)
    snapshot = gather(False)
    assert snapshot.topics is not None and len(snapshot.topics) == options.topics
    body = metrics.render().body
    gzipped = metrics.render(acceptEncoding="gzip").body
    samples = sum(1 for line in body.splitlines() if not line.startswith(b"#"))
    print(
        f"nsqd: {samples} samples, {len(body) / 1e6:.1f} MB "
        f"({len(gzipped) / 1e3:.0f} kB gzipped)"
    )
    figures: list[tuple[str, Callable[[], object]]] = [
        ("snapshot (gatherStats)", lambda: gather(False)),
        ("scrape (snapshot + render)", metrics.render),
        ("scrape, gzipped", lambda: metrics.render(acceptEncoding="gzip")),
        (
            "scrape with generate_latest",
            lambda: generate_latest(metrics.registry),
        ),
    ]
    for label, action in figures:
        print(f"  {label:<30}{timed(action, options.runs)}")

    db = buildRegistrations(options.topics, options.channels, options.nodes)
    lookupd = LookupdMetrics(db, lambda: NOW, startTime=NOW)
    body = lookupd.render().body
    print(
        f"nsqlookupd ({options.nodes} nsqds): {len(body) / 1e3:.0f} kB, "
        f"scrape {timed(lookupd.render, options.runs)}"
    )


if __name__ == "__main__":
    main()
