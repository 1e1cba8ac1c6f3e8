"""
Recording stand-ins for what the client's parts report to: a link listener
and a txaio logger.
"""

from __future__ import annotations

from typing import Any

from twisted.python.failure import Failure

from txnsq.client._connection import NSQDLink
from txnsq.client.protocol import NSQClientProtocol

__all__ = ["Listener", "RecordingLog"]


class Listener:
    """
    A L{LinkListener} recording events.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def linkReady(self, link: NSQDLink, connection: NSQClientProtocol) -> None:
        """
        Record readiness.
        """
        self.events.append(("ready", connection))

    def linkLost(
        self, link: NSQDLink, connection: NSQClientProtocol, reason: Failure
    ) -> None:
        """
        Record a loss.
        """
        self.events.append(("lost", connection))

    def linkFailed(self, link: NSQDLink, reason: Failure) -> None:
        """
        Record a failure.
        """
        self.events.append(("failed", reason))


class RecordingLog:
    """
    A txaio logger that records C{(level, format, fields)} for each event.
    """

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def _record(self, level: str, format: str, fields: dict[str, Any]) -> None:
        self.events.append((level, format, fields))

    def debug(self, format: str, **fields: Any) -> None:
        """
        Record a debug event.
        """
        self._record("debug", format, fields)

    def info(self, format: str, **fields: Any) -> None:
        """
        Record an info event.
        """
        self._record("info", format, fields)

    def warn(self, format: str, **fields: Any) -> None:
        """
        Record a warning.
        """
        self._record("warn", format, fields)

    def error(self, format: str, **fields: Any) -> None:
        """
        Record an error.
        """
        self._record("error", format, fields)

    def levels(self) -> list[str]:
        """
        The level of each event so far.
        """
        return [level for level, _, _ in self.events]
