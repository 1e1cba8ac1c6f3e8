"""
nsqd refuses to start, as Go nsqd does, when it could not keep what it
would accept: one C{FATAL} line and exit status 1, under C{twistd -n nsqd}
and C{txnsq nsqd} alike, and never a traceback.
"""

from __future__ import annotations

import os
import socket
import sys

from twisted.trial.unittest import TestCase

from tests.integration._daemon import ChildProcess, spawnChild
from tests.integration._mounts import unwritableDirectory

#: Runs twistd in this interpreter.
TWISTD = (
    "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"
)

#: How each program is started: C{twistd -n nsqd} and C{txnsq nsqd}.
PROGRAMS = {
    "twistd": [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "nsqd"],
    "txnsq": [sys.executable, "-m", "txnsq", "nsqd"],
}


def flags(dataPath: str, *extra: str) -> list[str]:
    """
    Loopback listeners on free ports, and C{dataPath}.
    """
    return [
        "--tcp-address=127.0.0.1:0",
        "--http-address=127.0.0.1:0",
        f"--data-path={dataPath}",
        *extra,
    ]


class StartupRefusalTests(TestCase):
    """
    Each refusal: exit 1, exactly one line naming the failure, no
    traceback, and nothing listening.
    """

    timeout = 60

    async def refused(self, program: str, args: list[str], text: str) -> str:
        """
        Run C{program} (a key of L{PROGRAMS}) with C{args}, check that it
        exits 1 with one fatal line containing C{text} and no traceback.

        @return: that line.
        """
        child: ChildProcess = spawnChild(
            self, [*PROGRAMS[program], *args], name=f"{program} nsqd"
        )
        code = await child.whenEnded()
        output = child.output()
        self.assertEqual(code, 1, output)
        self.assertNotIn("Traceback", output)
        self.assertNotIn("listening on", output)
        # Go's "FATAL: failed to ...", or twistd's "[...#critical] failed to
        # ...", or (raised before twistd's logging began) the bare text.
        fatal = [
            line
            for line in (child.lines + child.stderrText.splitlines())
            if "failed to " in line
        ]
        self.assertEqual(len(fatal), 1, output)
        self.assertIn(text, fatal[0], output)
        return fatal[0]

    async def test_unwritableDataPath(self) -> None:
        """
        A data path nsqd cannot write in stops the start with Go's
        C{failed to persist metadata - open PATH/nsqd.dat.N.tmp: ...}
        (Go's start-up C{PersistMetadata}), rather than running and
        answering C{OK} to publishes it cannot keep.
        """
        dataPath = unwritableDirectory(self)
        for program in PROGRAMS:
            line = await self.refused(
                program,
                flags(dataPath),
                f"failed to persist metadata - open {dataPath}/nsqd.dat.",
            )
            self.assertRegex(line, r"(permission denied|read-only file system)$")

    async def test_garbageMetadata(self) -> None:
        """
        An C{nsqd.dat} that is not JSON stops the start with Go's
        C{failed to load metadata - failed to parse metadata in PATH - ...},
        and the file is left as it was.
        """
        dataPath = os.path.abspath(self.mktemp())
        os.makedirs(dataPath)
        metadata = os.path.join(dataPath, "nsqd.dat")
        with open(metadata, "wb") as f:
            f.write(b"garbage")
        for program in PROGRAMS:
            await self.refused(
                program,
                flags(dataPath),
                f"failed to load metadata - failed to parse metadata in {metadata} - ",
            )
        with open(metadata, "rb") as f:
            self.assertEqual(f.read(), b"garbage")

    async def test_portInUse(self) -> None:
        """
        A TCP port in use stops the start with one line, Go's C{failed to
        instantiate nsqd - listen (ADDR) failed - ...}; under twistd too,
        where it used to be a 30-line traceback.
        """
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        for program in PROGRAMS:
            dataPath = os.path.abspath(self.mktemp())
            os.makedirs(dataPath)
            await self.refused(
                program,
                flags(dataPath, f"--tcp-address={address}"),
                f"failed to instantiate nsqd - listen ({address}) failed",
            )

    async def test_missingDataPath(self) -> None:
        """
        A data path that does not exist stops the start with one line
        naming it (twistd included).
        """
        dataPath = os.path.abspath(self.mktemp())
        for program in PROGRAMS:
            await self.refused(program, flags(dataPath), dataPath)

    async def test_missingTLSFile(self) -> None:
        """
        A TLS certificate that does not exist stops the start with one
        line naming it (twistd included).
        """
        dataPath = os.path.abspath(self.mktemp())
        os.makedirs(dataPath)
        missing = os.path.abspath(self.mktemp())
        for program in PROGRAMS:
            await self.refused(
                program,
                flags(dataPath, f"--tls-cert={missing}", f"--tls-key={missing}"),
                missing,
            )
