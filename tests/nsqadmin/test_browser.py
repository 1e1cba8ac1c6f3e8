"""
nsqadmin's web UI in a real headless browser: Debian's chromium, driven by
Selenium through the system chromedriver, against a real cluster (one
nsqlookupd, two nsqds, nsqadmin) in the test's reactor.  The harness is
L{tests.nsqadmin._browser}; the pages and live updates are tested in
L{tests.nsqadmin.test_browser_pages}, the admin actions in
L{tests.nsqadmin.test_browser_actions}.

Every browser test is skipped, saying why, where chromium, chromedriver or
selenium are missing; CI (C{.ci/run}) installs them.  Screenshots are
saved under the trial temp directory (C{screenshots/}).
"""

from __future__ import annotations

import json

from tests.nsqadmin._browser import BrowserTestCase


class HarnessTests(BrowserTestCase):
    """
    The browser reaches nsqadmin in the test's reactor.
    """

    async def test_pingAndAPI(self) -> None:
        """
        C{/ping} answers C{OK} in the browser, and the JSON API shows the
        cluster's topics and both nodes.
        """
        cluster, browser = await self.start()
        self.assertEqual(await browser.raw("/ping"), "OK")
        topics = json.loads(await browser.raw("/api/topics"))
        self.assertEqual(sorted(topics["topics"]), ["audit", "orders"])
        nodes = json.loads(await browser.raw("/api/nodes"))
        self.assertEqual(
            sorted(node["http_port"] for node in nodes["nodes"]),
            sorted(cluster.nsqdHTTP),
        )
        await browser.screenshot("api-nodes")
