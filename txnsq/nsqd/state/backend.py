# -*- test-case-name: tests.nsqd.state.test_backend -*-
"""
The backend-queue seam: where a topic or channel puts what its memory queue
cannot hold.

Go nsqd calls this C{BackendQueue}.  Records are opaque bytes: the 26-byte
message header followed by the body (L{txnsq.wire.message}).  Implementations
here are pure (no reactor): L{MemoryBackendQueue} for tests and the core
issue, L{DiscardBackendQueue} for ephemeral topics and channels, and
L{txnsq.nsqd.diskqueue.DiskQueue} for durable ones.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol


class BackendQueue(Protocol):
    """
    A FIFO of encoded messages that outlives the memory queue.
    """

    def put(self, data: bytes) -> None:
        """
        Append one record.  Raise L{OSError} if it could not be stored.
        """

    def get(self) -> bytes | None:
        """
        Remove and return the oldest record, or L{None} when empty.
        """

    def getMany(self, limit: int) -> list[bytes]:
        """
        Remove and return up to C{limit} of the oldest records.
        """

    def depth(self) -> int:
        """
        Number of records held.
        """

    def empty(self) -> None:
        """
        Drop every record.
        """

    def close(self) -> None:
        """
        Persist and release resources (graceful shutdown).
        """

    def delete(self) -> None:
        """
        Drop every record and remove any persistent trace.
        """


class MemoryBackendQueue:
    """
    An unbounded in-memory backend; what the core uses before disk exists.
    """

    def __init__(self) -> None:
        self._records: deque[bytes] = deque()

    def put(self, data: bytes) -> None:
        self._records.append(data)

    def get(self) -> bytes | None:
        return self._records.popleft() if self._records else None

    def getMany(self, limit: int) -> list[bytes]:
        popleft = self._records.popleft
        return [popleft() for _ in range(min(limit, len(self._records)))]

    def depth(self) -> int:
        return len(self._records)

    def empty(self) -> None:
        self._records.clear()

    def close(self) -> None:
        pass

    def delete(self) -> None:
        self._records.clear()


class DiscardBackendQueue:
    """
    Ephemeral topics and channels drop what overflows memory, as in Go.
    """

    def put(self, data: bytes) -> None:
        pass

    def get(self) -> bytes | None:
        return None

    def getMany(self, limit: int) -> list[bytes]:
        return []

    def depth(self) -> int:
        return 0

    def empty(self) -> None:
        pass

    def close(self) -> None:
        pass

    def delete(self) -> None:
        pass
