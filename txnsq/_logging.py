# -*- test-case-name: tests.test_logging -*-
"""
The daemons' loggers honour Go's C{--log-level} however they are run.

Under the C{txnsq} command the Go-format observer filters by level; under
C{twistd} the observers are twistd's and write everything.  So the daemons
log through L{Logger}, which drops events below the level set for their
namespace (C{txnsq.nsqd}, C{txnsq.nsqlookupd}) before they are published;
C{PUT /config/log_level} changes it at run time.
"""

from __future__ import annotations

from twisted.logger import Logger as _TwistedLogger
from twisted.logger import LogLevel

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
