"""
txnsq's Producer and Consumer as Twisted services, for twistd.

    twistd -ny docs/examples/service.py

A C{.tac}-style file: C{application} holds a L{MultiService} with a
consumer of C{events}/C{archive} whose handler republishes each message to
C{events-archived} through a producer, on the nsqd at C{127.0.0.1:4150}
(C{NSQD_ADDRESS} in the environment overrides it).  twistd starts both
services and, on SIGTERM or Ctrl-C, stops them gracefully: the consumer
drains its handlers, the producer waits for nsqd's answers.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.application.service import Application, IServiceCollection, MultiService

from txnsq.client import Consumer, Message, Producer


def makeService(nsqdAddress: str, reactor: Any = None) -> MultiService:
    """
    The consumer and producer, in one service.
    """
    services = MultiService()
    producer = Producer([nsqdAddress], reactor=reactor)

    def forward(message: Message) -> Any:
        # The message is FINed once the publish succeeds, REQed if it fails.
        return producer.publish("events-archived", message.body)

    consumer = Consumer(
        "events",
        "archive",
        forward,
        nsqdAddresses=[nsqdAddress],
        reactor=reactor,
        maxInFlight=50,
    )
    services.addService(producer)
    services.addService(consumer)
    return services


application = Application("nsq-archiver")
makeService(os.environ.get("NSQD_ADDRESS", "127.0.0.1:4150")).setServiceParent(
    IServiceCollection(application)
)
