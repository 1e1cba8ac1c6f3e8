"""
Tests for L{txnsq.nsqlookupd.config}.
"""

from __future__ import annotations

import socket

from twisted.trial.unittest import SynchronousTestCase

from txnsq.nsqlookupd.config import LookupdConfig


class ConfigTests(SynchronousTestCase):
    """
    L{LookupdConfig} has Go nsqlookupd's defaults.
    """

    def test_defaults(self) -> None:
        """
        Addresses, timeouts (seconds) and logging as Go's flags default.
        """
        config = LookupdConfig()
        self.assertEqual(
            (
                config.tcp_address,
                config.http_address,
                config.broadcast_address,
                config.inactive_producer_timeout,
                config.tombstone_lifetime,
                config.log_level,
                config.log_prefix,
            ),
            (
                "0.0.0.0:4160",
                "0.0.0.0:4161",
                socket.gethostname(),
                300.0,
                45.0,
                "info",
                "[nsqlookupd] ",
            ),
        )
