"""
Tests for L{txnsq._logging}: the daemons' loggers honour C{--log-level}
whatever observers are installed (twistd's write everything).
"""

from __future__ import annotations

from typing import Any, cast

from twisted.logger import ILogObserver, LogLevel
from twisted.trial.unittest import SynchronousTestCase

from txnsq import _logging
from txnsq._logging import Logger, setLogLevel


class LevelTests(SynchronousTestCase):
    """
    Events below a namespace's level are not published.
    """

    def setUp(self) -> None:
        self.patch(_logging, "_minimum", {})
        self.events: list[dict[str, Any]] = []

    def logger(self, namespace: str) -> Logger:
        """
        A logger of C{namespace} recording into C{self.events}.
        """
        # A callable is an observer (ILogObserver describes __call__), as
        # Twisted's own tests cast it.
        observer = cast(ILogObserver, self.events.append)
        return Logger(namespace=namespace, observer=observer)

    def test_noLevelPublishesAll(self) -> None:
        """
        With no level set, every event is published.
        """
        self.logger("txnsq.nsqd").debug("d")
        self.assertEqual([e["log_level"] for e in self.events], [LogLevel.debug])

    def test_levelFilters(self) -> None:
        """
        C{warn} drops debug and info events of the namespace and below it,
        keeps the rest, and leaves other namespaces alone.
        """
        setLogLevel("txnsq.nsqd", "warn")
        nsqd = self.logger("txnsq.nsqd.protocol")
        nsqd.info("dropped")
        nsqd.warn("kept")
        nsqd.error("kept too")
        self.logger("txnsq.nsqlookupd").info("other daemon")
        self.assertEqual(
            [e["log_format"] for e in self.events],
            ["kept", "kept too", "other daemon"],
        )

    def test_changedAtRunTime(self) -> None:
        """
        Setting the level again (C{PUT /config/log_level}) applies at once.
        """
        setLogLevel("txnsq.nsqd", "error")
        log = self.logger("txnsq.nsqd")
        log.warn("dropped")
        setLogLevel("txnsq.nsqd", "debug")
        log.debug("kept")
        self.assertEqual([e["log_format"] for e in self.events], ["kept"])
