"""
Publish to nsqd with txnsq's Producer.

    python docs/examples/producer.py [HOST:PORT] [TOPIC] [COUNT]

Publishes COUNT messages (default 10) to TOPIC (default C{events}) on the
nsqd at HOST:PORT (default C{127.0.0.1:4150}): one with PUB, the rest but
one in a single MPUB, and the last with DPUB, delayed by one second.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.task import react

from txnsq.client import NSQError, Producer


async def main(
    reactor: Any,
    nsqdAddress: str = "127.0.0.1:4150",
    topic: str = "events",
    count: int = 10,
) -> int:
    """
    Publish C{count} messages and stop.

    @return: how many messages nsqd acknowledged.
    """
    producer = Producer([nsqdAddress], reactor=reactor)
    producer.start()
    bodies = [b"message %d" % i for i in range(count)]
    published = 0
    try:
        # Each publish returns a Deferred that fires on nsqd's OK...
        await producer.publish(topic, bodies[0])
        published += 1
        if count > 2:
            # ...MPUB queues a batch atomically...
            await producer.multiPublish(topic, bodies[1:-1])
            published += count - 2
        if count > 1:
            # ...and DPUB asks nsqd to hold the message back (milliseconds).
            await producer.deferredPublish(topic, 1000, bodies[-1])
            published += 1
    except NSQError as e:
        # nsqd's error code is on the exception, e.g. E_BAD_MESSAGE.
        print(f"nsqd refused: {e.code} {e.description}")
    finally:
        await producer.stop()
    print(f"published {published} messages to {topic}")
    return published


if __name__ == "__main__":
    args = sys.argv[1:]
    react(main, [*args[:2], *(int(a) for a in args[2:3])])
