"""
The cluster tests' clients, run as processes on their own hosts (inside
network namespaces), built on L{txnsq.client}.  Each prints one JSON object
per line on stdout, with an C{"event"} key.

  python -m tests.cluster._client produce --nsqd H:P [--nsqd ...] --topic T
      --count N --prefix P [--rate R] [--window W]

Publishes C{P-0} ... C{P-(N-1)}, each with C{PUB}, at most C{W} waiting for
their answer at once and at most C{R} started per second, spread over the
nsqds connected.  Prints C{progress} (C{done}, C{acked}) every 50
answers and C{done} (C{published}, C{acked}: the indexes answered C{OK},
C{errors}: counts by error) at the end.  A failed publish is not retried:
it is counted as not acknowledged (it may still arrive).

  python -m tests.cluster._client consume (--lookupd H:P ... | --nsqd H:P ...)
      --topic T --channel C [--max-in-flight K] [--hold S] [--poll-interval S]
      [--heartbeat-ms MS]

Prints C{m} per delivery (C{b}: body, C{a}: attempts, C{n}: the nsqd,
C{t}: the consumer's clock, to place a delivery against a fault) and
C{status} (C{connections}: the nsqds subscribed) whenever that set
changes.  Each message is finished C{S} seconds after it arrived (0: at
once).  Runs until C{SIGTERM}, then stops gracefully.

  python -m tests.cluster._client probe

Reads requests from stdin, one JSON object per line (C{id}, C{method},
C{url}, optional C{body}), and answers each with a C{reply} line (C{id},
C{status}, C{body}; status 0 and the error as body when the request
failed): the test process cannot reach the hosts' addresses itself, so it
asks a probe living on the network.
"""

from __future__ import annotations

import argparse
import io
import json
import signal
import sys
from collections import Counter
from typing import Any

from twisted.internet.defer import Deferred, DeferredSemaphore
from twisted.internet.protocol import Protocol
from twisted.internet.stdio import StandardIO
from twisted.internet.task import LoopingCall, deferLater
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers

from txnsq.client import Consumer, IdentifyOptions, Message, Producer


def emit(kind: str, **fields: Any) -> None:
    """
    Print one event line.
    """
    print(json.dumps({"event": kind, **fields}, separators=(",", ":")), flush=True)


async def produce(reactor: Any, args: argparse.Namespace) -> int:
    producer = Producer(args.nsqd, reactor=reactor, timeout=args.timeout)
    producer.start()
    await producer.whenConnected()
    # Give the other nsqds a moment to connect too, so publishes spread.
    for _ in range(50):
        if producer.connectionCount >= len(args.nsqd):
            break
        await deferLater(reactor, 0.1, lambda: None)
    window = DeferredSemaphore(args.window)
    acked: list[int] = []
    errors: Counter[str] = Counter()
    answered = 0
    start = reactor.seconds()
    pending: list[Deferred[None]] = []

    def answer(index: int, error: BaseException | None) -> None:
        nonlocal answered
        answered += 1
        if error is None:
            acked.append(index)
        else:
            errors[type(error).__name__] += 1
        if answered % 50 == 0:
            emit("progress", done=answered, acked=len(acked))

    async def one(index: int) -> None:
        body = f"{args.prefix}-{index}".encode()
        try:
            await producer.publish(args.topic, body)
        except Exception as e:
            answer(index, e)
        else:
            answer(index, None)
        finally:
            window.release()

    for index in range(args.count):
        if args.rate:
            due = start + index / args.rate
            now = reactor.seconds()
            if due > now:
                await deferLater(reactor, due - now, lambda: None)
        await window.acquire()
        pending.append(Deferred.fromCoroutine(one(index)))
    for d in pending:
        await d
    emit(
        "done",
        published=args.count,
        acked=sorted(acked),
        errors=dict(errors),
        seconds=round(reactor.seconds() - start, 3),
    )
    await producer.stop()
    return 0


async def consume(reactor: Any, args: argparse.Namespace) -> int:
    identify = IdentifyOptions(heartbeatIntervalMs=args.heartbeat_ms)

    def handle(message: Message) -> Any:
        emit(
            "m",
            b=message.body.decode("utf-8", "replace"),
            a=message.attempts,
            n=message.nsqdAddress,
            t=round(reactor.seconds(), 4),
        )
        if args.hold:
            return deferLater(reactor, args.hold, lambda: None)
        return None

    consumer = Consumer(
        args.topic,
        args.channel,
        handle,
        nsqdAddresses=args.nsqd,
        lookupdHTTPAddresses=args.lookupd,
        reactor=reactor,
        maxInFlight=args.max_in_flight,
        lookupdPollInterval=args.poll_interval,
        lookupdPollJitter=0.1,
        # Requeues are not expected; a failure must not slow the test down.
        backoff=None,
        identify=identify,
        stopTimeout=5.0,
    )
    reported: list[str] | None = None

    def status() -> None:
        nonlocal reported
        connections = sorted(consumer.rdyCounts())
        if connections != reported:
            reported = connections
            emit("status", connections=connections)

    loop = LoopingCall(status)
    loop.clock = reactor
    consumer.start()
    loop.start(0.2)
    stopping: Deferred[None] = Deferred()
    reactor.addSystemEventTrigger(
        "before",
        "shutdown",
        lambda: None if stopping.called else stopping.callback(None),
    )
    signal.signal(
        signal.SIGTERM,
        lambda *_: reactor.callFromThread(
            lambda: None if stopping.called else stopping.callback(None)
        ),
    )
    await stopping
    loop.stop()
    await consumer.stop()
    emit("stopped", received=consumer.messagesReceived)
    return 0


class _Requests(Protocol):
    def __init__(self, reactor: Any) -> None:
        self.agent = Agent(reactor, connectTimeout=5)
        self.buffer = b""
        self.done: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if line.strip():
                Deferred.fromCoroutine(self.request(json.loads(line)))

    async def request(self, request: dict[str, Any]) -> None:
        body = request.get("body")
        producer = FileBodyProducer(io.BytesIO(body.encode())) if body else None
        try:
            response = await self.agent.request(
                request.get("method", "GET").encode(),
                request["url"].encode(),
                Headers(),
                producer,
            )
            data = await readBody(response)
        except Exception as e:
            emit("reply", id=request["id"], status=0, body=repr(e))
            return
        emit(
            "reply",
            id=request["id"],
            status=response.code,
            body=data.decode("utf-8", "replace"),
        )

    def connectionLost(self, reason: Any = None) -> None:
        self.done.callback(None)


async def probe(reactor: Any, args: argparse.Namespace) -> int:
    requests = _Requests(reactor)
    StandardIO(requests, reactor=reactor)
    emit("ready")
    await requests.done
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster._client")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("produce")
    p.add_argument("--nsqd", action="append", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--timeout", type=float, default=5.0)
    c = commands.add_parser("consume")
    c.add_argument("--lookupd", action="append", default=[])
    c.add_argument("--nsqd", action="append", default=[])
    c.add_argument("--topic", required=True)
    c.add_argument("--channel", required=True)
    c.add_argument("--max-in-flight", type=int, default=20)
    c.add_argument("--hold", type=float, default=0.0)
    c.add_argument("--poll-interval", type=float, default=1.0)
    c.add_argument("--heartbeat-ms", type=int, default=None)
    commands.add_parser("probe")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    from twisted.internet import reactor
    from twisted.internet.task import react

    args = parse(argv)
    run = {"produce": produce, "consume": consume, "probe": probe}[args.command]
    del reactor
    react(lambda r: Deferred.fromCoroutine(run(r, args)))


if __name__ == "__main__":
    main(sys.argv[1:])
