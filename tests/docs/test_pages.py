"""
The console commands of the pages a newcomer reads after the quick start
run, verbatim, and print what the pages say they print (how:
L{tests.docs._console}).  Each section with commands runs in a network
namespace and folder of its own, stopping the daemons it starts.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from tests.docs._console import (
    ROOT,
    Command,
    Daemon,
    NamespaceTestCase,
    daemonizes,
    daemonOf,
    parsePage,
)

PAGES: dict[str, tuple[str, ...]] = {
    "running.rst": (
        "Two ways to start a daemon",
        "Configuration file",
        "Data and shutdown",
        "Several daemons in one folder",
    ),
    "clustering.rst": ("Two nsqlookupds, one nsqd", "One process"),
    "nsqadmin.rst": ("Running it",),
    "migrating.rst": ("The same command lines",),
    "tools.rst": (
        "The quick start, end to end",
        "The other tools, on one machine",
    ),
    "monitoring.rst": ("statsd", "Prometheus"),
}
"""Each page this module runs, and its sections with commands, in order."""


def _page(name: str) -> str:
    return os.path.join(ROOT, "docs", name)


class PagesTests(SynchronousTestCase):
    """
    What the tests read from the pages, so that the runs below cannot pass
    by running nothing.
    """

    def test_everySectionIsRun(self) -> None:
        """
        The sections with commands on each page are exactly those the tests
        run.
        """
        for name, titles in PAGES.items():
            withCommands = tuple(
                section.title
                for section in parsePage(_page(name))
                if any(isinstance(step, Command) for step in section.steps)
            )
            self.assertEqual(withCommands, titles, name)

    def test_daemonizes(self) -> None:
        """
        A C{twistd} without C{-n} puts itself in the background, so the
        test waits for its ports as for a daemon started with C{&}.
        """
        command = "twistd --pidfile=a.pid --logfile=a.log nsqd --tcp-address=:4250"
        self.assertTrue(daemonizes(command))
        self.assertEqual(daemonOf(command), Daemon((4250, 4151), nsqdHTTP=(4151,)))
        self.assertFalse(daemonizes("twistd -n nsqd"))
        self.assertFalse(daemonizes("twistd --nodaemon nsqlookupd"))
        self.assertFalse(daemonizes("txnsq nsqd"))


class _PageTestCase(NamespaceTestCase):
    """
    Runs one page's sections, each in its own namespace and folder.
    """

    page = ""

    def runPage(self) -> None:
        """
        Run every section of L{page} that has commands; fail at the first
        command that exits non-zero or does not print what the page shows.
        """
        sections = parsePage(_page(self.page))
        ran = []
        for section in sections:
            if any(isinstance(step, Command) for step in section.steps):
                self.runSteps(section.steps)
                ran.append(section.title)
        self.assertEqual(tuple(ran), PAGES[self.page])


class RunningTests(_PageTestCase):
    """
    C{docs/running.rst}.
    """

    page = "running.rst"

    def test_page(self) -> None:
        """
        twistd and txnsq in the foreground and background, a config file,
        the data directory across a restart, and daemonized twistds.
        """
        self.runPage()


class ClusteringTests(_PageTestCase):
    """
    C{docs/clustering.rst}.
    """

    page = "clustering.rst"

    def test_page(self) -> None:
        """
        An nsqd registered with two nsqlookupds; C{twistd -n nsq}.
        """
        self.runPage()


class NSQAdminTests(_PageTestCase):
    """
    The "Running it" section of C{docs/nsqadmin.rst}.
    """

    page = "nsqadmin.rst"

    def test_page(self) -> None:
        """
        nsqadmin on nsqlookupd, on an nsqd, and in C{twistd nsq} with an
        admin user.
        """
        self.runPage()


class MigratingTests(_PageTestCase):
    """
    C{docs/migrating.rst}.
    """

    page = "migrating.rst"

    def test_page(self) -> None:
        """
        Go's command lines and a Go config file, with C{txnsq} in front.
        """
        self.runPage()


class ToolsTests(_PageTestCase):
    """
    C{docs/tools.rst}.
    """

    page = "tools.rst"

    def test_page(self) -> None:
        """
        Go NSQ's quick start with C{txnsq}: nsq_to_file and nsq_tail; then
        to_nsq, nsq_tail, nsq_to_nsq and nsq_stat.
        """
        self.runPage()


class MonitoringTests(_PageTestCase):
    """
    C{docs/monitoring.rst}.
    """

    page = "monitoring.rst"

    def test_page(self) -> None:
        """
        The statsd prefix nsqd computes; Prometheus metrics of nsqd and
        nsqlookupd.
        """
        self.runPage()
