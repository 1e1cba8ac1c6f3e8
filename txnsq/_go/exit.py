# -*- test-case-name: tests._go.test_exit -*-
"""
Go's daemons exit 0 after a graceful SIGTERM or SIGINT; twistd re-raises
the signal once the reactor has stopped, so the process dies "killed by
signal 15".  Scripts and supervisors written for Go NSQ check for 0.
"""

from __future__ import annotations

import signal
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
