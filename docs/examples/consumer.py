"""
Consume from nsqd with txnsq's Consumer.

    python docs/examples/consumer.py [HOST:PORT] [TOPIC] [CHANNEL] [COUNT]

Subscribes to CHANNEL (default C{archive}) of TOPIC (default C{events})
on the nsqd at HOST:PORT (default C{127.0.0.1:4150}) and prints each
message; stops gracefully after COUNT messages (default: runs until
interrupted).  To find nsqds through nsqlookupd instead, pass
C{lookupdHTTPAddresses=["127.0.0.1:4161"]} rather than C{nsqdAddresses}.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from txnsq.client import Consumer, Message


async def main(
    reactor: Any,
    nsqdAddress: str = "127.0.0.1:4150",
    topic: str = "events",
    channel: str = "archive",
    count: int | None = None,
) -> list[bytes]:
    """
    Print messages until C{count} were handled (or until interrupted),
    then stop gracefully.

    @return: the bodies handled.
    """
    received: list[bytes] = []
    enough: Deferred[None] = Deferred()

    def handle(message: Message) -> None:
        # Returning normally FINs the message; raising REQs it (with a
        # delay growing with message.attempts) and backs off.
        print(f"{message.id.decode()} attempt {message.attempts}: {message.body!r}")
        received.append(message.body)
        if count is not None and len(received) >= count and not enough.called:
            enough.callback(None)

    consumer = Consumer(
        topic,
        channel,
        handle,
        nsqdAddresses=[nsqdAddress],
        reactor=reactor,
        maxInFlight=10,
    )
    consumer.start()
    if count is None:
        # Run until Ctrl-C, then stop gracefully (instead of Twisted's
        # default of stopping the reactor at once).
        def interrupted(*_: object) -> None:
            if not enough.called:
                reactor.callFromThread(enough.callback, None)

        signal.signal(signal.SIGINT, interrupted)

    await enough
    # CLS, wait for handlers still running and their FINs, then close.
    await consumer.stop()
    return received


if __name__ == "__main__":
    args = sys.argv[1:]
    react(main, [*args[:3], *(int(a) for a in args[3:4])])
