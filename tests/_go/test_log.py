"""
Tests for L{txnsq._go.log}: Go-style log lines and their levels.
"""

from __future__ import annotations

import io

from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase

from txnsq._go.log import GoLogObserver, LogRoute
from txnsq.nsqd.config import NSQDConfig


class LevelTests(SynchronousTestCase):
    """
    A route bound to a config follows its C{log_level} at run time, as
    C{PUT /config/log_level} expects.
    """

    def test_levelFollowsConfig(self) -> None:
        """
        Raising C{log_level} to C{warn} silences info lines from then on;
        lowering it again lets them through.
        """
        config = NSQDConfig(node_id=1)
        stream = io.StringIO()
        observer = GoLogObserver(
            stream, [LogRoute("txnsq.nsqd", "[nsqd] ", config=config)]
        )

        def emit(text: str) -> None:
            observer(
                {
                    "log_namespace": "txnsq.nsqd.protocol",
                    "log_level": LogLevel.info,
                    "log_format": text,
                    "log_time": 0.0,
                }
            )

        emit("one")
        config.log_level = "warn"
        emit("two")
        config.log_level = "debug"
        emit("three")
        lines = stream.getvalue().splitlines()
        self.assertEqual([line.rsplit(" ", 1)[-1] for line in lines], ["one", "three"])
        self.assertTrue(all(line.startswith("[nsqd] ") for line in lines))
