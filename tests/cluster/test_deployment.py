"""
The deployment recipes hold together: the repository's C{Dockerfile} and
the systemd units and configuration files under C{docs/deploy/}.

Docker cannot run here, so the Dockerfile is read, not built: its install
step installs this checkout, and its commands (the default C{CMD} and the
C{docker run} examples in its header) are ones twistd and the txnsq plugins
accept, with the ports they listen on exposed.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import os
import re
import shlex
from importlib.metadata import distribution
from typing import Any

from twisted.scripts._twistd_unix import ServerOptions
from twisted.trial.unittest import TestCase

from tests.integration._daemon import REPO_ROOT

DOCKERFILE = os.path.join(REPO_ROOT, "Dockerfile")
DEPLOY = os.path.join(REPO_ROOT, "docs", "deploy")


def instructions(path: str) -> list[tuple[str, str]]:
    """
    The Dockerfile's instructions, continuation lines joined and comments
    dropped: C{(KEYWORD, arguments)}.
    """
    result: list[tuple[str, str]] = []
    pending = ""
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = pending + line
            pending = ""
            keyword, _, arguments = line.partition(" ")
            result.append((keyword.upper(), arguments.strip()))
    return result


def twistdOptions(argv: list[str]) -> ServerOptions:
    """
    C{twistd ARGS...} parsed as twistd itself does (its options, then the
    plugin's).
    """
    options = ServerOptions()
    options.parseOptions(argv)
    return options


def _config(options: ServerOptions) -> Any:
    return options.subOptions.config


class DockerfileTests(TestCase):
    """
    The Dockerfile installs txnsq from the checkout and runs C{twistd -n
    nsqd}.
    """

    def setUp(self) -> None:
        self.steps = instructions(DOCKERFILE)
        self.keywords = [k for k, _ in self.steps]

    def argument(self, keyword: str) -> str:
        found = [a for k, a in self.steps if k == keyword]
        self.assertEqual(len(found), 1, f"one {keyword} expected: {found}")
        return found[0]

    def test_baseImage(self) -> None:
        """
        The base image is a Python that setup.cfg's C{python_requires}
        accepts.
        """
        match = re.match(r"python:(\d+)\.(\d+)", self.argument("FROM"))
        assert match is not None
        version = (int(match.group(1)), int(match.group(2)))
        setup = configparser.ConfigParser()
        setup.read(os.path.join(REPO_ROOT, "setup.cfg"))
        required = setup["options"]["python_requires"]
        lowest = re.match(r">=\s*(\d+)\.(\d+)", required)
        assert lowest is not None
        self.assertGreaterEqual(version, (int(lowest.group(1)), int(lowest.group(2))))

    def test_installsTheCheckout(self) -> None:
        """
        The build context is copied to a directory and C{pip install}
        installs that directory, which is the txnsq project.
        """
        source, destination = self.argument("COPY").split()
        self.assertEqual(source, ".")
        run = self.argument("RUN")
        self.assertIn(f"pip install --no-cache-dir {destination}", run)
        setup = configparser.ConfigParser()
        setup.read(os.path.join(REPO_ROOT, source, "setup.cfg"))
        self.assertEqual(setup["metadata"]["name"], "txnsq")
        self.assertLess(
            self.keywords.index("COPY"), self.keywords.index("RUN"), "COPY before RUN"
        )

    def test_contextKeepsWhatPipNeeds(self) -> None:
        """
        C{.dockerignore} leaves out caches and virtualenvs, never the files
        the install reads.
        """
        with open(os.path.join(REPO_ROOT, ".dockerignore")) as f:
            patterns = [
                line.strip() for line in f if line.strip() and not line.startswith("#")
            ]
        needed = [
            "setup.cfg",
            "pyproject.toml",
            "README.md",
            "LICENSE",
            "txnsq/__init__.py",
            "txnsq/nsqd/service.py",
            "twisted/plugins/txnsq_plugins.py",
        ]
        for path in needed:
            for pattern in patterns:
                self.assertFalse(
                    fnmatch.fnmatch(path, pattern.lstrip("*/"))
                    or path.startswith(pattern.rstrip("/") + "/"),
                    f"{path} excluded by {pattern}",
                )
        self.assertIn(".venv", patterns)

    def test_defaultCommandRunsNSQD(self) -> None:
        """
        C{CMD} (exec form) is C{twistd}, a script the Twisted dependency
        installs, in the foreground, running the nsqd plugin on C{/data},
        the image's volume.
        """
        command = json.loads(self.argument("CMD"))
        self.assertEqual(command[0], "twistd")
        scripts = {
            e.name
            for e in distribution("twisted").entry_points
            if e.group == "console_scripts"
        }
        self.assertIn("twistd", scripts)
        options = twistdOptions(command[1:])
        self.assertEqual(options.subCommand, "nsqd")
        self.assertTrue(options["nodaemon"])
        self.assertEqual(_config(options).data_path, self.argument("VOLUME"))
        self.assertEqual(self.argument("WORKDIR"), self.argument("VOLUME"))

    def test_runExamples(self) -> None:
        """
        Every C{docker run ... twistd ...} example in the Dockerfile's header
        parses: the plugin exists and takes those flags.
        """
        with open(DOCKERFILE) as f:
            header = f.read().split("FROM", 1)[0]
        header = re.sub(r"\\\n#\s*", " ", header)
        examples = re.findall(r"docker run .*?txnsq\s+(twistd .*)", header)
        self.assertGreaterEqual(len(examples), 3)
        plugins = set()
        for example in examples:
            options = twistdOptions(shlex.split(example)[1:])
            plugins.add(options.subCommand)
        self.assertEqual(plugins, {"nsqd", "nsqlookupd", "nsqadmin"})

    def test_exposedPorts(self) -> None:
        """
        C{EXPOSE} lists the ports the daemons listen on by default.
        """
        exposed = {int(p) for p in self.argument("EXPOSE").split()}
        defaults = set()
        dataPath = os.path.abspath(self.mktemp())
        os.makedirs(dataPath)
        # What each must be given to start at all.
        flags = {
            "nsqd": [f"--data-path={dataPath}"],
            "nsqadmin": ["--lookupd-http-address=127.0.0.1:4161"],
        }
        for plugin in ("nsqd", "nsqlookupd", "nsqadmin"):
            config = _config(twistdOptions(["-n", plugin, *flags.get(plugin, [])]))
            for name in ("tcp_address", "http_address"):
                address = getattr(config, name, None)
                if address:
                    defaults.add(int(address.rsplit(":", 1)[1]))
        self.assertEqual(exposed, defaults)


class SystemdUnitTests(TestCase):
    """
    The units in C{docs/deploy/} start C{twistd -n} with a plugin and a
    configuration file that plugin reads.
    """

    def test_units(self) -> None:
        """
        Each C{ExecStart} is twistd in the foreground, its plugin named like
        the unit, and its C{--config} (read from C{docs/deploy/}) loads.
        """
        for plugin in ("nsqd", "nsqlookupd", "nsqadmin"):
            unit = configparser.ConfigParser(strict=False, interpolation=None)
            unit.optionxform = str  # type: ignore[assignment,method-assign]
            unit.read(os.path.join(DEPLOY, f"{plugin}.service"))
            argv = shlex.split(unit["Service"]["ExecStart"])
            self.assertEqual(os.path.basename(argv[0]), "twistd")
            self.assertEqual(unit["Service"]["Type"], "simple")
            self.assertEqual(unit["Install"]["WantedBy"], "multi-user.target")
            config = os.path.join(DEPLOY, f"{plugin}.conf")
            argv = [
                f"--config={config}" if a.startswith("--config=") else a
                for a in argv[1:]
            ]
            options = twistdOptions(argv)
            self.assertEqual(options.subCommand, plugin)
            self.assertTrue(options["nodaemon"])
            loaded = _config(options)
            if plugin == "nsqadmin":
                self.assertEqual(len(loaded.lookupd_http_addresses), 3)
            else:
                self.assertTrue(loaded.broadcast_address.startswith("10.0."), loaded)
            if plugin == "nsqd":
                self.assertEqual(len(loaded.nsqlookupd_tcp_addresses), 3)
