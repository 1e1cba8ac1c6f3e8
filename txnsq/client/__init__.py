# -*- test-case-name: tests.client.test_errors -*-
"""
An NSQ client for Twisted applications, also usable from asyncio ones.

L{Producer} publishes (PUB, MPUB, DPUB) to one nsqd or a pool of them;
L{Consumer} subscribes to a topic's channel on nsqds given directly or
found through nsqlookupd, and hands each L{Message} to a handler or to
C{async for}::

    from twisted.internet.task import react

    from txnsq.client import Consumer, Producer

    async def main(reactor):
        async with Producer(["127.0.0.1:4150"], reactor=reactor) as producer:
            await producer.publish("events", b"hello")

        async with Consumer("events", "archive", reactor=reactor,
                            nsqdAddresses=["127.0.0.1:4150"],
                            maxInFlight=10) as consumer:
            async for message in consumer.messages():
                print(message.body)  # FINed when the loop moves on
                break

    react(main)

With a handler instead (C{Consumer(topic, channel, handle, ...)}), a
handler that returns FINs the message and one that raises REQs it; handlers
may return values, Deferreds or coroutines.  C{consumer.stop()} sends CLS,
drains the messages in flight and closes.

Both are Twisted services (C{startService}/C{stopService}), for a
C{MultiService} or twistd.  Every future they return is a txaio future, a
L{Deferred} under Twisted.  L{txnsq.client.asyncio} has the same clients
for asyncio programs, returning asyncio futures.

The lower layer, L{txnsq.client.protocol.NSQClientProtocol}, is usable on
its own for tools that speak the protocol directly.
"""

from txnsq.client._errors import (
    ConnectFailed,
    ConnectionClosed,
    NotConnected,
    NSQAuthError,
    NSQBadBody,
    NSQBadChannel,
    NSQBadMessage,
    NSQBadProtocol,
    NSQBadTopic,
    NSQError,
    NSQIdentifyFailed,
    NSQInvalid,
    NSQMessageNotInFlight,
    NSQPublishFailed,
    NSQSubscribeFailed,
    PublishQueueFull,
    PublishTimeout,
    UnexpectedResponse,
    UnsupportedFeature,
)
from txnsq.client._identify import IdentifyOptions, IdentifyResponse
from txnsq.client._message import Message
from txnsq.client.consumer import Consumer, exponentialBackoff, fullJitterBackoff
from txnsq.client.lookup import LookupdPoller
from txnsq.client.producer import Producer
from txnsq.client.protocol import NSQClientProtocol

__all__ = [
    "ConnectFailed",
    "ConnectionClosed",
    "Consumer",
    "IdentifyOptions",
    "IdentifyResponse",
    "LookupdPoller",
    "Message",
    "NSQAuthError",
    "NSQBadBody",
    "NSQBadChannel",
    "NSQBadMessage",
    "NSQBadProtocol",
    "NSQBadTopic",
    "NSQClientProtocol",
    "NSQError",
    "NSQIdentifyFailed",
    "NSQInvalid",
    "NSQMessageNotInFlight",
    "NSQPublishFailed",
    "NSQSubscribeFailed",
    "NotConnected",
    "Producer",
    "PublishQueueFull",
    "PublishTimeout",
    "UnexpectedResponse",
    "UnsupportedFeature",
    "exponentialBackoff",
    "fullJitterBackoff",
]
