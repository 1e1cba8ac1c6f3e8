"""
The client examples in C{docs/examples/} run against an nsqd in this
process (real sockets on 127.0.0.1) and do what they say.

The examples are loaded from their files (they are not a package and are
not put on C{sys.path}).
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from types import ModuleType

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests.client.test_integration import startNSQD

EXAMPLES = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "docs",
    "examples",
)


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
