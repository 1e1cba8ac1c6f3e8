"""
Tests for L{txnsq.nsqd.state.backend}: the memory and discarding backend
queues.  (Channels and topics overflowing to their backends are tested in
L{tests.nsqd.state.test_channel} and L{tests.nsqd.state.test_topic}.)
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.state import DiscardBackendQueue, MemoryBackendQueue


class MemoryBackendQueueTests(SynchronousTestCase):
    """
    L{MemoryBackendQueue} keeps records in memory.
    """

    def test_memoryBackend(self) -> None:
        """
        L{MemoryBackendQueue} is a FIFO.
        """
        backend = MemoryBackendQueue()
        backend.put(b"1")
        backend.put(b"2")
        self.assertEqual(backend.depth(), 2)
        self.assertEqual(backend.get(), b"1")
        backend.empty()
        self.assertEqual((backend.depth(), backend.get()), (0, None))


class DiscardBackendQueueTests(SynchronousTestCase):
    """
    L{DiscardBackendQueue} drops records.
    """

    def test_discardBackend(self) -> None:
        """
        L{DiscardBackendQueue} holds nothing.
        """
        backend = DiscardBackendQueue()
        backend.put(b"x" * 30)
        self.assertEqual((backend.depth(), backend.get()), (0, None))
