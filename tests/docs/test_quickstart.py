"""
Every command of C{docs/quickstart.rst} runs, verbatim, and prints what the
page says it prints (how: L{tests.docs._console}); each section runs in
a network namespace of its own.

The install section runs outside the namespace (pip needs the package
index) into a fresh virtual environment, from a copy of the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from tests.docs._console import (
    ROOT as _ROOT,
)
from tests.docs._console import (
    Command,
    Daemon,
    NamespaceTestCase,
    SavedFile,
    Section,
    daemonOf,
    outputMatches,
)
from tests.docs._console import parsePage as _parsePage

PAGE = os.path.join(_ROOT, "docs", "quickstart.rst")
HTTP_PAGE = os.path.join(_ROOT, "docs", "reference", "http.rst")

INSTALL = "Install"
"""The section that installs txnsq (run outside a namespace)."""

_INSTALL_TIMEOUT = 900.0


def parsePage(path: str = PAGE) -> list[Section]:
    """
    The sections of a page (by default the quick start) with their console
    commands and saved files.
    """
    return _parsePage(path)


class QuickstartPageTests(SynchronousTestCase):
    """
    What the test reads from the page, so that the runs below cannot pass
    by running nothing.
    """

    def test_sections(self) -> None:
        """
        The page has the install, one-process and cluster sections, each
        with commands, and the cluster's consumer program.
        """
        sections = {section.title: section for section in parsePage()}
        self.assertIn(INSTALL, sections)
        for title in (INSTALL, ONE_PROCESS, CLUSTER):
            commands = [s for s in sections[title].steps if isinstance(s, Command)]
            self.assertGreater(len(commands), 2, title)
        saved = [s for s in sections[CLUSTER].steps if isinstance(s, SavedFile)]
        self.assertEqual([s.name for s in saved], ["billing.py"])
        self.assertTrue(os.path.exists(saved[0].source))

    def test_everySectionIsRun(self) -> None:
        """
        Every section with commands is one the tests run.
        """
        withCommands = {
            section.title
            for section in parsePage()
            if any(isinstance(step, Command) for step in section.steps)
        }
        self.assertEqual(withCommands, {INSTALL, ONE_PROCESS, CLUSTER})

    def test_parse(self) -> None:
        """
        C{$} lines are commands, the lines under them their output; a
        saved file comes from a C{literalinclude} with a caption.
        """
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write(
                "Title\n=====\n\nA section\n---------\n\n"
                ".. code-block:: console\n\n   $ echo a\n   a\n   $ true &\n\n"
                "text\n\n.. literalinclude:: x.py\n   :caption: y.py\n\n"
                "B\n-\n\n.. code-block:: console\n\n   $ b\n"
            )
        self.assertEqual(
            parsePage(path),
            [
                Section(
                    "A section",
                    (
                        Command("echo a", ("a",)),
                        Command("true &", ()),
                        SavedFile("y.py", os.path.join(os.path.dirname(path), "x.py")),
                    ),
                ),
                Section("B", (Command("b", ()),)),
            ],
        )

    def test_outputMatches(self) -> None:
        """
        Expected lines match ignoring the width of whitespace, with
        C{...} for anything; a line that is not there does not match.
        """
        lines = ["   [a    ] depth: 0  msgs: 2", "OK"]
        self.assertTrue(outputMatches("OK", lines))
        self.assertTrue(outputMatches("[a ] depth: 0 msgs: 2", lines))
        self.assertTrue(outputMatches("...[a ...] depth: 0 ...msgs: 2", lines))
        self.assertFalse(outputMatches("...msgs: 3", lines))
        self.assertFalse(outputMatches("K", lines))
        self.assertTrue(outputMatches("OK", ["OK[nsqd] 2026/12/04 INFO: ..."]))

    def test_daemonOf(self) -> None:
        """
        The ports of a daemon come from its flags, or Go's defaults.
        """
        self.assertEqual(
            daemonOf("txnsq nsqd --data-path=a --http-address=0.0.0.0:4251 &"),
            Daemon((4150, 4251), nsqdHTTP=(4251,)),
        )
        self.assertEqual(
            daemonOf("txnsq nsqlookupd &"), Daemon((4160, 4161), lookupdHTTP=(4161,))
        )
        self.assertEqual(daemonOf("twistd --pidfile=x nsqadmin"), Daemon((4171,)))
        nsq = daemonOf("twistd -n nsq --broadcast-address=127.0.0.1 &")
        assert nsq is not None
        self.assertEqual(nsq.nsqdHTTP, (4151,))
        self.assertEqual(nsq.lookupdHTTP, (4161,))
        self.assertIsNone(daemonOf("curl -d x http://127.0.0.1:4151/pub"))


ONE_PROCESS = "One process: publish, tail, archive"
CLUSTER = "Three daemons apart: a two-node cluster"


class QuickstartTests(NamespaceTestCase):
    """
    The page's sections, run as written.
    """

    def setUp(self) -> None:
        super().setUp()
        self.sections = {section.title: section for section in parsePage()}

    def runSection(self, title: str) -> None:
        """
        Run a section's commands in a new namespace and folder; fail at the
        first command that exits non-zero or does not print what the page
        shows.
        """
        self.runSteps(self.sections[title].steps)

    def test_oneProcess(self) -> None:
        """
        C{twistd -n nsq}, then publishing with curl, C{nsq_tail} and
        C{nsq_to_file}, as the page shows.
        """
        self.runSection(ONE_PROCESS)

    def test_cluster(self) -> None:
        """
        nsqlookupd, two nsqds, nsqadmin and a consumer program, from the
        page alone.
        """
        self.runSection(CLUSTER)


class HTTPExamplesTests(NamespaceTestCase):
    """
    The examples of the HTTP reference, against C{twistd -n nsq}.
    """

    def test_examples(self) -> None:
        """
        Every example on the page, in order, answers what the page shows.
        """
        steps = [step for section in parsePage(HTTP_PAGE) for step in section.steps]
        self.assertGreater(len(steps), 5)
        start = Command("twistd -n nsq --broadcast-address=127.0.0.1 &", ())
        self.runSteps([start, *steps])


OTHER_CLIENTS = os.path.join(_ROOT, "docs", "other-clients")


class OtherClientsTests(NamespaceTestCase):
    """
    The consumers of C{docs/other-clients.rst}, each run against C{twistd
    -n nsq}, receive a message published before they start and one
    published after.
    """

    def consume(self, name: str, command: str, env: dict[str, str]) -> None:
        """
        Run the example C{name} with C{command} in the background and wait
        for it to print both messages.
        """
        shell = self.runSteps(
            [
                Command("twistd -n nsq --broadcast-address=127.0.0.1 &", ()),
                Command(
                    "curl -s -d 'order 1' 'http://127.0.0.1:4151/pub?topic=orders'",
                    ("OK",),
                ),
                SavedFile(name, os.path.join(OTHER_CLIENTS, name)),
                Command(command + " &", ()),
            ],
            env,
        )
        shell.waitFor("order 1")
        status, _ = shell.run(
            "curl -s -d 'order 2' 'http://127.0.0.1:4151/pub?topic=orders'"
        )
        self.assertEqual(status, 0)
        shell.waitFor("order 2")

    def test_pynsq(self) -> None:
        """
        pynsq's C{Reader}, found through nsqlookupd.
        """
        try:
            import nsq  # noqa: F401
        except ImportError:
            raise SkipTest("pynsq is not installed") from None
        self.consume("pynsq_consumer.py", "python pynsq_consumer.py", {})

    def test_nsqjs(self) -> None:
        """
        nsqjs's C{Reader}, found through nsqlookupd.
        """
        modules = os.path.join(_ROOT, "tests", "js", "node_modules")
        if shutil.which("node") is None or not os.path.isdir(
            os.path.join(modules, "nsqjs")
        ):
            raise SkipTest("needs node and nsqjs (npm install in tests/js)")
        self.consume(
            "nsqjs_consumer.js", "node nsqjs_consumer.js", {"NODE_PATH": modules}
        )


def _copyCheckout(target: str) -> None:
    ignored = shutil.ignore_patterns(
        ".git", ".venv*", "_trial_temp*", "build", "dist", "*.egg-info",
        "__pycache__", "node_modules", "_build", "dropin.cache",
    )
    shutil.copytree(_ROOT, target, ignore=ignored)


class InstallTests(SynchronousTestCase):
    """
    The install section, in a fresh virtual environment.
    """

    def test_install(self) -> None:
        """
        The page's commands install txnsq from a checkout into a new
        virtual environment, whose C{txnsq} then runs.
        """
        if shutil.which("python3") is None:
            raise SkipTest("no python3 to make the virtual environment with")
        work = os.path.abspath(self.mktemp())
        checkout = os.path.join(work, "txnsq")
        home = os.path.join(work, "home")
        os.makedirs(home)
        _copyCheckout(checkout)
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
        }
        env["HOME"] = home
        # Not this suite's environment: the reader starts from the system's
        # python3.
        env["PATH"] = os.pathsep.join(
            entry
            for entry in env.get("PATH", "").split(os.pathsep)
            if os.path.abspath(entry) != os.path.dirname(sys.executable)
        )
        section = {s.title: s for s in parsePage()}[INSTALL]
        script = []
        for step in section.steps:
            assert isinstance(step, Command)
            script.append(step.text)
        done = subprocess.run(
            ["bash", "--norc", "--noprofile", "-e", "-c", "\n".join(script)],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
        )
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        last = section.steps[-1]
        assert isinstance(last, Command)
        for line in last.expected:
            self.assertTrue(
                outputMatches(line, done.stdout.splitlines()), done.stdout
            )
