# -*- test-case-name: tests._go.test_exit -*-
"""
Go's daemons exit 0 after a graceful SIGTERM or SIGINT; twistd re-raises
the signal once the reactor has stopped, so the process dies "killed by
signal 15".  Scripts and supervisors written for Go NSQ check for 0.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

_GRACEFUL = (signal.SIGTERM, signal.SIGINT)


def exitZeroAfterGracefulStop(reactor: Any) -> None:
    """
    Once the reactor has shut down (every service stopped, queues flushed),
    forget a SIGTERM or SIGINT that triggered it, so that twistd exits 0.

    twistd reads the signal from the reactor's C{_exitSignal} (Twisted's
    C{_ISupportsExitSignalCapturing}); reactors without it are untouched.
    """

    def forget() -> None:
        if getattr(reactor, "_exitSignal", None) in _GRACEFUL:
            reactor._exitSignal = None

    addTrigger = getattr(reactor, "addSystemEventTrigger", None)
    if addTrigger is not None:
        addTrigger("after", "shutdown", forget)


class Fatal(Exception):
    """
    A start-up failure Go reports with C{logFatal}: the message is the
    whole text after C{FATAL: } (e.g. C{failed to persist metadata - ...}),
    so the programs print it as it is rather than under C{failed to
    instantiate nsqd - }.
    """


#: What a daemon raises from its start when the world, not txnsq, is at
#: fault (a missing directory or file, a bad nsqd.dat): Go prints one FATAL
#: line for these, and a traceback would only hide it.
_OPERATIONAL: tuple[type[Exception], ...] = (Fatal, OSError, ValueError)


def fatalText(name: str, error: BaseException) -> str:
    """
    The text Go's C{logFatal} prints for a daemon C{name} that failed to
    start with C{error}.
    """
    if isinstance(error, Fatal):
        return str(error)
    return f"failed to instantiate {name} - {error}"


def oneLineFatalUnderTwistd(
    name: str,
    logFatal: Callable[[str], None],
    kinds: tuple[type[Exception], ...] = (),
) -> None:
    """
    Under twistd, report a start-up failure as Go does, one C{FATAL} line,
    instead of the traceback twistd would print.

    twistd starts the services before the reactor runs, so a failure to
    listen, lock the data path or read a TLS file is raised out of
    C{twistd.run}, after twistd has told a waiting parent (when it
    daemonizes) and removed its pid file; Python would then print the
    traceback.  This replaces C{sys.excepthook} for L{Fatal}, L{OSError},
    L{ValueError} and C{kinds} only, so a bug still shows its traceback.
    The exit status stays 1.

    @param name: the daemon, for C{failed to instantiate NAME - ...}.
    @param logFatal: logs one line at the critical level.
    @param kinds: more exception types to report this way (the listen
        error of the endpoints layer, which this module cannot import).
    """
    previous = sys.excepthook
    operational = _OPERATIONAL + kinds

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        if isinstance(value, operational):
            logFatal(fatalText(name, value))
            return
        previous(kind, value, tb)

    sys.excepthook = hook


def exitOneIfStopFailed(reactor: Any, stopFailed: Callable[[], bool]) -> None:
    """
    Under twistd, exit with status 1 instead of 0 when the stop could not
    keep what it had to (nsqd could not write queued messages to a full
    disk): a supervisor must see that something was lost.

    twistd has no exit status of its own to set: once the reactor has
    shut down and C{stopFailed()} says so, an C{atexit} handler (which
    runs after twistd has removed its pid file and stopped logging) ends
    the process with 1.  Call it only for a real twistd run.
    """

    def check() -> None:
        if stopFailed():
            reactor._exitSignal = None
            atexit.register(_exitOne)

    reactor.addSystemEventTrigger("after", "shutdown", check)


def _exitOne() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(1)
