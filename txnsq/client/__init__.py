# -*- test-case-name: tests.client.test_errors -*-
"""
A Deferred-based NSQ client for Twisted applications.

L{Producer} publishes (PUB, MPUB, DPUB) to one nsqd or a pool of them;
L{Consumer} subscribes to a topic's channel on nsqds given directly or
found through nsqlookupd, and hands each L{Message} to a handler::

    from txnsq.client import Consumer, Producer

    async def main(reactor):
        producer = Producer(["127.0.0.1:4150"], reactor=reactor)
        producer.start()
        await producer.publish("events", b"hello")

        def handle(message):
            print(message.body)      # returning FINs, raising REQs

        consumer = Consumer("events", "archive", handle, reactor=reactor,
                            nsqdAddresses=["127.0.0.1:4150"], maxInFlight=10)
        consumer.start()
        ...
        await consumer.stop()        # CLS, drain in-flight handlers, close
        await producer.stop()

Both are also Twisted services (C{startService}/C{stopService}).  Every
future they return is a txaio future, a L{Deferred} under Twisted; handlers
may return values, Deferreds or coroutines.

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
