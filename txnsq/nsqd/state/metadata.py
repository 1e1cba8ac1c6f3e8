# -*- test-case-name: tests.nsqd.test_persistence,tests.nsqd.state.test_broker -*-
"""
nsqd's files beside its disk queues: C{nsqd.dat} (topology, Go's format),
the data-path lock, and C{nsqd.deferred.json} (txnsq's record of defer
times, which Go nsqd does not keep).

Pure file I/O on the stdlib, like L{txnsq.nsqd.diskqueue}; the service
decides when to call it.

Go loses every defer time when a deferred message reaches disk (NSQ issues
#1107, #1375): its record format has no field for it.  txnsq writes deferred
messages into the same queue files as Go does, so Go can still read the
directory, and keeps their due times in a separate JSON file keyed by queue
name and message ID.  Go ignores the extra file; txnsq reads and removes it
at start and applies each due time when the message is read back.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
from collections.abc import Callable
from typing import Any

import attrs

from txnsq import NSQ_VERSION
from txnsq.wire.names import isEphemeral, isValidName

METADATA_FILE = "nsqd.dat"
DEFERRED_FILE = "nsqd.deferred.json"


class DataPathLocked(OSError):
    """
    Another process holds the data path.
    """


@attrs.frozen
class ChannelMetadata:
    """
    A channel as C{nsqd.dat} records it.
    """

    name: str
    paused: bool


@attrs.frozen
class TopicMetadata:
    """
    A topic as C{nsqd.dat} records it.
    """

    name: str
    paused: bool
    channels: tuple[ChannelMetadata, ...]


def encodeMetadata(topics: list[TopicMetadata]) -> bytes:
    """
    C{nsqd.dat}'s JSON: Go's key order, C{null} for no channels, ephemeral
    topics and channels left out.
    """
    entries: list[dict[str, Any]] = []
    for topic in topics:
        if isEphemeral(topic.name):
            continue
        channels = [
            {"name": channel.name, "paused": channel.paused}
            for channel in topic.channels
            if not isEphemeral(channel.name)
        ]
        entries.append(
            {"name": topic.name, "paused": topic.paused, "channels": channels or None}
        )
    document = {"topics": entries or None, "version": NSQ_VERSION}
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def decodeMetadata(
    data: bytes, warn: Callable[[str], None] = lambda text: None
) -> list[TopicMetadata]:
    """
    Parse C{nsqd.dat}; names Go would refuse are skipped with a warning.

    @raise ValueError: the file is not the JSON document nsqd writes.
    """
    document = json.loads(data)
    if not isinstance(document, dict):
        raise ValueError("nsqd.dat is not a JSON object")
    topics: list[TopicMetadata] = []
    for entry in document.get("topics") or ():
        name = entry.get("name")
        if not isinstance(name, str) or not isValidName(name):
            warn(f"skipping creation of invalid topic {name!r}")
            continue
        channels = []
        for channelEntry in entry.get("channels") or ():
            channelName = channelEntry.get("name")
            if not isinstance(channelName, str) or not isValidName(channelName):
                warn(f"skipping creation of invalid channel {channelName!r}")
                continue
            channels.append(
                ChannelMetadata(channelName, bool(channelEntry.get("paused")))
            )
        topics.append(TopicMetadata(name, bool(entry.get("paused")), tuple(channels)))
    return topics


def writeAtomically(path: str, data: bytes) -> None:
    """
    Replace C{path} with C{data}: write a temporary file, fsync, rename,
    as Go does, so a crash leaves the old or the new file, never half.
    """
    temporary = f"{path}.{random.getrandbits(32)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def readFile(path: str) -> bytes | None:
    """
    The file's contents, or L{None} if it does not exist.
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def lockDataPath(path: str) -> int:
    """
    Take Go's exclusive, non-blocking C{flock} on the data directory.

    @return: the descriptor holding the lock (close it to release).
    @raise DataPathLocked: another nsqd (Go's or ours) holds it.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        # Go's dirlock text, with Go's wording of EAGAIN.
        raise DataPathLocked(
            f"cannot flock directory {path} - resource temporarily unavailable"
            " (possibly in use by another instance of nsqd)"
        ) from None
    return fd


@attrs.define
class DeferredTimes:
    """
    Due times of deferred messages that were written to disk.

    @ivar channels: C{"topic:channel"} → message ID → due time (Unix
        seconds): the message waits in that channel's deferred queue.
    @ivar topics: topic → message ID → delay in milliseconds still to
        apply when the topic hands the message to its channels (the delay
        starts then, as for a DPUB in memory).
    """

    channels: dict[str, dict[bytes, float]] = attrs.field(factory=dict)
    topics: dict[str, dict[bytes, int]] = attrs.field(factory=dict)

    def encode(self) -> bytes:
        """
        The JSON file's contents.
        """
        document = {
            "version": 1,
            "channels": {
                queue: {mid.decode("ascii"): due for mid, due in entries.items()}
                for queue, entries in self.channels.items()
                if entries
            },
            "topics": {
                queue: {mid.decode("ascii"): delay for mid, delay in entries.items()}
                for queue, entries in self.topics.items()
                if entries
            },
        }
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> DeferredTimes:
        """
        Parse the JSON file.

        @raise ValueError: it is not what L{encode} writes.
        """
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("version") != 1:
            raise ValueError("unknown deferred-times format")
        channels = {
            queue: {mid.encode("ascii"): float(due) for mid, due in entries.items()}
            for queue, entries in document.get("channels", {}).items()
        }
        topics = {
            queue: {mid.encode("ascii"): int(delay) for mid, delay in entries.items()}
            for queue, entries in document.get("topics", {}).items()
        }
        return cls(channels, topics)
