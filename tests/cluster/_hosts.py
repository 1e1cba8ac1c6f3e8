"""
Hosts for the cluster tests: each one a Linux network namespace with its
own address on a shared bridge.

The bridge lives in a namespace of its own (the "switch"), and every host's
veth pair is created directly between the host's namespace and the switch,
so the root namespace's network is never touched.  Names carry this
process's PID and a counter, and every network gets its own C{10.x.y.0/24},
so tests running side by side (C{trial -j2}) build separate clusters.
Everything is undone when the test ends, failed or not: the processes
still running in a namespace (started by the test, found with C{ip netns
pids}) are killed by PID, then the namespaces are deleted, which removes
their links and firewall rules with them.

Faults are made inside the hosts: L{Host.cut} drops every packet to and
from another host (C{iptables DROP}, a partition that neither side is told
about), L{Host.lossy} drops a random share of the host's outgoing packets
(C{iptables -m statistic}).  Delay needs C{tc netem}, which this machine's
kernel lacks, so it is done above IP instead, by the relays of
L{tests.cluster._relay}.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence

from twisted.trial.unittest import TestCase

_counter = itertools.count()

#: How long one C{ip} or C{iptables} command may take (seconds).
_COMMAND_TIMEOUT = 30.0


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        check=check,
        capture_output=True,
        text=True,
        timeout=_COMMAND_TIMEOUT,
    )


@functools.cache
def namespacesMissing() -> str | None:
    """
    Why network namespaces cannot be made here (not root, no C{ip}, or the
    kernel refuses), or L{None} when they can.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "the cluster tests need root to create network namespaces"
    if shutil.which("ip") is None:
        return "the cluster tests need ip(8) (apt-get install iproute2)"
    probe = f"txnsq{os.getpid()}probe"
    try:
        created = _run(["ip", "netns", "add", probe], check=False)
    except (OSError, subprocess.SubprocessError) as e:
        return f"ip netns add failed: {e}"
    if created.returncode != 0:
        return f"ip netns add failed: {created.stderr.strip()}"
    _run(["ip", "netns", "delete", probe], check=False)
    return None


@functools.cache
def iptablesMissing() -> str | None:
    """
    Why partitions and packet loss cannot be made here, or L{None}.
    """
    if shutil.which("iptables") is None or shutil.which("iptables-restore") is None:
        return "partitions and loss need iptables (apt-get install iptables)"
    missing = namespacesMissing()
    if missing:
        return missing
    # The rule the loss tests use, tried in a namespace of its own: the
    # command may exist while the kernel lacks what it needs.
    probe = f"txnsq{os.getpid()}iptables"
    _run(["ip", "netns", "add", probe], check=False)
    try:
        tried = _run(
            [
                *("ip", "netns", "exec", probe, "iptables", "-w", "-A", "OUTPUT"),
                *("-m", "statistic", "--mode", "random", "--probability", "0.5"),
                *("-j", "DROP"),
            ],
            check=False,
        )
    finally:
        _run(["ip", "netns", "delete", probe], check=False)
    if tried.returncode != 0:
        return f"iptables cannot add rules here: {tried.stderr.strip()}"
    return None


class Host:
    """
    One host: a network namespace with the address C{address} on its
    C{eth0}, and C{lo} up.
    """

    def __init__(self, network: Network, name: str, namespace: str, address: str):
        self.network = network
        self.name = name
        self.namespace = namespace
        self.address = address
        self._cuts: set[str] = set()
        self._lossRule: list[str] | None = None

    def __repr__(self) -> str:
        return f"<Host {self.name} {self.address}>"

    def command(self, argv: Sequence[str]) -> list[str]:
        """
        C{argv} run inside this host (C{ip netns exec} execs it, so the
        process started has C{argv}'s PID).
        """
        ip = shutil.which("ip") or "/usr/sbin/ip"
        return [ip, "netns", "exec", self.namespace, *argv]

    def run(self, argv: Sequence[str], check: bool = True) -> str:
        """
        Run C{argv} inside this host to completion; its stdout.
        """
        return _run(self.command(argv), check=check).stdout

    def iptables(self, *args: str) -> None:
        """
        One C{iptables} command in this host's own tables.
        """
        self.run(["iptables", "-w", *args])

    def _cutRules(self, action: str, other: Host) -> None:
        # Both directions in one iptables-restore transaction: with two
        # iptables commands, a busy machine left tens of milliseconds
        # between them in which packets went one way only.
        rules = (
            "*filter\n"
            f"{action} INPUT -s {other.address} -j DROP\n"
            f"{action} OUTPUT -d {other.address} -j DROP\n"
            "COMMIT\n"
        )
        subprocess.run(
            self.command(["iptables-restore", "-w", "--noflush"]),
            input=rules,
            check=True,
            capture_output=True,
            text=True,
            timeout=_COMMAND_TIMEOUT,
        )

    def cut(self, other: Host) -> None:
        """
        Drop every packet between this host and C{other}, both ways at
        once, on this host: connections between them stall (nobody is
        told), new ones time out.
        """
        if other.address in self._cuts:
            return
        self._cutRules("-I", other)
        self._cuts.add(other.address)

    def heal(self, other: Host) -> None:
        """
        Undo L{cut}, both ways at once.
        """
        if other.address not in self._cuts:
            return
        self._cutRules("-D", other)
        self._cuts.discard(other.address)

    def lossy(self, probability: float) -> None:
        """
        Drop each packet this host sends on C{eth0} with C{probability}
        (loopback traffic inside the host is spared).
        """
        rule = [
            "OUTPUT",
            "-o",
            "eth0",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            f"{probability:.4f}",
            "-j",
            "DROP",
        ]
        self.iptables("-A", *rule)
        self._lossRule = rule

    def pids(self) -> list[int]:
        """
        The PIDs of the processes running in this host.
        """
        out = _run(["ip", "netns", "pids", self.namespace], check=False).stdout
        return [int(p) for p in out.split() if p.isdigit()]


class Network:
    """
    A bridge in a switch namespace, and hosts plugged into it, undone when
    C{testCase} ends.
    """

    def __init__(self, testCase: TestCase) -> None:
        number = next(_counter)
        pid = os.getpid()
        self.prefix = f"txnsq{pid}n{number}"
        # A /24 of its own per network: 10.(64..191).(0..255).0.
        self.subnet = f"10.{64 + pid % 128}.{number % 256}"
        self.hosts: list[Host] = []
        self._namespaces: list[str] = []
        testCase.addCleanup(self.destroy)
        self.switch = self._namespace("sw")
        _run(["ip", "-n", self.switch, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", self.switch, "link", "set", "br0", "up"])

    def _namespace(self, suffix: str) -> str:
        name = f"{self.prefix}{suffix}"
        _run(["ip", "netns", "add", name])
        self._namespaces.append(name)
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
        return name

    def addHost(self, name: str) -> Host:
        """
        A new host called C{name} (for messages), plugged into the bridge.
        """
        index = len(self.hosts) + 1
        namespace = self._namespace(f"h{index}")
        port = f"p{index}"
        # Both ends are created where they live: nothing appears in the
        # root namespace, even for a moment.
        _run(
            [
                "ip",
                "-n",
                namespace,
                "link",
                "add",
                "eth0",
                "type",
                "veth",
                "peer",
                "name",
                port,
                "netns",
                self.switch,
            ]
        )
        _run(["ip", "-n", self.switch, "link", "set", port, "master", "br0"])
        _run(["ip", "-n", self.switch, "link", "set", port, "up"])
        address = f"{self.subnet}.{index + 1}"
        _run(["ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0"])
        _run(["ip", "-n", namespace, "link", "set", "eth0", "up"])
        host = Host(self, name, namespace, address)
        self.hosts.append(host)
        return host

    def destroy(self) -> None:
        """
        Kill what still runs in the hosts (by PID), delete the namespaces.
        """
        for host in self.hosts:
            for pid in host.pids():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for name in reversed(self._namespaces):
            _run(["ip", "netns", "delete", name], check=False)
        self._namespaces = []
