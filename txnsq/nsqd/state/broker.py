# -*- test-case-name: tests.nsqd.state.test_broker -*-
"""
The broker: every topic of one nsqd, and the operations the TCP protocol
and the HTTP API share, including end-to-end latency tracking.  No I/O and
no clock: callers pass C{now} in seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from txnsq.nsqd.state.backend import (
    BackendQueue,
    DiscardBackendQueue,
    MemoryBackendQueue,
)
from txnsq.nsqd.state.channel import Channel
from txnsq.nsqd.state.message import GUIDFactory
from txnsq.nsqd.state.metadata import (
    ChannelMetadata,
    DeferredTimes,
    TopicMetadata,
)
from txnsq.nsqd.state.quantile import LatencyWindow
from txnsq.nsqd.state.topic import Topic
from txnsq.wire.names import isEphemeral

BackendFactory = Callable[[str], BackendQueue]


class TopologyObserver(Protocol):
    """
    Told when topics and channels come and go (lookupd registration and
    metadata persistence listen).
    """

    def topologyChanged(self, event: str, topic: str, channel: str | None) -> None:
        """
        C{event} is one of C{"topic_created"}, C{"topic_deleted"},
        C{"channel_created"}, C{"channel_deleted"}, C{"paused"}.
        """


class BrokerSettings(Protocol):
    """
    The settings the broker reads: a narrow view of nsqd's configuration
    (L{txnsq.nsqd.config.NSQDConfig} provides it), so the pure core does
    not depend on the flag table.  Names are Go's option names.
    """

    @property
    def node_id(self) -> int:
        """Go's C{--node-id}: the high bits of every message ID."""

    @property
    def mem_queue_size(self) -> int:
        """Messages a topic or channel keeps in memory before its backend."""

    @property
    def max_channel_consumers(self) -> int:
        """Consumers one channel accepts (0: no limit)."""

    @property
    def max_msg_timeout(self) -> float:
        """The longest a message may stay in flight, in seconds."""

    @property
    def e2e_processing_latency_percentiles(self) -> Sequence[float]:
        """The end-to-end latency quantiles each channel tracks (none: off)."""

    @property
    def e2e_processing_latency_window_time(self) -> float:
        """The time those quantiles cover, in seconds."""


def _memoryBackend(name: str) -> BackendQueue:
    return MemoryBackendQueue()


class Broker:
    """
    Topics by name, plus the periodic scan of in-flight and deferred
    messages.

    With C{--e2e-processing-latency-percentile} set, every channel gets a
    L{LatencyWindow} (its C{e2eLatency}) when it is created, as Go gives
    each channel a stream; the channel adds a sample on each C{FIN}.

    @param backendFactory: makes the durable backend for a queue name
        (C{topic} or C{topic:channel}); ephemeral queues always discard.
    """

    def __init__(
        self, config: BrokerSettings, backendFactory: BackendFactory = _memoryBackend
    ) -> None:
        self.config = config
        self.topics: dict[str, Topic] = {}
        self.observers: list[TopologyObserver] = []
        #: Called after every publish, before it is acknowledged (the disk
        #: queues hand their buffered records to the kernel there); one
        #: raising L{OSError} fails the publish.
        self.afterPublish: list[Callable[[], None]] = []
        #: Called when a publish could not be stored (a backend write
        #: failed), before the error reaches the publisher.
        self.publishFailed: list[Callable[[OSError], None]] = []
        #: Called with each new topic (not when restoring): it finds the
        #: topic's channels (nsqd asks nsqlookupd) and then calls
        #: L{Topic.started}; until then the topic holds its messages.
        self.topicStarter: Callable[[Topic], None] | None = None
        self._restoring = False
        self.closing = False
        self._backendFactory = backendFactory
        self._backlog: dict[Topic, None] = {}
        self._wakeup: Callable[[], None] | None = None

    def setWakeup(self, wakeup: Callable[[], None]) -> None:
        """
        Ask to be woken (L{work}) when a topic holds a backlog, instead of
        handing the whole backlog over at once.  The caller arranges for
        L{work} to run soon, once per C{wakeup} call or fewer.
        """
        self._wakeup = wakeup

    def _topicBacklog(self, topic: Topic) -> None:
        self._backlog[topic] = None
        if self._wakeup is not None:
            self._wakeup()

    def work(self, now: float) -> bool:
        """
        Move one batch of every backlogged topic to its channels.

        @return: whether more remains (the wakeup was called again).
        """
        if self.closing:
            # Shut down mid-handover: what is left stays on disk.
            self._backlog.clear()
            return False
        backlog, self._backlog = self._backlog, {}
        for topic in backlog:
            if not topic.deleted:
                topic.drain(now)
        return bool(self._backlog)

    def _notify(self, event: str, topic: str, channel: str | None = None) -> None:
        for observer in self.observers:
            observer.topologyChanged(event, topic, channel)

    def _backend(self, name: str, ephemeral: bool) -> BackendQueue:
        if ephemeral:
            return DiscardBackendQueue()
        return self._backendFactory(name)

    def _makeChannel(self, topic: Topic, name: str) -> Channel:
        config = self.config
        ephemeral = isEphemeral(name)
        return Channel(
            topic.name,
            name,
            config.mem_queue_size,
            self._backend(f"{topic.name}:{name}", ephemeral),
            config.max_channel_consumers,
            config.max_msg_timeout,
        )

    def getTopic(self, name: str) -> Topic:
        """
        The topic called C{name}, created if needed.
        """
        topic = self.topics.get(name)
        if topic is None:
            ephemeral = isEphemeral(name)
            topic = self.topics[name] = Topic(
                name,
                self.config.mem_queue_size,
                self._backend(name, ephemeral),
                GUIDFactory(self.config.node_id),
                self._makeChannel,
                self._topicBacklog if self._wakeup is not None else None,
            )
            self._notify("topic_created", name)
            starter = self.topicStarter
            if starter is not None and not self._restoring:
                topic.starting = True
                starter(topic)
        return topic

    def getChannel(
        self, topicName: str, channelName: str, now: float, drain: bool = True
    ) -> Channel:
        """
        The channel, creating the topic and the channel if needed (see
        L{Topic.getChannel} for C{drain}).
        """
        topic = self.getTopic(topicName)
        channel, created = topic.getChannel(channelName, now, drain)
        if created:
            percentiles = self.config.e2e_processing_latency_percentiles
            if percentiles:
                channel.e2eLatency = LatencyWindow(
                    self.config.e2e_processing_latency_window_time, percentiles, now
                )
            self._notify("channel_created", topicName, channelName)
        return channel

    def publish(
        self, topicName: str, bodies: list[bytes], now: float, deferMs: int = 0
    ) -> None:
        """
        Publish to a topic, creating it if needed; then run the
        L{afterPublish} hooks (before the publisher is told C{OK}).
        """
        try:
            self.getTopic(topicName).publish(bodies, now, deferMs)
        except OSError as e:
            for failed in self.publishFailed:
                failed(e)
            raise
        # A hook that cannot write what was published raises, so the
        # publisher is told the publish failed rather than OK.
        for hook in self.afterPublish:
            hook()

    def deleteTopic(self, name: str) -> bool:
        """
        Delete a topic and its channels; C{False} if it did not exist.
        """
        topic = self.topics.pop(name, None)
        if topic is None:
            return False
        channels = list(topic.channels)
        topic.delete()
        # As Go: the topic's notification, then one per deleted channel.
        self._notify("topic_deleted", name)
        for channel in channels:
            self._notify("channel_deleted", name, channel)
        return True

    def deleteChannel(self, topicName: str, channelName: str) -> bool:
        """
        Delete a channel; an ephemeral topic left with no channel goes too.
        """
        topic = self.topics.get(topicName)
        if topic is None or topic.deleteChannel(channelName) is None:
            return False
        self._notify("channel_deleted", topicName, channelName)
        if topic.ephemeral and not topic.channels:
            self.deleteTopic(topicName)
        return True

    def consumerLeft(self, channel: Channel) -> None:
        """
        A consumer unsubscribed; an ephemeral channel with none left is
        deleted.
        """
        if channel.ephemeral and not channel.consumers and not channel.deleted:
            self.deleteChannel(channel.topicName, channel.name)

    def queueScan(self, now: float) -> None:
        """
        Time out in-flight messages and release deferred ones, for every
        channel.  Called every C{queue_scan_interval}.
        """
        for topic in list(self.topics.values()):
            for channel in list(topic.channels.values()):
                if channel.inFlight or channel.deferredCount():
                    channel.scan(now)

    def pauseTopic(self, name: str, paused: bool, now: float) -> bool:
        """
        Pause or unpause a topic; C{False} if it does not exist.
        """
        topic = self.topics.get(name)
        if topic is None:
            return False
        if paused:
            topic.pause()
        else:
            topic.unpause(now)
        self._notify("paused", name)
        return True

    def pauseChannel(self, topicName: str, name: str, paused: bool, now: float) -> bool:
        """
        Pause or unpause a channel; C{False} if it does not exist.
        """
        topic = self.topics.get(topicName)
        channel = topic.channels.get(name) if topic is not None else None
        if channel is None:
            return False
        if paused:
            channel.pause()
        else:
            channel.unpause(now)
        self._notify("paused", topicName, name)
        return True

    def metadata(self) -> list[TopicMetadata]:
        """
        The topology to persist, topics and channels sorted by name.
        """
        return [
            TopicMetadata(
                topic.name,
                topic.paused,
                tuple(
                    ChannelMetadata(channel.name, channel.paused)
                    for channel in sorted(topic.channels.values(), key=_byName)
                ),
            )
            for topic in sorted(self.topics.values(), key=_byName)
        ]

    def restore(
        self,
        topics: list[TopicMetadata],
        deferred: DeferredTimes | None,
        now: float,
    ) -> None:
        """
        Recreate persisted topics and channels with their paused flags (as
        Go does, channels exist before any message moves), then the
        deferred due times written at the last shutdown.
        """
        self._restoring = True
        try:
            self._restoreTopology(topics, now)
        finally:
            self._restoring = False
        self._restoreDeferred(deferred)
        for entry in topics:
            self.topics[entry.name].drain(now)

    def _restoreTopology(self, topics: list[TopicMetadata], now: float) -> None:
        for entry in topics:
            topic = self.getTopic(entry.name)
            topic.paused = entry.paused
            for channelEntry in entry.channels:
                channel = self.getChannel(entry.name, channelEntry.name, now, False)
                channel.paused = channelEntry.paused

    def _restoreDeferred(self, deferred: DeferredTimes | None) -> None:
        if deferred is not None:
            for name, delays in deferred.topics.items():
                held = self.topics.get(name)
                if held is not None:
                    held.backendDefers.update(delays)
            for queue, dues in deferred.channels.items():
                topicName, _, channelName = queue.partition(":")
                owner = self.topics.get(topicName)
                target = owner.channels.get(channelName) if owner else None
                if target is not None:
                    target.restoredDue.update(dues)

    def close(self) -> DeferredTimes:
        """
        Graceful shutdown: every topic and channel writes what it holds to
        its backend.

        @return: the due times of deferred messages now on disk.
        """
        self.closing = True
        deferred = DeferredTimes()
        for topic in self.topics.values():
            for channelName, dues in topic.close().items():
                if dues:
                    deferred.channels[f"{topic.name}:{channelName}"] = dues
            if topic.backendDefers:
                deferred.topics[topic.name] = dict(topic.backendDefers)
        return deferred


def _byName(item: Topic | Channel) -> str:
    return item.name
