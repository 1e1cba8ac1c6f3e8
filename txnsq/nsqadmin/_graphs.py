# -*- test-case-name: tests.nsqadmin.test_ui -*-
"""
The graphite graphs of Go nsqadmin's pages, with C{--graphite-url}: the
URLs of graphite's C{/render} images of the statsd metrics nsqd sends
(C{--statsd-address}), built as Go nsqadmin's UI builds them
(C{static/js/lib/handlebars_helpers.js}: C{genTargets}, C{sparkline},
C{large_graph}).

Pure: the settings go in (L{txnsq.nsqadmin.graphite.uiSettings}), URLs come
out.  One difference: several targets are repeated C{target=} parameters,
as graphite reads them (Go's jQuery writes C{target[]=}).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

__all__ = ["Graphs", "sanitizeKey"]

# Go's metricType: how statsd names each key.
_METRIC_TYPES = {
    "depth": "gauge",
    "in_flight_count": "gauge",
    "deferred_count": "gauge",
    "requeue_count": "counter",
    "timeout_count": "counter",
    "message_count": "counter",
    "clients": "gauge",
}

_UNSAFE = re.compile(r"[^a-zA-Z0-9\-_.]")


def sanitizeKey(name: str) -> str:
    """
    A topic or channel name as statsdaemon writes it into a graphite key.
    """
    return _UNSAFE.sub("", name.replace(" ", "_").replace("/", "-"))


class Graphs:
    """
    Graph URLs for one nsqadmin's settings.

    @ivar span: how far back the graphs reach (Go's default C{2h}).
    """

    def __init__(
        self,
        renderBase: str,
        prefix: str,
        counterFormat: str,
        gaugeFormat: str,
        interval: int,
        span: str = "2h",
    ) -> None:
        self._render = renderBase.rstrip("/") + "/render?"
        self._prefix = prefix
        self._formats = {"counter": counterFormat, "gauge": gaugeFormat}
        self._interval = interval
        self.span = span

    @classmethod
    def fromSettings(cls, settings: Mapping[str, Any], base: str) -> Graphs | None:
        """
        From L{txnsq.nsqadmin.graphite.uiSettings}; L{None} without
        C{--graphite-url}.  With C{--proxy-graphite}, the images come from
        nsqadmin's own C{/render} under the base path C{base}.
        """
        if not settings["GraphEnabled"]:
            return None
        renderBase = base if settings["ProxyGraphite"] else settings["GraphiteURL"]
        return cls(
            renderBase,
            settings["StatsdPrefix"],
            settings["StatsdCounterFormat"],
            settings["StatsdGaugeFormat"],
            settings["StatsdInterval"],
        )

    def _statsdPrefix(self, node: str) -> str:
        prefix = self._prefix.replace("%s", re.sub(r"[.:]", "_", node or "*"))
        return prefix if prefix.endswith(".") else prefix + "."

    def target(self, node: str, topic: str, channel: str, key: str) -> str:
        """
        Go's C{genTargets} for a topic (C{channel} empty) or a channel on
        C{node} (an nsqd's address, or C{*} for all).
        """
        name = f"topic.{sanitizeKey(topic)}."
        if channel:
            name += f"channel.{sanitizeKey(channel)}."
        full = self._statsdPrefix(node) + name + key
        kind = _METRIC_TYPES.get(key)
        if kind is not None:
            full = self._formats[kind].replace("%s", full)
        return f"sumSeries({full})"

    def _url(self, query: dict[str, str], target: str) -> str:
        return self._render + urlencode(
            {**query, "from": f"-{self.span}", "until": "-1min", "target": target}
        )

    def sparkline(self, node: str, topic: str, channel: str, key: str) -> str:
        """
        A 120x20 image of C{key}, as Go's C{sparkline}.
        """
        colour = "red" if key in ("depth", "deferred_count") else "blue"
        target = self.target(node, topic, channel, key)
        return self._url(
            {
                "colorList": colour,
                "height": "20",
                "width": "120",
                "hideGrid": "true",
                "hideLegend": "true",
                "hideAxes": "true",
                "bgcolor": "ff000000",
                "fgcolor": "black",
                "margin": "0",
                "yMin": "0",
                "lineMode": "connected",
                "drawNullAsZero": "false",
            },
            f'summarize({target},"{self._interval}sec","avg")',
        )

    def large(self, node: str, topic: str, channel: str, key: str) -> str:
        """
        An 800x450 graph of C{key}, counters per second, as Go's
        C{large_graph}.
        """
        colour = "red" if key in ("depth", "deferred_count") else "blue"
        target = self.target(node, topic, channel, key)
        if _METRIC_TYPES.get(key) == "counter":
            target = f"scale({target},{1 / self._interval})"
        return self._url(
            {
                "colorList": colour,
                "height": "450",
                "width": "800",
                "bgcolor": "ff000000",
                "fgcolor": "999999",
                "yMin": "0",
                "lineMode": "connected",
                "drawNullAsZero": "false",
            },
            f'summarize({target},"{self._interval}sec","avg")',
        )
