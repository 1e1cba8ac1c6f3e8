# -*- test-case-name: tests.test_logging -*-
"""
The daemons honour Go's C{--log-level} however they are run, for every
line, Twisted's included.

The daemons log through L{Logger}, which drops events below the level set
for their namespace (C{txnsq.nsqd}, C{txnsq.nsqlookupd}) before they are
published; C{PUT /config/log_level} changes it at run time.  Under the
C{txnsq} command the Go-format observer filters the rest (Twisted's own
lines) too.  Under C{twistd} and C{twist} the observer is the runner's:
L{filterTwistdLogging}, called once the plugin's options are parsed, puts
a L{LevelPredicate} in front of it, so C{twistd nsqd --log-level=warn}
prints no INFO line, twistd's C{starting up} included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from zope.interface import implementer

from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    ILogObserver,
    LegacyLogObserverWrapper,
    LogEvent,
    LogLevel,
    PredicateResult,
)
from twisted.logger import Logger as _TwistedLogger
from twisted.python import usage
from twisted.python.reflect import namedAny

from txnsq._go.log import logLevelFromName

_ORDER = {
    LogLevel.debug: 0,
    LogLevel.info: 1,
    LogLevel.warn: 2,
    LogLevel.error: 3,
    LogLevel.critical: 4,
}

_minimum: dict[str, int] = {}


def setLogLevel(namespace: str, name: str) -> None:
    """
    Drop events below the level called C{name} (Go's names: C{debug},
    C{info}, C{warn}, C{error}, C{fatal}) from C{namespace} and below it.

    @raise KeyError: an unknown level name.
    """
    _minimum[namespace] = _ORDER[logLevelFromName(name)]


def _minimumFor(namespace: str) -> int:
    for prefix, minimum in _minimum.items():
        if namespace == prefix or namespace.startswith(prefix + "."):
            return minimum
    return 0


class Logger(_TwistedLogger):
    """
    A L{twisted.logger.Logger} that honours L{setLogLevel}.
    """

    def emit(
        self, level: LogLevel, format: str | None = None, **kwargs: object
    ) -> None:
        """
        Publish the event unless its level is below its namespace's.
        """
        if _minimum and _ORDER.get(level, 4) < _minimumFor(self.namespace):
            return
        super().emit(level, format, **kwargs)


_NO: PredicateResult = PredicateResult.no
_MAYBE: PredicateResult = PredicateResult.maybe


@implementer(ILogFilterPredicate)
class LevelPredicate:
    """
    Drops events below C{--log-level}, as L{setLogLevel} set it (read at
    each event, so C{PUT /config/log_level} applies at once).

    An event from a daemon's namespace is held to that daemon's level;
    any other (Twisted's, or txnsq's outside the daemons) to the most
    verbose daemon's, since it may concern either.  With no level set,
    everything passes.
    """

    def __call__(self, event: LogEvent) -> PredicateResult:
        """
        C{no} for an event below its level, else C{maybe}.
        """
        if not _minimum:
            return _MAYBE
        namespace = str(event.get("log_namespace", ""))
        minimum = None
        for prefix, level in _minimum.items():
            if namespace == prefix or namespace.startswith(prefix + "."):
                minimum = level
                break
        if minimum is None:
            minimum = min(_minimum.values())
        if _ORDER.get(event.get("log_level"), 4) < minimum:
            return _NO
        return _MAYBE


#: What twistd's C{--logger} names once L{filterTwistdLogging} ran: the
#: filtered observer's factory.  twistd calls the named factory with no
#: arguments, so what it needs (twistd's options) is kept here.
_twistdObserverFactory: Callable[[], ILogObserver] | None = None

_TWISTD_LOGGER = f"{__name__}.twistdLogObserver"


def twistdLogObserver() -> ILogObserver:
    """
    The log observer twistd starts with once L{filterTwistdLogging} ran
    (twistd's C{--logger} names it): the one twistd would have made from
    its own options (C{--logfile}, C{--syslog}, C{--logger}), behind a
    L{LevelPredicate}.

    @raise RuntimeError: L{filterTwistdLogging} did not run.
    """
    if _twistdObserverFactory is None:
        raise RuntimeError("twistdLogObserver is for filterTwistdLogging's use")
    return _twistdObserverFactory()


def _filtered(observer: Any) -> ILogObserver:
    if not ILogObserver.providedBy(observer):
        # A legacy observer (twistd's syslog, an old --logger), wrapped as
        # twistd itself would wrap it.
        observer = LegacyLogObserverWrapper(observer)
    return FilteringLogObserver(observer, [LevelPredicate()])


def _twistdObserver(options: usage.Options, chosen: Any) -> ILogObserver:
    if chosen is not None:
        return _filtered(chosen())
    # What twistd does without --logger: its runner's logger makes the
    # observer from --logfile, --syslog and --nodaemon.
    from twisted.scripts import twistd

    runner: Any = twistd._SomeApplicationRunner  # type: ignore[attr-defined]
    return _filtered(runner.loggerFactory(options)._getLogObserver())


def filterTwistdLogging(options: usage.Options) -> None:
    """
    Make the observer of the twistd (or twist) run these plugin options
    belong to honour C{--log-level} (see L{LevelPredicate}).

    twistd starts logging only after the plugin's service is made, and
    from its own options, so this changes those options (the plugin's
    C{parent}), as the pidfile default is changed: twistd's C{--logger}
    then names L{twistdLogObserver}, which builds the observer twistd
    would have (an explicit C{--logger} included) behind the predicate;
    twist's C{fileLogObserverFactory} is wrapped likewise.  Outside a
    runner (no C{parent}) nothing changes.

    @param options: the plugin's options, parsed.
    @raise usage.UsageError: twistd's C{--logger} names nothing importable
        (twistd's own message).
    """
    global _twistdObserverFactory
    parent = getattr(options, "parent", None)
    if not isinstance(parent, usage.Options):
        return
    if "fileLogObserverFactory" in parent:
        # twist: its observer is made from this factory and a log file.
        make = parent["fileLogObserverFactory"]
        parent["fileLogObserverFactory"] = lambda logFile: _filtered(make(logFile))
        return
    if "logger" not in parent:
        return
    chosen = parent["logger"]
    if chosen == _TWISTD_LOGGER:
        # Already done for these options.
        return
    if isinstance(chosen, str):
        try:
            chosen = namedAny(chosen)
        except Exception as e:
            raise usage.UsageError(f"Logger '{chosen}' could not be imported: {e}")
    _twistdObserverFactory = functools.partial(_twistdObserver, parent, chosen)
    # A name, as if given as --logger: twistd resolves it after this.
    parent["logger"] = _TWISTD_LOGGER
