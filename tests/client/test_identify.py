"""
Tests for L{txnsq.client._identify}: the IDENTIFY body and the reading of
nsqd's reply, without a connection (the protocol's use of them is tested in
L{tests.client.test_protocol}).
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from txnsq.client import IdentifyOptions, IdentifyResponse


class IdentifyOptionsTests(SynchronousTestCase):
    """
    L{IdentifyOptions}.
    """

    def test_unsetLeftOut(self) -> None:
        """
        Options left at L{None} are not in the body; the rest are, under
        nsqd's keys.
        """
        body = IdentifyOptions(clientID="c", hostname="h", msgTimeoutMs=5000).toJSON()
        self.assertEqual(body["client_id"], "c")
        self.assertEqual(body["msg_timeout"], 5000)
        self.assertNotIn("heartbeat_interval", body)
        self.assertNotIn("tlsOptions", body)

    def test_readTimeout(self) -> None:
        """
        The read timeout is two heartbeat intervals: nsqd's default one when
        unset or 0, none when heartbeats are disabled.
        """
        self.assertEqual(IdentifyOptions(heartbeatIntervalMs=1000).readTimeout(), 2.0)
        self.assertEqual(IdentifyOptions().readTimeout(), 60.0)
        self.assertEqual(IdentifyOptions(heartbeatIntervalMs=0).readTimeout(), 60.0)
        self.assertIsNone(IdentifyOptions(heartbeatIntervalMs=-1).readTimeout())


class IdentifyResponseTests(SynchronousTestCase):
    """
    L{IdentifyResponse}.
    """

    def test_ok(self) -> None:
        """
        A bare C{OK} means no negotiation: nsqd's defaults.
        """
        response = IdentifyResponse.fromFrame(b"OK")
        self.assertFalse(response.negotiated)
        self.assertEqual(response.maxRdyCount, 2500)

    def test_badFieldsDefault(self) -> None:
        """
        Fields missing from the JSON reply, or of the wrong type, keep
        their defaults; the raw reply is kept.
        """
        raw = {"max_rdy_count": "many", "auth_required": True, "extra": 1}
        response = IdentifyResponse.fromFrame(json.dumps(raw).encode())
        self.assertTrue(response.negotiated)
        self.assertEqual(response.maxRdyCount, 2500)
        self.assertTrue(response.authRequired)
        self.assertEqual(response.raw, raw)

    def test_notAnObject(self) -> None:
        """
        A reply that is neither C{OK} nor a JSON object is refused.
        """
        self.assertRaises(ValueError, IdentifyResponse.fromFrame, b"[1]")
        self.assertRaises(ValueError, IdentifyResponse.fromFrame, b"nope")

    def test_upgrades(self) -> None:
        """
        The upgrades nsqd switched on are listed in the order they apply:
        TLS, then compression.
        """
        response = IdentifyResponse(deflate=True, tls=True)
        self.assertEqual(response.upgrades, ["tls_v1", "deflate"])
        self.assertEqual(IdentifyResponse().upgrades, [])
