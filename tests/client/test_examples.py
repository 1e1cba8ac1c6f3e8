"""
The client examples in C{docs/examples/} run against an nsqd in this
process (real sockets on 127.0.0.1) and do what they say.

The examples are loaded from their files (they are not a package and are
not put on C{sys.path}); those that run under asyncio, or that show a whole
program with its launcher, run as a child process, as a user would run
them.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from types import ModuleType

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.client.test_integration import startNSQD
from txnsq.client import Producer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "docs", "examples")

#: The examples the tests below run (every file in docs/examples/ must be).
TESTED = {
    "asyncio_client",
    "async_await",
    "consumer",
    "deadletter",
    "producer",
    "service",
    "throughput",
}


def loadExample(name: str) -> ModuleType:
    """
    Import C{docs/examples/<name>.py} as a module of its own.
    """
    path = os.path.join(EXAMPLES, f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"txnsq_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def runExample(testCase: TestCase, name: str, *args: str) -> str:
    """
    Run C{python docs/examples/<name>.py args...} in a child process
    (its own event loop) and fail the test unless it exits with 0.

    @return: what it wrote to stdout.
    """
    running = getProcessOutputAndValue(
        sys.executable,
        [os.path.join(EXAMPLES, f"{name}.py"), *args],
        env=dict(os.environ),
        path=ROOT,
    )
    out, err, code = await running.addTimeout(120, reactor)
    testCase.assertEqual(code, 0, f"{name}.py failed:\n{err.decode()}")
    output: str = out.decode()
    return output


class ExampleTests(TestCase):
    """
    Each example's C{main(reactor, ...)}.
    """

    timeout = 60

    def setUp(self) -> None:
        self.output = io.StringIO()
        self.patch(sys, "stdout", self.output)

    async def test_producerThenConsumer(self) -> None:
        """
        The producer example publishes its messages (PUB, MPUB, DPUB) and
        the consumer example receives all of them, then stops.
        """
        _, address = await startNSQD(self)
        producer = loadExample("producer")
        consumer = loadExample("consumer")
        published = await producer.main(reactor, address, "events", 5)
        self.assertEqual(published, 5)
        received = await consumer.main(reactor, address, "events", "archive", 5)
        self.assertEqual(sorted(received), [b"message %d" % i for i in range(5)])
        self.assertIn("published 5 messages to events", self.output.getvalue())

    async def test_deadLetter(self) -> None:
        """
        The dead-letter example handles the good messages and parks the bad
        one on the dead-letter topic after its attempts ran out.
        """
        _, address = await startNSQD(self)
        example = loadExample("deadletter")
        results = await example.main(reactor, address, "orders")
        self.assertEqual(sorted(results["handled"]), [b"good 1", b"good 3"])
        self.assertEqual(results["dead"], [b"bad 2"])
        self.assertEqual(len(self.flushLoggedErrors(example.Rejected)), 3)

    async def test_throughput(self) -> None:
        """
        The throughput example publishes and consumes its messages and
        reports a rate for each phase (the rates themselves are not
        checked: speed belongs in benchmarks).
        """
        _, address = await startNSQD(self)
        example = loadExample("throughput")
        rates = await example.main(reactor, address, 500, 10)
        self.assertEqual(set(rates), {"pub", "mpub", "consume"})
        self.assertTrue(all(rate > 0 for rate in rates.values()))

    async def test_asyncioProgram(self) -> None:
        """
        The asyncio example, run as a program under C{asyncio.run}, publishes
        its messages and reads all of them on both channels (C{async for}
        and an C{async def} handler); nsqd has nothing left queued or in
        flight.
        """
        service, address = await startNSQD(self)
        out = await runExample(self, "asyncio_client", address, "events", "12")
        self.assertIn("published 12 messages to events", out)
        self.assertIn("audit: 12 messages", out)
        for i in range(12):
            self.assertIn(f"archive: message {i} (attempt 1)", out)
        for name in ("archive", "audit"):
            channel = service.broker.topics["events"].channels[name]
            self.assertEqual((channel.messageCount, channel.depth()), (12, 0))
            self.assertEqual((len(channel.inFlight), channel.requeueCount), (0, 0))

    async def test_asyncAwaitProgram(self) -> None:
        """
        The async/await example, run as a program under C{task.react},
        publishes inside C{async with Producer} and reads every message with
        C{async for} inside C{async with Consumer}.
        """
        service, address = await startNSQD(self)
        out = await runExample(self, "async_await", address, "events", "7")
        self.assertEqual(
            out.splitlines(),
            ["published 7 messages to events"]
            + [f"message {i} (attempt 1)" for i in range(7)],
        )
        channel = service.broker.topics["events"].channels["archive"]
        self.assertEqual((channel.messageCount, channel.depth()), (7, 0))
        self.assertEqual((len(channel.inFlight), channel.requeueCount), (0, 0))

    async def test_service(self) -> None:
        """
        The services example's MultiService starts its consumer and producer,
        forwards a message from C{events} to C{events-archived}, and stops
        both gracefully.
        """
        service, address = await startNSQD(self)
        example = loadExample("service")
        self.assertIsNotNone(example.application)
        services = example.makeService(address, reactor)
        services.startService()
        self.addCleanup(services.stopService)
        producer = Producer([address], reactor=reactor)
        self.addCleanup(producer.stop)
        producer.start()
        await producer.publish("events", b"to archive")
        await producer.stop()
        topics = service.broker.topics
        while (
            "events-archived" not in topics
            or not topics["events-archived"].messageCount
        ):
            await deferLater(reactor, 0.01, lambda: None)
        await services.stopService()
        self.assertFalse(any(child.running for child in services))
        channel = topics["events"].channels["archive"]
        self.assertEqual((channel.depth(), len(channel.inFlight)), (0, 0))
        self.assertEqual(topics["events-archived"].messageCount, 1)

    def test_everyExampleTested(self) -> None:
        """
        Every example in C{docs/examples/} is run by a test here.
        """
        names = {n[:-3] for n in os.listdir(EXAMPLES) if n.endswith(".py")}
        self.assertEqual(names, TESTED)
