"""
L{txnsq.client.asyncio}: the client from asyncio programs.

Each test runs an asyncio program with C{asyncio.run}, an nsqd included
(txnsq's, on 127.0.0.1 port 0, on the same event loop through the
client's asyncio reactor), so nothing here runs on trial's reactor.  The
documented asyncio example runs in a child process in
C{tests/client/test_examples.py}.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from twisted.trial.unittest import SynchronousTestCase

from txnsq.client import ConnectFailed, Message, NotConnected
from txnsq.client import asyncio as txasyncio
from txnsq.client.asyncio import Consumer, Producer, reactorFor
from txnsq.nsqd.config import NSQDConfig
from txnsq.nsqd.service import NSQDService
from txnsq.nsqd.tap import nsqdService

_T = TypeVar("_T")

#: Seconds any one scenario may take (generous: the machine is shared).
BOUND = 60.0


class _WithoutThreads:
    """
    The loop's reactor, minus its thread pool, for the test's nsqd: the
    client's asyncio reactor never starts one (nothing would stop it), so
    nsqd writes its metadata inline.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def __getattr__(self, name: str) -> Any:
        if name == "getThreadPool":
            raise AttributeError(name)
        return getattr(self._reactor, name)


class AsyncioTestCase(SynchronousTestCase):
    """
    Runs asyncio programs with an nsqd on their loop.
    """

    def run_(
        self,
        scenario: Callable[[str, NSQDService], Awaitable[_T]],
        host: str = "127.0.0.1",
    ) -> _T:
        """
        C{asyncio.run} C{scenario(address, nsqd)} with a fresh nsqd on the
        loop, stopped afterwards.
        """
        dataPath = self.mktemp()
        os.makedirs(dataPath)

        async def program() -> _T:
            nsqd = nsqdService(
                NSQDConfig(
                    data_path=dataPath,
                    tcp_address="127.0.0.1:0",
                    http_address="",
                    broadcast_address="127.0.0.1",
                    node_id=1,
                ),
                _WithoutThreads(reactorFor()),
            )
            nsqd.startService()
            try:
                port = await nsqd.whenTCPListening().asFuture(
                    asyncio.get_running_loop()
                )
                address = f"{host}:{port.getHost().port}"  # type: ignore[attr-defined]
                return await asyncio.wait_for(scenario(address, nsqd), BOUND)
            finally:
                await nsqd.stopService().asFuture(asyncio.get_running_loop())

        return asyncio.run(program())


def channelOf(nsqd: NSQDService, topic: str = "t", channel: str = "c") -> Any:
    """
    nsqd's state of C{topic}/C{channel}.
    """
    return nsqd.broker.topics[topic].channels[channel]


class AsyncioClientTests(AsyncioTestCase):
    """
    Producer and Consumer from asyncio coroutines.
    """

    def test_publishAndIterate(self) -> None:
        """
        Publishes return asyncio futures; C{async for} gets every message
        (its body awaiting asyncio code), never more than C{maxInFlight}
        ahead of the loop, and leaving C{async with} finishes the last one.
        """

        async def scenario(address: str, nsqd: NSQDService) -> Any:
            async with Producer([address]) as producer:
                publishing = producer.publish("t", b"first")
                self.assertIsInstance(publishing, asyncio.Future)
                await publishing
                await producer.multiPublish("t", [b"%d" % i for i in range(30)])
                await producer.deferredPublish("t", 10, b"last")
            received, waiting = [], []
            async with Consumer("t", "c", nsqdAddresses=[address], maxInFlight=4) as c:
                async for message in c.messages():
                    await asyncio.sleep(0.001)
                    received.append(message.body)
                    waiting.append(c.waitingCount)
                    if len(received) == 32:
                        break
            return received, waiting, c.messagesFinished, channelOf(nsqd)

        received, waiting, finished, channel = self.run_(scenario)
        self.assertEqual(received, [b"first", *(b"%d" % i for i in range(30)), b"last"])
        self.assertLessEqual(max(waiting), 3)
        self.assertEqual(finished, 32)
        self.assertEqual(channel.depth(), 0)

    def test_asyncHandler(self) -> None:
        """
        An C{async def} handler runs as an asyncio task: its success FINs
        the message, its exception REQs it.
        """

        async def scenario(address: str, nsqd: NSQDService) -> Any:
            done = asyncio.Event()
            seen: list[tuple[bytes, int]] = []

            async def handle(message: Message) -> None:
                await asyncio.sleep(0.001)
                self.assertIsNotNone(asyncio.current_task())
                seen.append((message.body, message.attempts))
                if message.body == b"bad" and message.attempts == 1:
                    raise ValueError("try again")
                if len(seen) == 3:
                    done.set()

            consumer = Consumer(
                "t", "c", handle, nsqdAddresses=[address], requeueDelay=0
            )
            async with consumer:
                await consumer.whenSubscribed()
                async with Producer([address]) as producer:
                    await producer.multiPublish("t", [b"good", b"bad"])
                await done.wait()
            return seen, consumer.messagesRequeued

        seen, requeued = self.run_(scenario)
        self.assertEqual(sorted(seen), [(b"bad", 1), (b"bad", 2), (b"good", 1)])
        self.assertEqual(requeued, 1)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_hostname(self) -> None:
        """
        Host names are resolved by the event loop.
        """

        async def scenario(address: str, nsqd: NSQDService) -> int:
            async with Producer([address]) as producer:
                await producer.publish("t", b"by name")
            return nsqd.broker.topics["t"].messageCount

        self.assertEqual(self.run_(scenario, host="localhost"), 1)

    def test_cancelledLoop(self) -> None:
        """
        A task cancelled while its loop waits for a message gives its place
        up: the next message goes to a later loop.
        """

        async def scenario(address: str, nsqd: NSQDService) -> bytes:
            consumer = Consumer("t", "c", nsqdAddresses=[address])
            async with consumer:
                await consumer.whenSubscribed()

                async def first() -> None:
                    async for _ in consumer.messages():
                        raise AssertionError("the cancelled loop got a message")

                task = asyncio.ensure_future(first())
                await asyncio.sleep(0.01)
                task.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await task
                async with Producer([address]) as producer:
                    await producer.publish("t", b"for the second loop")
                async for message in consumer.messages():
                    return message.body
            raise AssertionError("no message")

        self.assertEqual(self.run_(scenario), b"for the second loop")

    def test_loopEndsOnStop(self) -> None:
        """
        A loop waiting for a message ends when the consumer stops.
        """

        async def scenario(address: str, nsqd: NSQDService) -> str:
            consumer = Consumer("t", "c", nsqdAddresses=[address])

            async def loop() -> str:
                async for _ in consumer.messages():
                    pass
                return "ended"

            task = asyncio.ensure_future(loop())
            await consumer.whenSubscribed()
            await consumer.stop()
            return await task

        self.assertEqual(self.run_(scenario), "ended")

    def test_connectFailed(self) -> None:
        """
        C{async with Producer} to a closed port raises L{ConnectFailed}
        within its timeout; a publish after stopping fails with
        L{NotConnected}.
        """
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{listener.getsockname()[1]}"
        listener.close()

        async def scenario(address: str, nsqd: NSQDService) -> None:
            producer = Producer([closed], timeout=BOUND / 2)
            entered = []
            with self.assertRaises(ConnectFailed):
                async with producer:
                    entered.append(True)
            self.assertEqual(entered, [])
            with self.assertRaises(NotConnected):
                await producer.publish("t", b"x")

        self.run_(scenario)

    def test_lookupFailureSaysWhy(self) -> None:
        """
        A host name that does not resolve fails the connection with the
        resolver's reason, not only Twisted's "no results".
        """

        async def scenario(address: str, nsqd: NSQDService) -> str:
            loop = asyncio.get_running_loop()
            original = loop.getaddrinfo

            async def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
                if host == "nsqd.invalid":
                    raise socket.gaierror(socket.EAI_NONAME, "no such host here")
                return await original(host, *args, **kwargs)

            self.patch(loop, "getaddrinfo", getaddrinfo)
            producer = Producer(["nsqd.invalid:4150"], timeout=BOUND / 2)
            with self.assertRaises(ConnectFailed) as caught:
                async with producer:
                    pass
            return str(caught.exception)

        self.assertEqual(
            self.run_(scenario),
            "cannot reach nsqd nsqd.invalid:4150: DNS lookup failed: no results"
            " for hostname lookup: nsqd.invalid: no such host here.",
        )

    def test_outsideALoop(self) -> None:
        """
        Making a client outside a running event loop says what to do.
        """
        with self.assertRaises(RuntimeError) as caught:
            Producer(["127.0.0.1:4150"])
        self.assertIn("inside a coroutine", str(caught.exception))

    def test_oneReactorPerLoop(self) -> None:
        """
        Each loop gets a reactor of its own, reused on that loop; those of
        closed loops are dropped (C{asyncio.run} may run again).
        """

        async def reactors() -> tuple[Any, Any]:
            return reactorFor(), reactorFor(asyncio.get_running_loop())

        first, again = asyncio.run(reactors())
        self.assertIs(first, again)
        second, _ = asyncio.run(reactors())
        self.assertIsNot(first, second)
        self.assertNotIn(first, txasyncio._reactors.values())
