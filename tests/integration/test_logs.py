"""
The daemons' logs as an operator sees them, from real processes: C{twistd
nsqd} and C{txnsq nsqd} print nothing below C{--log-level} (Twisted's own
lines included), nothing per connection from Twisted's factories, the
request log in Go's format on both daemons, and a bad command line as one
line rather than twistd's whole help.
"""

from __future__ import annotations

import os
import re
import sys

from twisted.trial.unittest import TestCase

from tests.integration._cluster import (
    freePorts,
    http,
    nsqdClient,
    startLookupd,
    startRegisteredNSQD,
    until,
)
from tests.integration._daemon import _TWISTD, ChildProcess, Daemon, spawnChild

#: What Twisted logs for each factory started or stopped (per HTTP client
#: connection, unless told not to).
_FACTORY_NOISE = re.compile(r"(Starting|Stopping) factory")

#: A twistd log line at INFO: C{<time> [<namespace>#info] <text>}.
_TWISTD_INFO = re.compile(r"#info\] ")

#: A Go log line at INFO (C{txnsq nsqd}).
_GO_INFO = re.compile(r" INFO: ")


async def _exercise(child: ChildProcess, tcpPort: int, httpPort: int) -> None:
    """
    Make an nsqd that logs nothing to say that it is up do what it logs at
    INFO: create a topic and a channel over HTTP, and have a client
    connect, publish and leave.
    """
    address = f"127.0.0.1:{httpPort}"

    async def answering() -> tuple[bool, object]:
        if child.exitCode is not None:
            raise AssertionError(f"nsqd ended\n{child.output()}")
        try:
            status, body = await http(address, "GET", "/ping")
        except Exception as e:
            return False, e
        return status == 200, (status, body)

    await until(answering, "nsqd answers /ping", timeout=30.0)
    for request in ("/topic/create?topic=t", "/channel/create?topic=t&channel=c"):
        status, body = await http(address, "POST", request)
        assert status == 200, (request, status, body)
    client = await nsqdClient(Daemon(child, {"tcp": ("127.0.0.1", tcpPort)}))
    try:
        frame = await client.command(b"PUB t\n\x00\x00\x00\x01x")
        assert frame == (0, b"OK"), frame
    finally:
        await client.close()


class LogLevelTests(TestCase):
    """
    C{--log-level=warn} leaves no INFO line, whoever runs nsqd.
    """

    timeout = 90

    def dataPath(self) -> str:
        """
        A fresh data directory.
        """
        path: str = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path

    async def runNSQD(self, argv: list[str]) -> ChildProcess:
        """
        Run nsqd with C{argv} (which names two free ports, TCP then HTTP),
        make it do what it logs at INFO, stop it, and return it.
        """
        tcpPort, httpPort = freePorts(2)
        argv = [
            arg.replace("TCP_PORT", str(tcpPort)).replace("HTTP_PORT", str(httpPort))
            for arg in argv
        ]
        child = spawnChild(self, argv, name=" ".join(argv[2:4]))
        await _exercise(child, tcpPort, httpPort)
        code = await child.stop()
        self.assertEqual(code, 0, child.output())
        return child

    async def test_twistd(self) -> None:
        """
        Under C{twistd -n nsqd --log-level=warn} nothing is logged at INFO:
        not twistd's own C{starting up}, not nsqd's lines (listening,
        topics, clients), not the requests.
        """
        child = await self.runNSQD(
            [
                sys.executable,
                "-c",
                _TWISTD,
                "-n",
                "--pidfile=",
                "nsqd",
                "--tcp-address=127.0.0.1:TCP_PORT",
                "--http-address=127.0.0.1:HTTP_PORT",
                f"--data-path={self.dataPath()}",
                "--log-level=warn",
            ]
        )
        self.assertEqual(
            [line for line in child.lines if _TWISTD_INFO.search(line)],
            [],
            child.output(),
        )
        self.assertEqual(child.stderrText, "")

    async def test_txnsq(self) -> None:
        """
        Under C{txnsq nsqd --log-level=warn} nothing is logged at INFO.
        """
        child = await self.runNSQD(
            [
                sys.executable,
                "-m",
                "txnsq._cli",
                "nsqd",
                "--tcp-address=127.0.0.1:TCP_PORT",
                "--http-address=127.0.0.1:HTTP_PORT",
                f"--data-path={self.dataPath()}",
                "--log-level=warn",
            ]
        )
        self.assertFalse(_GO_INFO.search(child.stderrText), child.output())
        self.assertEqual(child.lines, [])

    async def test_infoStillLogged(self) -> None:
        """
        The same run at the default level does log nsqd's Go lines, so the
        quiet runs above are quiet because of the level.
        """
        child = await self.runNSQD(
            [
                sys.executable,
                "-c",
                _TWISTD,
                "-n",
                "--pidfile=",
                "nsqd",
                "--tcp-address=127.0.0.1:TCP_PORT",
                "--http-address=127.0.0.1:HTTP_PORT",
                f"--data-path={self.dataPath()}",
            ]
        )
        output = child.output()
        for text in (
            "twistd ",
            "TCP: listening on 127.0.0.1:",
            "TOPIC(t): created",
            "TOPIC(t): new channel(c)",
            "TCP: new client(127.0.0.1:",
            "] exiting ioloop",
            " 200 POST /channel/create?topic=t&channel=c (127.0.0.1:",
        ):
            self.assertIn(text, output)


class QuietTests(TestCase):
    """
    Twisted's per-connection factory lines never appear, and nsqlookupd's
    requests are logged as nsqd's are, in Go's format.
    """

    timeout = 90

    async def test_registrationAndTopicCreation(self) -> None:
        """
        While nsqd registers with nsqlookupd and creates a topic (asking
        nsqlookupd's HTTP API for its channels), neither daemon logs
        C{Starting factory} or C{Stopping factory}; nsqlookupd logs that
        request as Go's C{http_api.Log} does, not in Apache's format.
        """
        lookupd = await startLookupd(self)
        (fakeHTTPPort,) = freePorts(1)
        nsqd = await startRegisteredNSQD(self, lookupd, fakeHTTPPort)
        await http(nsqd.address("http"), "POST", "/topic/create?topic=t")
        await nsqd.process.waitForLine(r"LOOKUPD\(\S+\): topic REGISTER t$")
        request = await lookupd.process.waitForLine(
            r"\[txnsq\.nsqlookupd\.http#info\] (?P<line>200 GET /channels\?topic=t "
            r"\(127\.0\.0\.1:\d+\) [\d.]+(ns|µs|ms|s))$"
        )
        self.assertTrue(request.group("line"))
        for daemon in (nsqd, lookupd):
            await daemon.stop()
            output = daemon.process.output()
            self.assertFalse(_FACTORY_NOISE.search(output), output)
            self.assertNotIn('"GET /channels?topic=t HTTP/1.1"', output)


class FlagErrorTests(TestCase):
    """
    Under twistd a bad command line is one line naming the mistake, in Go's
    words, and a hint, not twistd's help; never a traceback.
    """

    timeout = 60

    async def twistd(self, *args: str) -> ChildProcess:
        """
        Run C{twistd -n ARGS} and wait for it to end.
        """
        child = spawnChild(
            self,
            [sys.executable, "-c", _TWISTD, "-n", "--pidfile=", *args],
            name="twistd",
        )
        await child.whenEnded()
        return child

    async def test_unknownFlag(self) -> None:
        """
        An undefined flag is Go's C{flag provided but not defined}, exit
        status 2, as Go's flag package.
        """
        child = await self.twistd("nsqd", "--bogus")
        self.assertEqual(child.exitCode, 2, child.output())
        self.assertEqual(
            child.stderrText,
            "twistd nsqd: flag provided but not defined: -bogus\n"
            "Run 'twistd nsqd --help' for usage.\n",
        )
        self.assertEqual(child.lines, [])

    async def test_badValue(self) -> None:
        """
        A value a flag cannot take is Go's C{invalid value}, exit status 2.
        """
        child = await self.twistd("nsqlookupd", "--inactive-producer-timeout=soon")
        self.assertEqual(child.exitCode, 2, child.output())
        self.assertEqual(
            child.stderrText,
            'twistd nsqlookupd: invalid value "soon" for flag '
            "-inactive-producer-timeout: parse error\n"
            "Run 'twistd nsqlookupd --help' for usage.\n",
        )

    async def test_invalidOptions(self) -> None:
        """
        Flags that parse but make no valid configuration are one line, exit
        status 1 (Go's C{FATAL}).
        """
        child = await self.twistd("nsqd", "--max-deflate-level=20")
        self.assertEqual(child.exitCode, 1, child.output())
        self.assertEqual(
            child.stderrText, "twistd nsqd: --max-deflate-level must be [1,9]\n"
        )
