"""
Memory stays bounded under hostile declared sizes: nsqd's protocol V2,
run in-process over a L{StringTransport}, refuses a huge declared body
or an endless command line with Go's answer as soon as the size or the
line length shows it, without buffering what follows.
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.protocol import NSQDFactory
from txnsq.nsqd.state import Broker

from ._mutate import MAX_LINE_LENGTH, errorFrame, size32

CHUNK = 4096
#: How much a hostile client pushes after its declaration.
PUSHED = 8 * 1024 * 1024


class MemoryBoundTests(SynchronousTestCase):
    """
    The decoder's buffer never grows past the limits.
    """

    def connect(self) -> tuple[object, StringTransport]:
        config = NSQDConfig(broadcast_address="127.0.0.1")
        clock = Clock()
        factory = NSQDFactory(Broker(config), config, clock)
        sniffer = factory.buildProtocol(IPv4Address("TCP", "10.1.2.3", 4000))
        transport = StringTransport()
        sniffer.makeConnection(transport)
        sniffer.dataReceived(b"  V2")
        return sniffer, transport

    def push(self, sniffer: object, transport: StringTransport, head: bytes) -> int:
        """
        Send C{head}, then L{PUSHED} bytes in chunks; the largest decoder
        buffer seen.
        """
        sniffer.dataReceived(head)  # type: ignore[attr-defined]
        # The connection reads its magic itself and then decodes commands.
        decoder = sniffer._decoder  # type: ignore[attr-defined]
        largest = len(decoder._buffer)
        chunk = b"x" * CHUNK
        for _ in range(PUSHED // CHUNK):
            sniffer.dataReceived(chunk)  # type: ignore[attr-defined]
            largest = max(largest, len(decoder._buffer))
        return largest

    def assertRefused(self, head: bytes, text: bytes | None, limit: int) -> None:
        sniffer, transport = self.connect()
        largest = self.push(sniffer, transport, head)
        self.assertLessEqual(largest, limit)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"" if text is None else errorFrame(text))

    def test_hugePub(self) -> None:
        """
        A PUB declaring a 2 GB body gets Go's C{E_BAD_MESSAGE PUB message
        too big} and the close; the 8 MB that follow are not buffered.
        """
        self.assertRefused(
            b"PUB t\n" + size32(2**31 - 1),
            b"E_BAD_MESSAGE PUB message too big 2147483647 > 1048576",
            CHUNK,
        )

    def test_hugeMpub(self) -> None:
        """
        An MPUB declaring a 2 GB body gets Go's C{E_BAD_BODY MPUB body too
        big} and the close, nothing buffered.
        """
        self.assertRefused(
            b"MPUB t\n" + size32(2**31 - 1),
            b"E_BAD_BODY MPUB body too big 2147483647 > 5242880",
            CHUNK,
        )

    def test_hugeIdentify(self) -> None:
        """
        An IDENTIFY declaring a 2 GB body gets Go's C{E_BAD_BODY IDENTIFY
        body too big} and the close, nothing buffered.
        """
        self.assertRefused(
            b"IDENTIFY\n" + size32(2**31 - 1),
            b"E_BAD_BODY IDENTIFY body too big 2147483647 > 5242880",
            CHUNK,
        )

    def test_hugeMpubMessage(self) -> None:
        """
        An MPUB whose second message declares 2 GB inside a body within
        the limit is refused with Go's C{E_BAD_MESSAGE MPUB message too
        big}; the buffer never exceeds the declared body.
        """
        body = size32(2) + size32(1) + b"a" + size32(2**31 - 1)
        self.assertRefused(
            b"MPUB t\n" + size32(5242880) + body,
            b"E_BAD_MESSAGE MPUB message too big 2147483647 > 1048576",
            5242880 + CHUNK,
        )

    def test_endlessLine(self) -> None:
        """
        A command line without a newline is dropped silently, as Go drops
        a line that overflows its 16 KiB reader, once it reaches that
        length: the buffer stays under it plus one read.
        """
        self.assertRefused(b"PUB ", None, MAX_LINE_LENGTH + CHUNK)
