"""
A consumer: print the messages of the topic orders, channel billing, from
every nsqd that nsqlookupd knows; stop after COUNT messages.

    python billing.py COUNT
"""

import sys

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from txnsq.client import Consumer, Message


async def main(reactor, count):
    enough = Deferred()
    received = []

    def handle(message: Message) -> None:
        # Returning finishes the message (FIN); raising would requeue it.
        print(message.body.decode(), flush=True)
        received.append(message.body)
        if len(received) == int(count):
            enough.callback(None)

    consumer = Consumer(
        "orders",
        "billing",
        handle,
        lookupdHTTPAddresses=["127.0.0.1:4161"],
        # Up to 10 messages at a time, shared between the nsqds.
        maxInFlight=10,
        reactor=reactor,
    )
    consumer.start()
    await enough
    await consumer.stop()  # finish what is in flight, then disconnect


react(main, sys.argv[1:])
