"""
txnsq's Twisted client in the async/await style.

    python docs/examples/async_await.py [HOST:PORT] [TOPIC] [COUNT]

Publishes COUNT messages (default 10) to TOPIC (default C{events}) on the
nsqd at HOST:PORT (default C{127.0.0.1:4150}) inside C{async with
Producer(...)}, then reads them from the C{archive} channel with C{async
for} inside C{async with Consumer(...)}, and stops.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.defer import gatherResults
from twisted.internet.task import react

from txnsq.client import Consumer, Producer


async def main(
    reactor: Any,
    nsqdAddress: str = "127.0.0.1:4150",
    topic: str = "events",
    count: int = 10,
) -> list[bytes]:
    """
    Publish C{count} messages, then consume them.

    @return: the bodies consumed.
    """
    # Entering connects (or raises ConnectFailed); leaving waits for the
    # publishes still unanswered and closes.
    async with Producer([nsqdAddress], reactor=reactor) as producer:
        await gatherResults(
            [producer.publish(topic, b"message %d" % i) for i in range(count)]
        )
    print(f"published {count} messages to {topic}")

    received: list[bytes] = []
    # A consumer without a handler is read with "async for".  Entering
    # starts it; leaving finishes the message the loop holds and stops it
    # gracefully (CLS, requeue what the loop did not take, close).
    async with Consumer(
        topic, "archive", nsqdAddresses=[nsqdAddress], reactor=reactor, maxInFlight=5
    ) as consumer:
        async for message in consumer.messages():
            # At most maxInFlight messages are delivered ahead of the loop;
            # asking for the next message finishes (FINs) this one, unless
            # it was finished, requeued or disableAutoResponse() was called.
            print(f"{message.body.decode()} (attempt {message.attempts})")
            received.append(message.body)
            if len(received) == count:
                break
    return received


if __name__ == "__main__":
    args = sys.argv[1:]
    react(main, [*args[:2], *(int(a) for a in args[2:3])])
