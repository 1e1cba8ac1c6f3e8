"""
Tests for L{txnsq._logging}: the daemons' loggers honour C{--log-level},
and so does the observer twistd or twist runs them with.
"""

from __future__ import annotations

import io
import sys
from typing import Any, cast

from zope.interface import implementer

from twisted.logger import ILogObserver, LogLevel, PredicateResult
from twisted.python import usage
from twisted.scripts.twistd import (  # type: ignore[attr-defined]  # not in __all__
    ServerOptions,
)
from twisted.trial.unittest import SynchronousTestCase

from txnsq import _logging
from txnsq._logging import (
    LevelPredicate,
    Logger,
    filterTwistdLogging,
    setLogLevel,
    twistdLogObserver,
)


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


def _event(namespace: str, level: LogLevel) -> dict[str, Any]:
    return {
        "log_namespace": namespace,
        "log_level": level,
        "log_format": "x",
        "log_time": 0.0,
    }


class LevelPredicateTests(SynchronousTestCase):
    """
    L{LevelPredicate} filters every event by C{--log-level}: the daemons'
    by their own level, everyone else's (Twisted's) by the most verbose
    daemon's.
    """

    def setUp(self) -> None:
        self.patch(_logging, "_minimum", {})
        self.predicate = LevelPredicate()

    def passes(self, namespace: str, level: LogLevel) -> bool:
        """
        Whether an event from C{namespace} at C{level} is written.
        """
        result: bool = self.predicate(_event(namespace, level)) != PredicateResult.no
        return result

    def test_noLevel(self) -> None:
        """
        With no level set (no daemon), everything passes.
        """
        self.assertTrue(self.passes("twisted.internet.base", LogLevel.debug))

    def test_oneDaemon(self) -> None:
        """
        At C{warn}, INFO is dropped from the daemon and from Twisted alike;
        warnings pass.
        """
        setLogLevel("txnsq.nsqd", "warn")
        self.assertFalse(self.passes("txnsq.nsqd.protocol", LogLevel.info))
        self.assertFalse(self.passes("twisted.internet.base", LogLevel.info))
        self.assertFalse(self.passes("log_legacy", LogLevel.info))
        self.assertTrue(self.passes("txnsq.nsqd", LogLevel.warn))
        self.assertTrue(self.passes("twisted.internet.base", LogLevel.critical))

    def test_twoDaemons(self) -> None:
        """
        In one process with two levels, each daemon keeps its own, and
        other events are held to the more verbose one.
        """
        setLogLevel("txnsq.nsqd", "error")
        setLogLevel("txnsq.nsqlookupd", "info")
        self.assertFalse(self.passes("txnsq.nsqd", LogLevel.warn))
        self.assertTrue(self.passes("txnsq.nsqlookupd.http", LogLevel.info))
        self.assertTrue(self.passes("twisted.internet.base", LogLevel.info))
        self.assertFalse(self.passes("twisted.internet.base", LogLevel.debug))

    def test_changedAtRunTime(self) -> None:
        """
        A level set later (C{PUT /config/log_level}) applies to the next
        event.
        """
        setLogLevel("txnsq.nsqd", "info")
        self.assertTrue(self.passes("twisted.internet.base", LogLevel.info))
        setLogLevel("txnsq.nsqd", "error")
        self.assertFalse(self.passes("twisted.internet.base", LogLevel.info))


#: The events L{recordingObserver} observed.
RECORDED: list[dict[str, Any]] = []


@implementer(ILogObserver)
def recordingObserver(event: dict[str, Any]) -> None:
    """
    An observer that records; L{recordingFactory} is what C{--logger}
    names.
    """
    RECORDED.append(event)


def recordingFactory() -> ILogObserver:
    """
    A C{--logger} factory.
    """
    observer: ILogObserver = recordingObserver
    return observer


def legacyFactory() -> Any:
    """
    A C{--logger} factory of a legacy (C{twisted.python.log}) observer.
    """

    def observe(eventDict: dict[str, Any]) -> None:
        RECORDED.append(eventDict)

    return observe


class FilterTwistdLoggingTests(SynchronousTestCase):
    """
    L{filterTwistdLogging} makes the observer twistd (or twist) starts with
    honour C{--log-level}, whatever twistd's options chose.
    """

    def setUp(self) -> None:
        self.patch(_logging, "_minimum", {})
        self.patch(_logging, "_twistdObserverFactory", None)
        del RECORDED[:]
        setLogLevel("txnsq.nsqd", "warn")

    def twistdObserver(self, *twistdArgs: str) -> ILogObserver:
        """
        Parse C{twistd ARGS nsqd} with twistd's own options and make the
        observer twistd would start with.
        """
        config = ServerOptions()
        config.parseOptions([*twistdArgs, "nsqd", "--log-level=warn"])
        factory = config["logger"]
        self.assertIs(factory, twistdLogObserver)
        observer: ILogObserver = factory()
        return observer

    def test_default(self) -> None:
        """
        Without C{--logger}, twistd's own observer (here stdout, for
        C{-n}) is used, behind the filter.
        """
        stdout = io.StringIO()
        self.patch(sys, "stdout", stdout)
        observer = self.twistdObserver("-n")
        observer(_event("twisted.scripts", LogLevel.info))
        observer(_event("txnsq.nsqd", LogLevel.warn))
        self.assertEqual(stdout.getvalue().count("\n"), 1, stdout.getvalue())
        self.assertIn("[txnsq.nsqd#warn] x", stdout.getvalue())

    def test_chosenLogger(self) -> None:
        """
        An explicit C{--logger} is honoured, behind the filter; a legacy
        observer too.
        """
        for name in ("recordingFactory", "legacyFactory"):
            del RECORDED[:]
            observer = self.twistdObserver(f"--logger=tests.test_logging.{name}")
            observer(_event("twisted.scripts", LogLevel.info))
            observer(_event("txnsq.nsqd", LogLevel.error))
            self.assertEqual(len(RECORDED), 1, name)

    def test_badLogger(self) -> None:
        """
        A C{--logger} that names nothing is twistd's usage error.
        """
        config = ServerOptions()
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        with self.assertRaises(SystemExit) as raised:
            config.parseOptions(["--logger=no.such.thing", "nsqd"])
        self.assertEqual(raised.exception.code, 1)
        self.assertIn("could not be imported", stderr.getvalue())

    def test_twist(self) -> None:
        """
        Under twist, its observer factory is wrapped likewise.
        """
        parent = usage.Options()
        parent["fileLogObserverFactory"] = lambda logFile: recordingObserver
        options = usage.Options()
        options.parent = parent
        filterTwistdLogging(options)
        observer = parent["fileLogObserverFactory"](sys.stdout)
        observer(_event("twisted.scripts", LogLevel.info))
        observer(_event("twisted.scripts", LogLevel.warn))
        self.assertEqual([e["log_level"] for e in RECORDED], [LogLevel.warn])

    def test_noRunner(self) -> None:
        """
        Options without a runner are left alone.
        """
        filterTwistdLogging(usage.Options())
        self.assertIsNone(_logging._twistdObserverFactory)
