"""
Give up on messages that keep failing and park them on a dead-letter
topic.

    python docs/examples/deadletter.py [HOST:PORT] [TOPIC]

A consumer of TOPIC (default C{orders}) whose handler rejects bodies
starting with C{bad}: each such message is requeued (with a short delay)
until it has been delivered C{maxAttempts} times; then the C{giveUp} hook
publishes it to C{TOPIC-dead} and the message is FINed only once nsqd
acknowledged that publish.  Publishes a few messages itself to show it.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from txnsq.client import Consumer, Message, Producer


class Rejected(Exception):
    """
    The handler cannot process this message.
    """


async def main(
    reactor: Any, nsqdAddress: str = "127.0.0.1:4150", topic: str = "orders"
) -> dict[str, list[bytes]]:
    """
    Publish two good and one bad message; consume them; collect what ends
    up handled and what ends up on the dead-letter topic.

    @return: C{{"handled": [...], "dead": [...]}}.
    """
    deadTopic = f"{topic}-dead"
    producer = Producer([nsqdAddress], reactor=reactor)
    producer.start()
    results: dict[str, list[bytes]] = {"handled": [], "dead": []}
    finished: Deferred[None] = Deferred()

    def check() -> None:
        complete = len(results["handled"]) == 2 and len(results["dead"]) == 1
        if complete and not finished.called:
            finished.callback(None)

    def handle(message: Message) -> None:
        if message.body.startswith(b"bad"):
            raise Rejected(message.body)
        results["handled"].append(message.body)
        check()

    def giveUp(message: Message) -> Deferred[None]:
        # The message is FINed when this Deferred fires (REQed if it fails).
        return producer.publish(deadTopic, message.body)

    def parked(message: Message) -> None:
        results["dead"].append(message.body)
        check()

    consumer = Consumer(
        topic,
        "work",
        handle,
        nsqdAddresses=[nsqdAddress],
        reactor=reactor,
        maxAttempts=3,
        giveUp=giveUp,
        requeueDelay=0.1,  # seconds, times the attempt count
        backoff=None,
    )
    dead = Consumer(
        deadTopic, "inspect", parked, nsqdAddresses=[nsqdAddress], reactor=reactor
    )
    consumer.start()
    dead.start()
    await consumer.whenSubscribed()
    await dead.whenSubscribed()
    await producer.multiPublish(topic, [b"good 1", b"bad 2", b"good 3"])
    await finished
    await consumer.stop()
    await dead.stop()
    await producer.stop()
    print(f"handled {results['handled']}, dead-lettered {results['dead']}")
    return results


if __name__ == "__main__":
    react(main, sys.argv[1:3])
