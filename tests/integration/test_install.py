"""
The installed commands work from outside the checkout, as a user runs them.

Twisted finds plugins by scanning C{twisted/plugins/} folders on
C{sys.path}.  setuptools' default editable install maps packages through
an import hook instead of putting the checkout on C{sys.path}, which hid
C{twisted/plugins/txnsq_plugins.py}: after C{pip install -e .}, C{twistd
nsqd} answered C{Unknown command}.  The suite itself runs from the
checkout, where the folder is always visible, so these tests run the
installed C{twistd} in an empty folder with no C{PYTHONPATH}.
"""

from __future__ import annotations

import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from txnsq import NSQ_VERSION, __version__

_BIN = os.path.dirname(sys.executable)
_TWISTD = os.path.join(_BIN, "twistd")


def _outsideEnvironment() -> dict[str, str]:
    """
    This process's environment without C{PYTHONPATH}, so a child sees only
    what is installed.
    """
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _installed(cwd: str) -> bool:
    """
    Whether txnsq is importable without the checkout on the path (it is not
    when the suite runs from a checkout that was never installed).
    """
    probe = subprocess.run(
        [sys.executable, "-c", "import txnsq"],
        cwd=cwd,
        env=_outsideEnvironment(),
        capture_output=True,
    )
    return probe.returncode == 0


class InstalledTwistdTests(SynchronousTestCase):
    """
    C{twistd} from the environment txnsq is installed in lists and runs the
    txnsq plugins from any folder.
    """

    def setUp(self) -> None:
        self.cwd = self.mktemp()
        os.makedirs(self.cwd)
        if not os.path.exists(_TWISTD):
            raise self.skipTest(f"no twistd beside {sys.executable}")
        if not _installed(self.cwd):
            raise self.skipTest("txnsq is not installed (pip install -e . first)")

    def twistd(self, *args: str) -> subprocess.CompletedProcess[str]:
        """
        Run the installed twistd with C{args} in the empty folder.
        """
        return subprocess.run(
            [_TWISTD, *args],
            cwd=self.cwd,
            env=_outsideEnvironment(),
            capture_output=True,
            text=True,
            timeout=60,
        )

    def test_pluginsListed(self) -> None:
        """
        C{twistd --help} lists nsq, nsqd and nsqlookupd.
        """
        result = self.twistd("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        commands = {
            line.split()[0] for line in result.stdout.splitlines() if line[:4] == "    "
        }
        self.assertTrue({"nsq", "nsqd", "nsqlookupd"} <= commands, result.stdout)

    def test_pluginRuns(self) -> None:
        """
        C{twistd nsqd --version} reaches the plugin's own options and prints
        Go's version line.
        """
        result = self.twistd("nsqd", "--version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(
            f"nsqd v{NSQ_VERSION} (built w/txnsq-{__version__})", result.stdout
        )
