"""
Tests for L{txnsq.nsqd.state.message}: messages, their disk records,
message IDs and the L{Consumer} protocol.
"""

from __future__ import annotations

import re

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.state import Broker, Consumer, GUIDFactory, Message

from ._support import FakeConsumer, config


class FakeConsumerTests(SynchronousTestCase):
    """
    The fake is a faithful L{Consumer}.
    """

    def test_provides(self) -> None:
        """
        L{FakeConsumer} satisfies the L{Consumer} protocol (checked by mypy
        through this assignment) and starts with nothing in flight.
        """
        consumer: Consumer = FakeConsumer(ready=3)
        self.assertEqual(consumer.capacity(), 3)


class MessageTests(SynchronousTestCase):
    """
    L{Message}: copies and disk records.
    """

    def test_copy(self) -> None:
        """
        A copy shares id, body, timestamp, attempts and delay, not
        bookkeeping: like a just-published message (L{Message.fresh}), it
        has no owner and no delivery times until a delivery sets them.
        """
        message = Message(b"0" * 16, b"body", 7, attempts=2, deferMs=5)
        message.deadline = 3.0
        message.owner = object()  # type: ignore[assignment]
        copy = message.copy()
        self.assertEqual(
            (copy.id, copy.body, copy.timestamp, copy.attempts, copy.deferMs),
            (b"0" * 16, b"body", 7, 2, 5),
        )
        self.assertIsNone(copy.owner)
        fresh = Message.fresh(b"1" * 16, b"body", 7, 0)
        for name in ("deadline", "deliveredAt", "timeout"):
            self.assertEqual(hasattr(copy, name), hasattr(fresh, name), name)
            self.assertFalse(hasattr(copy, name) and getattr(copy, name), name)

    def test_encodeDecode(self) -> None:
        """
        A disk record round-trips id, body, timestamp and attempts (the
        delay is not stored).
        """
        message = Message(b"0123456789abcdef", b"body", 123456789, 3, deferMs=9)
        data = message.encode()
        self.assertEqual(len(data), 26 + 4)
        back = Message.decode(data)
        self.assertEqual(
            (back.id, back.body, back.timestamp, back.attempts, back.deferMs),
            (b"0123456789abcdef", b"body", 123456789, 3, 0),
        )


_TWEPOCH = 1288834974288
_HEX16 = re.compile(rb"\A[0-9a-f]{16}\Z")


class GUIDFactoryTests(SynchronousTestCase):
    """
    L{GUIDFactory} makes Go nsqd's snowflake ids.
    """

    def test_goldenExample(self) -> None:
        """
        Node 7 at the tick of the reference example gives
        C{18a9b2e837807000} (reference section 3.7).
        """
        tick = (0x18A9B2E837807000 >> 22) + _TWEPOCH
        self.assertEqual(GUIDFactory(7).nextID(tick << 20), b"18a9b2e837807000")

    def test_layout(self) -> None:
        """
        C{((tick - twepoch) << 22) | (node << 12) | sequence}, tick being
        nanoseconds shifted right by 20.
        """
        now = 1_700_000_000_123_456_789
        value = int(GUIDFactory(5).nextID(now), 16)
        self.assertEqual(value >> 22, (now >> 20) - _TWEPOCH)
        self.assertEqual((value >> 12) & 0x3FF, 5)
        self.assertEqual(value & 0xFFF, 0)

    def test_nodeBits(self) -> None:
        """
        Every node id 0..1023 lands in bits 12-21.
        """
        now = 1_700_000_000_000_000_000
        for node in range(1024):
            value = int(GUIDFactory(node).nextID(now), 16)
            self.assertEqual((value >> 12) & 0x3FF, node)

    def test_format(self) -> None:
        """
        Ids are C{%016x}: 16 lower-case hex characters, zero-padded.
        """
        guid = GUIDFactory(7).nextID(_TWEPOCH << 20)
        self.assertEqual(guid, b"0000000000007000")
        self.assertRegex(GUIDFactory(1023).nextID(2**62), _HEX16)

    def test_sameTick(self) -> None:
        """
        10,000 ids in one tick are unique and strictly increasing (the
        4096-per-tick sequence spills into the following ticks).
        """
        factory = GUIDFactory(3)
        now = 1_700_000_000_000_000_000
        ids = [factory.nextID(now) for _ in range(10000)]
        values = [int(i, 16) for i in ids]
        self.assertEqual(values, sorted(set(values)))
        self.assertTrue(all(_HEX16.match(i) for i in ids))
        self.assertTrue(all((v >> 12) & 0x3FF == 3 for v in values))
        self.assertEqual([v & 0xFFF for v in values[:3]], [0, 1, 2])

    def test_clockBackwards(self) -> None:
        """
        A clock that goes back never yields a smaller or repeated id.
        """
        factory = GUIDFactory(1)
        now = 1_700_000_000_000_000_000
        values = [int(factory.nextID(t), 16) for t in (now, now - 10**9, now, now + 1)]
        self.assertEqual(values, sorted(set(values)))

    def test_newTickResetsSequence(self) -> None:
        """
        The sequence restarts at 0 in a later tick.
        """
        factory = GUIDFactory(1)
        now = 1_700_000_000_000_000_000
        factory.nextID(now)
        factory.nextID(now)
        value = int(factory.nextID(now + (5 << 20)), 16)
        self.assertEqual(value & 0xFFF, 0)

    def test_oneAtATimeMatchesBatches(self) -> None:
        """
        L{GUIDFactory.nextID}, which reuses the tick's formatted prefix,
        gives exactly the ids L{GUIDFactory.nextIDs} gives, however the
        calls mix, across new ticks, a clock going back and a tick's 4096
        sequence numbers running out.
        """
        now = 1_700_000_000_000_000_000
        times = (
            [now] * 5
            + [now + (1 << 20)] * 3
            + [now - 10**9] * 2
            + [now + (2 << 20)] * 4100
            + [now + (9 << 20)]
        )
        batches = GUIDFactory(5)
        expected = [batches.nextIDs(1, t)[0] for t in times]
        single = GUIDFactory(5)
        mixed: list[bytes] = []
        for i, t in enumerate(times):
            if i % 7 == 3:
                mixed += single.nextIDs(1, t)
            else:
                mixed.append(single.nextID(t))
        self.assertEqual(mixed, expected)
        values = [int(i, 16) for i in expected]
        self.assertEqual(values, sorted(set(values)))

    def test_topicsIndependent(self) -> None:
        """
        Each topic has its own factory, so ids are unique per topic only.
        """
        broker = Broker(config(node_id=9))
        a = broker.getTopic("a").newMessage(b"", 1_700_000_000_000_000_000)
        b = broker.getTopic("b").newMessage(b"", 1_700_000_000_000_000_000)
        self.assertEqual(a.id, b.id)
