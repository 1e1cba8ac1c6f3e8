"""
Running a documentation page's console blocks, verbatim, in a Linux network
namespace of their own (shared by the tests of C{tests.docs}).

A console block's line starting with C{$ } is a command, the lines after
it are its expected output (C{...} stands for anything).  The commands of
one section run in one C{bash}, as a person pasting them into one terminal
would (background jobs, C{%1}, C{cd} carry over), in a fresh folder.  The
daemons listen on NSQ's fixed default ports, as the pages say; so that
they cannot clash with anything else on the machine (other tests, a real
nsqd), each run has a namespace of its own, with only a loopback
interface.  A person does not race a daemon that is still starting, so
between commands the test waits for what the person would see
(L{tests.docs._probe}).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import attrs
from twisted.trial.unittest import SkipTest, SynchronousTestCase

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(_HERE))
_PROBE = os.path.join(_HERE, "_probe.py")

_COMMAND_TIMEOUT = 120.0


@attrs.frozen
class Command:
    """
    One C{$} line and the output the page shows for it.
    """

    text: str
    expected: tuple[str, ...]


@attrs.frozen
class SavedFile:
    """
    A file the page asks the reader to save (a C{literalinclude} with a
    caption naming it).
    """

    name: str
    source: str



@attrs.frozen
class Section:
    """
    A section of the page and its steps, in order.
    """

    title: str
    steps: tuple[Command | SavedFile, ...]


def parsePage(path: str) -> list[Section]:
    """
    The sections of a page with their console commands and saved files.
    """
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    sections: list[Section] = []
    title = ""
    steps: list[Command | SavedFile] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line and re.fullmatch(r"-+", following) and len(following) >= len(line):
            if title:
                sections.append(Section(title, tuple(steps)))
            title, steps = line, []
            index += 2
            continue
        if line.strip() == ".. code-block:: console":
            index += 1
            block: list[str] = []
            while index < len(lines) and (
                not lines[index].strip() or lines[index].startswith("   ")
            ):
                block.append(lines[index][3:])
                index += 1
            steps.extend(_commands(block))
            continue
        if line.startswith(".. literalinclude:: "):
            source = os.path.join(os.path.dirname(path), line.split(":: ", 1)[1])
            index += 1
            name = None
            while index < len(lines) and lines[index].startswith("   :"):
                option = lines[index].strip()
                if option.startswith(":caption: "):
                    name = option.split(": ", 1)[1]
                index += 1
            if name is not None:
                steps.append(SavedFile(name, source))
            continue
        index += 1
    if title:
        sections.append(Section(title, tuple(steps)))
    return sections


def _commands(block: list[str]) -> list[Command]:
    commands: list[Command] = []
    text: str | None = None
    expected: list[str] = []
    for line in block:
        if line.startswith("$ "):
            if text is not None:
                commands.append(Command(text, tuple(expected)))
            text, expected = line[2:], []
        elif line.strip():
            if text is None:
                raise ValueError(f"output before any command: {line!r}")
            expected.append(line)
    if text is not None:
        commands.append(Command(text, tuple(expected)))
    return commands


def _normalized(line: str) -> str:
    return " ".join(line.split())


def outputMatches(expected: str, lines: list[str]) -> bool:
    """
    Whether one expected line starts one of C{lines}, with runs of
    whitespace counting as one space and C{...} as anything.

    Only the start: the programs in the background write to the same
    terminal, and what they write may follow, on the same line, output that
    does not end with a newline (curl's C{OK}).
    """
    pattern = ".*".join(re.escape(part) for part in _normalized(expected).split("..."))
    return any(re.match(pattern, _normalized(line)) for line in lines)


# -- the programs a command starts ---------------------------------------


@attrs.frozen
class Daemon:
    """
    What a daemon started by a command listens on.
    """

    ports: tuple[int, ...]
    nsqdHTTP: tuple[int, ...] = ()
    lookupdHTTP: tuple[int, ...] = ()


def _port(words: list[str], flag: str, default: int | None) -> int | None:
    for word in words:
        name, _, value = word.lstrip("-").partition("=")
        if name == flag:
            return int(value.rpartition(":")[2]) if value else None
    return default


def daemonOf(command: str) -> Daemon | None:
    """
    The daemon C{command} runs (C{twistd [options] NAME ...} or C{txnsq
    NAME ...}), with the ports its flags or Go's defaults give it; L{None}
    for other programs.
    """
    words = shlex.split(command.rstrip("& "))
    if not words:
        return None
    if words[0] == "twistd":
        names = [w for w in words[1:] if not w.startswith("-")]
        name = names[0] if names else ""
    elif words[0] == "txnsq" and len(words) > 1:
        name = words[1]
    else:
        return None
    flags = [w for w in words if w.startswith("-")]
    if name == "nsqd":
        tcp, http = _port(flags, "tcp-address", 4150), _port(flags, "http-address", 4151)
        return Daemon(_some(tcp, http), nsqdHTTP=_some(http))
    if name == "nsqlookupd":
        tcp, http = _port(flags, "tcp-address", 4160), _port(flags, "http-address", 4161)
        return Daemon(_some(tcp, http), lookupdHTTP=_some(http))
    if name == "nsqadmin":
        return Daemon(_some(_port(flags, "http-address", 4171)))
    if name == "nsq":
        from txnsq.combined import COMBINED_FLAGS

        tcp, http = _port(flags, "tcp-address", 4150), _port(flags, "http-address", 4151)
        lookupdTCP = _port(flags, "nsqlookupd-tcp-address", 4160)
        lookupdHTTP = _port(flags, "nsqlookupd-http-address", 4161)
        admin = None
        if "nsqadmin-http-address" in COMBINED_FLAGS:
            admin = _port(flags, "nsqadmin-http-address", 4171)
        return Daemon(
            _some(tcp, http, lookupdTCP, lookupdHTTP, admin),
            nsqdHTTP=_some(http),
            lookupdHTTP=_some(lookupdHTTP),
        )
    return None


def daemonizes(command: str) -> bool:
    """
    Whether C{command} is a C{twistd} that puts itself in the background
    (no C{-n}/C{--nodaemon} among twistd's own options).
    """
    if not command.startswith("twistd "):
        return False
    words = shlex.split(command)
    for word in words[1:]:
        if not word.startswith("-"):
            return True
        if word in ("-n", "--nodaemon"):
            return False
    return True


def _some(*ports: int | None) -> tuple[int, ...]:
    return tuple(port for port in ports if port)


# -- running a section ---------------------------------------------------

_names = itertools.count()


def namespacesAvailable() -> str | None:
    """
    Why network namespaces cannot be used here, or L{None}.
    """
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux's"
    if shutil.which("ip") is None:
        return "no ip command (iproute2)"
    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    return None


class Shell:
    """
    One C{bash} in a network namespace, fed one command at a time, as a
    terminal would be.
    """

    def __init__(self, namespace: str, cwd: str, env: dict[str, str]) -> None:
        self.namespace = namespace
        # Commands come on a pipe of their own, so that nothing a command
        # runs can read the next commands from its standard input.
        theirs, self._commands = os.pipe()
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, "bash", "--norc", "--noprofile",
             f"/dev/fd/{theirs}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            pass_fds=(theirs,),
            start_new_session=True,
        )
        os.close(theirs)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.transcript: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def run(self, command: str, timeout: float = _COMMAND_TIMEOUT) -> tuple[int, list[str]]:
        """
        Type C{command}; wait for it (not for what it puts in the
        background).

        @return: its exit status and every line printed meanwhile.
        """
        marker = f"__txnsq_docs_done_{next(_names)}__"
        typed = f"{command}\nprintf '\\n{marker} %s\\n' \"$?\"\n"
        os.write(self._commands, typed.encode("utf-8"))
        self.transcript.append("$ " + command)
        output: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(
                    f"{command!r} did not finish in {timeout:.0f} s; "
                    "so far:\n" + "\n".join(self.transcript[-60:])
                ) from None
            if line is None:
                raise AssertionError(
                    f"the shell ended during {command!r}:\n"
                    + "\n".join(self.transcript[-60:])
                )
            if line.startswith(marker):
                return int(line.split()[1]), output
            output.append(line)
            self.transcript.append(line)

    def waitFor(self, text: str, timeout: float = _COMMAND_TIMEOUT) -> None:
        """
        Wait until a program prints C{text} in a line (since the shell
        started; the commands typed do not count).  In, not alone: the
        programs share one terminal, so a background program's line can
        follow output with no newline of its own, as curl's C{OK}
        (C{OKorder 2}), and an unbuffered Python writes a line's text and
        its newline apart, so another program's output can come between
        them (C{order 2OK}).
        """
        deadline = time.monotonic() + timeout
        while not any(
            text in line and not line.startswith("$ ")
            for line in self.transcript
        ):
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(
                    f"nothing printed {text!r} in {timeout:.0f} s:\n"
                    + "\n".join(self.transcript[-60:])
                ) from None
            if line is None:
                raise AssertionError("the shell ended")
            self.transcript.append(line)

    def drain(self) -> list[str]:
        """
        Add what the programs have printed so far to the transcript,
        without waiting, and return the transcript.
        """
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return self.transcript
            if line is None:
                return self.transcript
            self.transcript.append(line)

    def close(self) -> None:
        """
        Stop whatever still runs in the namespace (the page's background
        jobs, by their PIDs), then the shell.
        """
        os.close(self._commands)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = _namespacePids(self.namespace)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 30
            while _namespacePids(self.namespace) and time.monotonic() < deadline:
                time.sleep(0.1)
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()


def _namespacePids(namespace: str) -> list[int]:
    found = subprocess.run(
        ["ip", "netns", "pids", namespace], capture_output=True, text=True
    )
    return [int(word) for word in found.stdout.split()]


class Cluster:
    """
    The daemons a section has started so far, for the probes.
    """

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.nsqds: list[int] = []
        self.lookupds: list[int] = []

    def probe(self, *args: object, shell: Shell | None = None) -> str:
        """
        Run one probe of L{_probe} in the namespace; on failure, say what
        the C{shell} printed meanwhile, which is what explains it.
        """
        found = subprocess.run(
            ["ip", "netns", "exec", self.namespace, sys.executable, _PROBE,
             *map(str, args)],
            capture_output=True,
            text=True,
            timeout=200,
        )
        if found.returncode:
            printed = ""
            if shell is not None:
                printed = "\n".join(shell.drain()[-80:])
            raise AssertionError(found.stdout + found.stderr + printed)
        return found.stdout


class NamespaceTestCase(SynchronousTestCase):
    """
    Runs a page's commands in a network namespace of their own.
    """

    def setUp(self) -> None:
        why = namespacesAvailable()
        if why is not None:
            raise SkipTest(f"the examples run in a network namespace: {why}")

    def runSteps(
        self, steps: Sequence[Command | SavedFile], env: dict[str, str] | None = None
    ) -> Shell:
        """
        Run C{steps} in a new namespace and folder.

        @param env: variables to add to the shell's environment.
        @return: the shell, still running (it is stopped at cleanup).
        """
        namespace = f"txnsq-docs-{os.getpid()}-{next(_names)}"
        created = subprocess.run(
            ["ip", "netns", "add", namespace], capture_output=True, text=True
        )
        if created.returncode:
            raise SkipTest(f"cannot create a network namespace: {created.stderr}")
        self.addCleanup(
            subprocess.run, ["ip", "netns", "delete", namespace], capture_output=True
        )
        subprocess.run(
            ["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
            check=True,
        )
        cwd = os.path.abspath(self.mktemp())
        os.makedirs(cwd)
        extra = env or {}
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        env["HOME"] = cwd
        env.update(extra)
        shell = Shell(namespace, cwd, env)
        self.addCleanup(shell.close)
        cluster = Cluster(namespace)
        for step in steps:
            if isinstance(step, SavedFile):
                # The reader saves the program in the folder they work in.
                _, output = shell.run("pwd")
                with open(step.source, encoding="utf-8") as f:
                    text = f.read()
                folder = [line for line in output if line.startswith("/")][-1]
                with open(os.path.join(folder, step.name), "w") as f:
                    f.write(text)
                continue
            self.runCommand(shell, cluster, step)
        return shell

    def runCommand(self, shell: Shell, cluster: Cluster, command: Command) -> None:
        """
        Run one command, with the waits a person's typing speed gives.
        """
        background = command.text.rstrip().endswith("&")
        daemon = None
        if background or daemonizes(command.text):
            daemon = daemonOf(command.text)
        if cluster.nsqds and cluster.lookupds:
            cluster.probe(
                "settle", *cluster.nsqds, "--", *cluster.lookupds, shell=shell
            )
        consumersBefore = None
        if background and daemon is None and cluster.nsqds:
            consumersBefore = int(cluster.probe("clients", *cluster.nsqds))
        status, output = shell.run(command.text)
        transcript = "\n".join(shell.transcript[-80:])
        self.assertEqual(status, 0, f"{command.text!r} failed:\n{transcript}")
        for line in command.expected:
            if line.strip() != "...":
                self.assertTrue(
                    outputMatches(line, output),
                    f"{command.text!r} did not print {line!r}:\n{transcript}",
                )
        if daemon is not None:
            cluster.probe("ports", *daemon.ports, shell=shell)
            cluster.nsqds.extend(daemon.nsqdHTTP)
            cluster.lookupds.extend(daemon.lookupdHTTP)
        elif consumersBefore is not None:
            cluster.probe(
                "clients-above", consumersBefore, *cluster.nsqds, shell=shell
            )


