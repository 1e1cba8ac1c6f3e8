# -*- test-case-name: tests.nsqd.state -*-
"""
nsqd's broker state, without I/O: topics, channels, in-flight and deferred
messages.  Time is passed in as numbers (seconds).
"""

from txnsq.nsqd.state.backend import (
    BackendQueue,
    DiscardBackendQueue,
    MemoryBackendQueue,
)
from txnsq.nsqd.state.broker import Broker, BrokerSettings, TopologyObserver
from txnsq.nsqd.state.channel import Channel, ChannelError
from txnsq.nsqd.state.message import (
    FINISHED,
    REQUEUED,
    TIMED_OUT,
    Consumer,
    GUIDFactory,
    Message,
)
from txnsq.nsqd.state.topic import Topic

__all__ = [
    "FINISHED",
    "REQUEUED",
    "TIMED_OUT",
    "BackendQueue",
    "Broker",
    "BrokerSettings",
    "Channel",
    "ChannelError",
    "Consumer",
    "DiscardBackendQueue",
    "GUIDFactory",
    "MemoryBackendQueue",
    "Message",
    "Topic",
    "TopologyObserver",
]
