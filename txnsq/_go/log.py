# -*- test-case-name: tests._go.test_log -*-
"""
Log lines in Go NSQ's format.

Go NSQ writes C{<prefix><YYYY/MM/DD HH:MM:SS.micro> <LEVEL>: <text>} to
stderr, e.g. C{[nsqd] 2026/11/26 21:27:30.966582 INFO: TCP: listening on
127.0.0.1:4150}; test harnesses parse those lines.  L{GoLogObserver} is a
L{twisted.logger} observer that writes events that way, choosing the
prefix and minimum level by the event's namespace so one process can run
nsqd and nsqlookupd with each daemon's own C{--log-prefix} and
C{--log-level}.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from zope.interface import implementer

import attrs
from twisted.logger import ILogObserver, LogLevel, formatEvent

__all__ = ["GoLogObserver", "LogRoute", "formatLine", "logLevelFromName"]

_LEVEL_NAMES: dict[LogLevel, str] = {
    LogLevel.debug: "DEBUG",
    LogLevel.info: "INFO",
    LogLevel.warn: "WARNING",
    LogLevel.error: "ERROR",
    LogLevel.critical: "FATAL",
}

_LEVELS_BY_NSQ_NAME: dict[str, LogLevel] = {
    "debug": LogLevel.debug,
    "info": LogLevel.info,
    "warn": LogLevel.warn,
    "error": LogLevel.error,
    "fatal": LogLevel.critical,
}


def logLevelFromName(name: str) -> LogLevel:
    """
    The Twisted log level for an NSQ C{--log-level} name (C{fatal} is
    Twisted's C{critical}).
    """
    return _LEVELS_BY_NSQ_NAME[name.lower()]


def formatLine(prefix: str, level: str, text: str, when: float | None = None) -> str:
    """
    One Go log line, with its newline.

    @param level: C{DEBUG}, C{INFO}, C{WARNING}, C{ERROR} or C{FATAL}.
    @param when: the POSIX time; now if omitted.
    """
    stamp = datetime.fromtimestamp(time.time() if when is None else when)
    return f"{prefix}{stamp:%Y/%m/%d %H:%M:%S.%f} {level}: {text}\n"


@attrs.frozen
class LogRoute:
    """
    Where events from one daemon go.

    @ivar namespace: events whose C{log_namespace} is this or below it
        (C{txnsq.nsqd} matches C{txnsq.nsqd.protocol}) use this route.
    @ivar prefix: Go's C{--log-prefix} (C{"[nsqd] "}).
    @ivar level: the least severe level written (Go's C{--log-level}).
    """

    namespace: str
    prefix: str
    level: LogLevel = LogLevel.info
    #: When given, its C{log_level} decides instead of L{level}, read at
    #: each event: C{PUT /config/log_level} changes it at run time.
    config: Any = attrs.field(default=None, eq=False)

    def currentLevel(self) -> LogLevel:
        """
        The level in force now.
        """
        if self.config is not None:
            return logLevelFromName(self.config.log_level)
        return self.level

    def matches(self, namespace: str) -> bool:
        """
        Whether events from C{namespace} belong to this route.
        """
        return namespace == self.namespace or namespace.startswith(self.namespace + ".")


@implementer(ILogObserver)
class GoLogObserver:
    """
    Write events as Go NSQ log lines.

    Events from a route's namespace are written with its prefix when at
    least its level.  Other txnsq events use the first route.  Events from
    anywhere else (Twisted itself) are written with the first route's prefix
    only from C{warn} up: Go's daemons print nothing like Twisted's
    informational chatter, but errors matter.  Tracebacks of logged failures
    follow their line.
    """

    def __init__(self, stream: IO[str], routes: Iterable[LogRoute]) -> None:
        """
        @param stream: where to write (C{sys.stderr}).
        @param routes: the daemons' routes; the first is the fallback.
        """
        self._stream = stream
        self._routes = tuple(routes)
        if not self._routes:
            raise ValueError("at least one route is needed")

    def _route(self, namespace: str) -> tuple[str, LogLevel]:
        for route in self._routes:
            if route.matches(namespace):
                return route.prefix, route.currentLevel()
        fallback = self._routes[0]
        level = fallback.currentLevel()
        if namespace == "txnsq" or namespace.startswith("txnsq."):
            return fallback.prefix, level
        return fallback.prefix, max(level, LogLevel.warn, key=_severity)

    def __call__(self, event: dict[str, Any]) -> None:
        """
        Write C{event} if its level passes its route's.
        """
        level = event.get("log_level", LogLevel.info)
        if level not in _LEVEL_NAMES:
            level = LogLevel.info
        prefix, minimum = self._route(str(event.get("log_namespace", "")))
        if _severity(level) < _severity(minimum):
            return
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text = f"{text}\n{failure.getTraceback().rstrip()}"
        when = event.get("log_time")
        line = formatLine(
            prefix,
            _LEVEL_NAMES[level],
            text,
            when if isinstance(when, (int, float)) else None,
        )
        self._stream.write(line)
        self._stream.flush()


def _severity(level: LogLevel) -> int:
    return list(_LEVEL_NAMES).index(level)
