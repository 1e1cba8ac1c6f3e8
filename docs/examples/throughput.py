"""
Publish and consume as fast as the client allows, and report the rates.

    python docs/examples/throughput.py [HOST:PORT] [COUNT] [SIZE]

Without HOST:PORT (or with C{-}), starts an nsqd inside this process on a
loopback port (with a temporary data path) and measures against it.
Publishes COUNT messages (default 100000) of SIZE bytes (default 100),
first with pipelined PUBs (up to 1000 unanswered at once), then with MPUBs
of 100 (up to 10 unanswered); then consumes all of them with C{maxInFlight=2500}.  Prints
messages per second for each phase.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react
from twisted.python.failure import Failure

from txnsq.client import Consumer, Message, Producer


async def _startNSQD(reactor: Any) -> tuple[str, Any]:
    from txnsq.nsqd.config import NSQDConfig
    from txnsq.nsqd.service import NSQDService

    dataPath = tempfile.mkdtemp(prefix="txnsq-throughput-")
    config = NSQDConfig(
        node_id=1,
        tcp_address="127.0.0.1:0",
        http_address="",
        broadcast_address="127.0.0.1",
        data_path=dataPath,
        mem_queue_size=1000000,
    )
    service = NSQDService(config, reactor)
    service.startService()
    port = await service.whenTCPListening()
    return f"127.0.0.1:{port.getHost().port}", service  # type: ignore[attr-defined]


def pipeline(
    send: Callable[[], Deferred[None]], count: int, window: int
) -> Deferred[None]:
    """
    Call C{send} C{count} times, keeping up to C{window} calls unanswered:
    each answer sends the next.  nsqd answers in order, so this is a
    sliding window over one connection.

    @return: fires when all were answered (fails on the first failure).
    """
    finished: Deferred[None] = Deferred()
    issued = answered = 0

    def issue() -> None:
        nonlocal issued
        issued += 1
        send().addCallbacks(onAnswer, onFailure)

    def onAnswer(_: object) -> None:
        nonlocal answered
        answered += 1
        if issued < count:
            issue()
        elif answered == count:
            finished.callback(None)

    def onFailure(reason: Failure) -> None:
        if not finished.called:
            finished.errback(reason)

    for _ in range(min(window, count)):
        issue()
    return finished


async def main(
    reactor: Any, nsqdAddress: str = "-", count: int = 100000, size: int = 100
) -> dict[str, float]:
    """
    Measure publish (PUB and MPUB) and consume rates.

    @return: messages per second, by phase (C{"pub"}, C{"mpub"},
        C{"consume"}).
    """
    service = None
    if nsqdAddress == "-":
        nsqdAddress, service = await _startNSQD(reactor)
    topic = f"throughput{os.getpid()}"
    body = b"x" * size
    rates: dict[str, float] = {}
    producer = Producer([nsqdAddress], reactor=reactor)
    producer.start()
    await producer.whenConnected()

    start = time.perf_counter()
    await pipeline(lambda: producer.publish(topic, body), count, 1000)
    rates["pub"] = count / (time.perf_counter() - start)

    batch = [body] * 100
    batches = max(1, count // 100)
    start = time.perf_counter()
    await pipeline(lambda: producer.multiPublish(topic, batch), batches, 10)
    rates["mpub"] = batches * 100 / (time.perf_counter() - start)

    total = count + batches * 100
    received = 0
    done: Deferred[None] = Deferred()

    def handle(message: Message) -> None:
        nonlocal received
        received += 1
        if received == total:
            done.callback(None)

    consumer = Consumer(
        topic,
        "bench",
        handle,
        nsqdAddresses=[nsqdAddress],
        reactor=reactor,
        maxInFlight=2500,
    )
    start = time.perf_counter()
    consumer.start()
    await done
    rates["consume"] = total / (time.perf_counter() - start)
    await consumer.stop()
    await producer.stop()
    if service is not None:
        await service.stopService()
    for phase, rate in rates.items():
        print(f"{phase:8} {rate:10.0f} msg/s")
    return rates


if __name__ == "__main__":
    args = sys.argv[1:]
    react(main, [*args[:1], *(int(a) for a in args[1:3])])
