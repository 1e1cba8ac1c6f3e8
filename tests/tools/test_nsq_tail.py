"""
Tests for L{txnsq.tools.nsq_tail}, run in this process against a real
nsqd (and nsqlookupd) on 127.0.0.1.
"""

from __future__ import annotations

import random
import socket

from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.tools._helpers import (
    channelClients,
    logLines,
    publish,
    start,
    startLookupd,
    startNSQD,
    waitFor,
)
from txnsq import NSQ_VERSION
from txnsq._version import __version__
from txnsq.tools.nsq_tail import FLAGS, TOOL, ephemeralChannel


class CommandLineTests(SynchronousTestCase):
    """
    What C{nsq_tail} decides from its command line alone.
    """

    def status(self, *argv: str) -> tuple[int, bytes, str]:
        running = start(TOOL, argv)
        status = self.successResultOf(running.result)
        return status, running.stdout.getvalue(), running.stderr.getvalue()

    def test_version(self) -> None:
        """
        C{--version} prints Go's C{nsq_tail v1.3.0} and exits 0.
        """
        self.assertEqual(
            self.status("--version"), (0, f"nsq_tail v{NSQ_VERSION}\n".encode(), "")
        )

    def test_help(self) -> None:
        """
        C{-h} prints Go's usage on stderr and exits 0; the flags are Go's.
        """
        status, out, err = self.status("-h")
        self.assertEqual((status, out), (0, b""))
        self.assertEqual(err, FLAGS.usage())
        self.assertIn(
            "  -max-in-flight int\n"
            "    \tmax number of messages to allow in flight (default 200)\n",
            err,
        )
        self.assertIn(
            "  -n int\n    \ttotal messages to show (will wait if starved)\n", err
        )
        self.assertIn(
            "  -print-topic\n    \tprint topic name where message was received\n",
            err,
        )

    def test_badFlag(self) -> None:
        """
        An undefined flag is Go's flag error with the usage; status 2.
        """
        status, _, err = self.status("--nope")
        self.assertEqual(status, 2)
        self.assertEqual(err, "flag provided but not defined: -nope\n" + FLAGS.usage())

    def test_noAddress(self) -> None:
        """
        Without addresses, Go's C{log.Fatal} text; status 1.
        """
        status, _, err = self.status("--topic", "t")
        self.assertEqual(status, 1)
        self.assertEqual(
            logLines(err), ["--nsqd-tcp-address or --lookupd-http-address required"]
        )

    def test_bothAddresses(self) -> None:
        """
        Both kinds of address is an error too.
        """
        status, _, err = self.status(
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:4150",
            "--lookupd-http-address=127.0.0.1:4161",
        )
        self.assertEqual(status, 1)
        self.assertEqual(
            logLines(err),
            ["use --nsqd-tcp-address or --lookupd-http-address not both"],
        )

    def test_noTopic(self) -> None:
        """
        Go checks the addresses before the topic.
        """
        status, _, err = self.status("-nsqd-tcp-address", "127.0.0.1:4150")
        self.assertEqual(status, 1)
        self.assertEqual(logLines(err), ["--topic required"])

    def test_badConsumerOpt(self) -> None:
        """
        An unknown C{--consumer-opt} is a flag error with go-nsq's text.
        """
        status, _, err = self.status("--consumer-opt=no_such_thing,1")
        self.assertEqual(status, 2)
        self.assertTrue(
            err.startswith(
                'invalid value "no_such_thing,1" for flag -consumer-opt:'
                " invalid option no_such_thing\n"
            )
        )

    def test_invalidMaxInFlight(self) -> None:
        """
        A negative C{--max-in-flight} fails go-nsq's C{Validate}, which
        names the Go field.
        """
        status, _, err = self.status(
            "--topic=t", "--nsqd-tcp-address=127.0.0.1:4150", "--max-in-flight=-1"
        )
        self.assertEqual(status, 1)
        self.assertEqual(logLines(err)[-1], "invalid MaxInFlight ! -1 < 0")

    def test_badAddress(self) -> None:
        """
        An nsqd address without a port is Go's dial error.
        """
        status, _, err = self.status("--topic=t", "--nsqd-tcp-address=localhost")
        self.assertEqual(status, 1)
        self.assertEqual(
            logLines(err)[-1], "dial tcp: address localhost: missing port in address"
        )

    def test_invalidTopic(self) -> None:
        """
        An invalid topic name is go-nsq's C{NewConsumer} error.
        """
        status, _, err = self.status("--topic=no/slash", "--nsqd-tcp-address=a:1")
        self.assertEqual(status, 1)
        self.assertEqual(logLines(err)[-1], "invalid topic name")

    def test_namesBeforeAddresses(self) -> None:
        """
        Go checks each topic (go-nsq's C{NewConsumer}: the config, then
        the topic and channel names) after logging it, and its addresses
        after that: a bad name is reported before a bad address, but a
        first topic's bad address before a second topic's bad name.  The
        lines are Go 1.3.0's (go-nsq's own lines left out).
        """
        cases = [
            (
                ["--topic=a!", "--nsqd-tcp-address=foo"],
                ["Adding consumer for topic: a!", "invalid topic name"],
            ),
            (
                ["--topic=a!", "--lookupd-http-address=foo"],
                ["Adding consumer for topic: a!", "invalid topic name"],
            ),
            (
                ["--topic=good", "--channel=b!", "--nsqd-tcp-address=foo"],
                ["Adding consumer for topic: good", "invalid channel name"],
            ),
            (
                ["--topic=good", "--topic=a!", "--nsqd-tcp-address=foo"],
                [
                    "Adding consumer for topic: good",
                    "dial tcp: address foo: missing port in address",
                ],
            ),
            (
                ["--topic=good", "--topic=a!", "--lookupd-http-address=foo"],
                ["Adding consumer for topic: good", "missing port"],
            ),
            (
                [
                    "--topic=a!",
                    "--nsqd-tcp-address=foo",
                    "--consumer-opt=heartbeat_interval,2m",
                ],
                [
                    "Adding consumer for topic: a!",
                    "HeartbeatInterval 2m0s must be less than ReadTimeout 1m0s",
                ],
            ),
        ]
        for argv, lines in cases:
            status, _, err = self.status(*argv)
            self.assertEqual((status, logLines(err)), (1, lines), argv)

    def test_ephemeralChannel(self) -> None:
        """
        The default channel is Go's C{tail%06d#ephemeral}.
        """
        channel = ephemeralChannel(random.Random(0))
        self.assertRegex(channel, r"\Atail[0-9]{6}#ephemeral\Z")


class TailTests(TestCase):
    """
    C{nsq_tail} against a real nsqd.
    """

    timeout = 30

    async def test_bytesOut(self) -> None:
        """
        Each body is written as is, followed by a newline, and C{--n}
        exits 0 once that many were shown.
        """
        nsqd = await startNSQD(self)
        bodies = [b"hello", b"bin\x00\xff\xfe", b"", b"last"]
        await publish(nsqd, "t", [b for b in bodies if b])
        running = start(TOOL, ["--topic=t", "--nsqd-tcp-address", nsqd.tcp, "--n", "3"])
        self.assertEqual(await running.result, 0)
        self.assertEqual(running.stdout.getvalue(), b"hello\nbin\x00\xff\xfe\nlast\n")
        self.assertEqual(
            logLines(running.stderr.getvalue())[0], "Adding consumer for topic: t"
        )

    async def test_printTopic(self) -> None:
        """
        C{--print-topic} prefixes each body with Go's C{<topic> | }.
        """
        nsqd = await startNSQD(self)
        await publish(nsqd, "events", [b"a", b"b"])
        running = start(
            TOOL,
            ["-topic", "events", "-nsqd-tcp-address", nsqd.tcp, "-n=2", "-print-topic"],
        )
        self.assertEqual(await running.result, 0)
        self.assertEqual(running.stdout.getvalue(), b"events | a\nevents | b\n")

    async def test_severalTopics(self) -> None:
        """
        C{--topic} may be given several times: one consumer per topic, all
        on the same channel.
        """
        nsqd = await startNSQD(self)
        await publish(nsqd, "one", [b"1"])
        await publish(nsqd, "two", [b"2"])
        running = start(
            TOOL,
            [
                "--topic=one",
                "--topic=two",
                f"--nsqd-tcp-address={nsqd.tcp}",
                "--channel=c",
                "--print-topic",
            ],
        )

        async def bothShown() -> bool:
            return len(running.stdout.getvalue().splitlines()) == 2

        await waitFor(bothShown)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertEqual(
            sorted(running.stdout.getvalue().splitlines()), [b"one | 1", b"two | 2"]
        )

    async def test_interrupt(self) -> None:
        """
        SIGINT or SIGTERM stops the consumer gracefully and exits 0: nsqd
        sees its client leave.
        """
        nsqd = await startNSQD(self)
        await publish(nsqd, "t", [b"x"])
        running = start(TOOL, ["--topic=t", "--nsqd-tcp-address", nsqd.tcp])

        async def subscribed() -> bool:
            clients = await channelClients(self, nsqd, "t")
            return any(clients.values())

        await waitFor(subscribed)

        # Subscribed is not yet delivered: interrupting between the two
        # would requeue the message unprinted (as Go's nsq_tail does).
        async def printed() -> bool:
            return running.stdout.getvalue() == b"x\n"

        await waitFor(printed)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        self.assertEqual(running.stdout.getvalue(), b"x\n")

        async def gone() -> bool:
            clients = await channelClients(self, nsqd, "t")
            return not any(clients.values())

        await waitFor(gone)

    async def test_consumerOptions(self) -> None:
        """
        C{--consumer-opt} reaches IDENTIFY, C{--max-in-flight} is capped at
        C{--n}, and the user agent is the tool's; the default channel is
        ephemeral.
        """
        nsqd = await startNSQD(self)
        await publish(nsqd, "t", [b"x"])
        running = start(
            TOOL,
            [
                "--topic=t",
                "--nsqd-tcp-address",
                nsqd.tcp,
                "--consumer-opt=client_id,tailer",
                "--consumer-opt",
                "max_in_flight,1000",
                "--max-in-flight=50",
                "--n=7",
            ],
        )
        clients: dict[str, list[dict[str, object]]] = {}

        async def subscribed() -> bool:
            # Until the RDY that follows SUB arrives, /stats shows 0.
            clients.update(await channelClients(self, nsqd, "t"))
            return any(c["ready_count"] for cs in clients.values() for c in cs)

        await waitFor(subscribed)
        running.run.interrupt()
        self.assertEqual(await running.result, 0)
        [(channel, [client])] = clients.items()
        self.assertRegex(channel, r"\Atail[0-9]{6}#ephemeral\Z")
        self.assertEqual(client["client_id"], "tailer")
        self.assertEqual(client["user_agent"], f"nsq_tail/1.3.0 txnsq/{__version__}")
        self.assertEqual(client["ready_count"], 7)

    async def test_lookupd(self) -> None:
        """
        With C{--lookupd-http-address} the nsqds are found through
        nsqlookupd.
        """
        lookupdTCP, lookupdHTTP = await startLookupd(self)
        nsqd = await startNSQD(self, lookupdTCP)
        await publish(nsqd, "t", [b"found"])
        running = start(
            TOOL,
            [
                "--topic=t",
                "--lookupd-http-address",
                lookupdHTTP,
                "--consumer-opt=lookupd_poll_interval,50ms",
                "--n=1",
            ],
        )
        self.assertEqual(await running.result, 0)
        self.assertEqual(running.stdout.getvalue(), b"found\n")

    async def test_unreachable(self) -> None:
        """
        An nsqd that refuses the connection ends the tool with Go's dial
        error (go-nsq's C{ConnectToNSQD} dials at once); status 1.
        """
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        listener.close()
        running = start(TOOL, ["--topic=t", "--nsqd-tcp-address", address])
        self.assertEqual(await running.result, 1)
        self.assertEqual(
            logLines(running.stderr.getvalue())[-1],
            f"dial tcp {address}: connect: connection refused",
        )
