# -*- test-case-name: tests.nsqadmin.test_ui -*-
"""
nsqadmin's web UI, the HTML: each page from the cluster data that
L{txnsq.nsqadmin.http} gathered, as C{twisted.web.template} tags (which
escape every text and attribute: topic, channel and client names, user
agents and hostnames come from the network).

The pages work without JavaScript; htmx (vendored in C{static/}) adds the
confirmation dialogs and refreshes the C{#live} part of each page every 2
seconds.  The C{data-testid} attributes are the stable hooks the browser
tests use.  Every URL starts with the base path (C{--base-path}).

Rendering is linear in the number of rows: the stats are grouped by topic
once, never searched per row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Optional
from urllib.parse import quote

from twisted.web.template import Tag, flattenString, tags

from txnsq.nsqadmin._clusterinfo import producerHTTPAddress
from txnsq.nsqadmin._graphs import Graphs
from txnsq.nsqadmin._rates import RateTracker

__all__ = [
    "Flash",
    "Paths",
    "channelPage",
    "confirmPage",
    "counterPage",
    "errorPage",
    "lookupPage",
    "nodePage",
    "nodesPage",
    "render",
    "streamsPage",
    "topicPage",
]

Flash = Optional[tuple[str, str]]
"""A message after an action: C{(level, text)}, level C{ok}, C{warning} or
C{error}; or L{None}."""

JSON = Any


# How often the live part of a page refreshes itself: every 2 seconds, less
# often for pages of many rows (each refresh reads the nsqds and renders the
# whole page again).
def liveInterval(rows: int) -> str:
    """
    The htmx polling interval of a page of C{rows} table rows.
    """
    if rows > 1000:
        return "10s"
    if rows > 200:
        return "5s"
    return "2s"


class Paths:
    """
    The URLs of the UI under a base path (C{""} or C{"/admin"}): each
    segment percent-encoded, so any name is one path segment.
    """

    def __init__(self, base: str) -> None:
        self.base = base

    def url(self, *segments: str) -> str:
        if not segments:
            return self.base + "/"
        return self.base + "".join("/" + quote(s, safe="") for s in segments)

    def static(self, name: str) -> str:
        return f"{self.base}/static/{name}"

    def topic(self, topic: str) -> str:
        return self.url("topics", topic)

    def channel(self, topic: str, channel: str) -> str:
        return self.url("topics", topic, channel)

    def node(self, node: str) -> str:
        return self.url("nodes", node)

    def topicAction(self, topic: str, channel: str = "") -> str:
        if channel:
            return self.url("actions", "topics", topic, channel)
        return self.url("actions", "topics", topic)

    def nodeAction(self, node: str) -> str:
        return self.url("actions", "nodes", node)


# -- small pieces ------------------------------------------------------------


def _tid(name: str, **data: str) -> dict[str, str]:
    attributes = {"data-testid": name}
    for key, value in data.items():
        attributes[f"data-{key}"] = value
    return attributes


def _count(value: int) -> Tag:
    return tags.span(f"{value:,}")


def _cell(name: str, value: int) -> Tag:
    return tags.td(f"{value:,}", class_="num", **_tid(name))


def _num(label: str) -> Tag:
    # The head of a column of numbers, aligned as its cells.
    return tags.th(label, class_="num")


def _table(
    testid: str, head: list[Any], rows: Any, empty: str = "", emptyTestid: str = ""
) -> Tag:
    """
    A table: C{head}'s column heads over C{rows}; with C{empty}, that
    sentence instead when there is no row.
    """
    if empty and not rows:
        return tags.p(empty, class_="empty", **_tid(emptyTestid))
    return tags.table(tags.thead(tags.tr(head)), tags.tbody(rows), **_tid(testid))


def _rateCell(rate: float | None) -> Tag:
    if rate is None:
        return tags.td("\N{EN DASH}", class_="num rate", **_tid("rate", rate=""))
    return tags.td(
        f"{rate:,.1f}/s", class_="num rate", **_tid("rate", rate=f"{rate:.1f}")
    )


def _paused(paused: bool) -> Tag | str:
    if not paused:
        return ""
    return tags.span("paused", class_="badge paused", **_tid("paused-badge"))


def _metricsLink(node: str) -> Tag:
    return tags.a(
        "metrics",
        href=f"http://{node}/metrics",
        class_="metrics",
        **_tid("metrics-link"),
    )


def _warning(message: str) -> Tag | str:
    if not message:
        return ""
    return tags.p(message, class_="warning", **_tid("warning"))


# The header an error page's live part polls with: a page that failed to
# read the cluster has no title, tables or actions of its own, so once the
# cluster answers again it is reloaded whole (HX-Refresh), not patched.
RECOVERING_HEADER = "X-Nsqadmin-Recovering"


def _live(url: str, *children: Any, rows: int = 0, recovering: bool = False) -> Tag:
    # Polls its own page and swaps in the same element of the answer.
    attributes = {
        "hx-get": url,
        "hx-trigger": f"every {liveInterval(rows)}",
        "hx-select": "#live",
        "hx-swap": "outerHTML",
    }
    if recovering:
        attributes["hx-headers"] = f'{{"{RECOVERING_HEADER}": "true"}}'
    return tags.div(*children, id="live", **_tid("live"), **attributes)


def actionForm(
    actionURL: str,
    testid: str,
    label: str,
    question: str,
    fields: dict[str, str],
    danger: bool = False,
) -> Tag:
    """
    A button that acts after a confirmation: without JavaScript the form
    GETs the confirmation page; with htmx it POSTs once C{confirm()} says
    yes.
    """
    return tags.form(
        [tags.input(type="hidden", name=k, value=v) for k, v in fields.items()],
        tags.button(
            label,
            type="submit",
            class_="danger" if danger else "",
            **_tid(testid),
        ),
        method="get",
        action=actionURL,
        class_="action",
        **{"hx-post": actionURL, "hx-confirm": question},
    )


def _pauseForm(
    actionURL: str, thing: str, paused: bool, prefix: str, node: str = ""
) -> Tag:
    action = "unpause" if paused else "pause"
    fields = {"action": action}
    where = ""
    if node:
        fields["node"] = node
        where = f" on {node}"
    return actionForm(
        actionURL,
        f"{prefix}{action}",
        action.capitalize(),
        f"Really {action} {thing}{where}?",
        fields,
    )


def _emptyForm(actionURL: str, thing: str, prefix: str, node: str = "") -> Tag:
    fields = {"action": "empty"}
    where = ""
    if node:
        fields["node"] = node
        where = f" on {node}"
    return actionForm(
        actionURL,
        f"{prefix}empty",
        "Empty",
        f"Really empty {thing}{where}?",
        fields,
        danger=True,
    )


def _wholeActions(actionURL: str, thing: str, paused: bool, testid: str) -> Tag:
    # The buttons acting on a topic or channel on every nsqd.
    return tags.div(
        _pauseForm(actionURL, thing, paused, "action-"),
        _emptyForm(actionURL, thing, "action-"),
        actionForm(
            actionURL,
            "action-delete",
            "Delete",
            f"Really delete {thing}?",
            {"action": "delete"},
            danger=True,
        ),
        class_="actions",
        **_tid(testid),
    )


def hostnamePort(record: JSON) -> str:
    """
    An nsqd as Go's pages name it in per-node rows: C{hostname:http_port}
    (several nsqds on one host stay apart); its address without a
    hostname.
    """
    node = str(record["node"])
    hostname = str(record.get("hostname") or "")
    if not hostname:
        return node
    return f"{hostname}:{node.rpartition(':')[2]}"


def _nodeCell(paths: Paths, record: JSON) -> Tag:
    # An nsqd's name in a per-node row, linked to its page.
    return tags.td(
        tags.a(
            hostnamePort(record),
            href=paths.node(record["node"]),
            title=record["node"],
            **_tid("node-link"),
        ),
        " ",
        _paused(record["paused"]),
    )


def formatNanoseconds(value: float) -> str:
    """
    A latency from nsqd's C{e2e_processing_latency} (nanoseconds) for
    people: C{850ns}, C{12.5µs}, C{3.2ms}, C{1.5s}.
    """
    for unit, size in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if value >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}ns"


def _quantileName(quantile: float) -> str:
    return f"p{quantile * 100:g}"


def _latencyTable(total: JSON, nodes: Sequence[JSON]) -> list[Tag]:
    """
    The end-to-end processing latency percentiles (nsqd's
    C{--e2e-processing-latency-percentile}), per nsqd and over all: each
    node's value, the count-weighted average over all (the maximum in
    its title).  Nothing when the nsqds measure none.
    """
    merged = total["e2e_processing_latency"].get("percentiles") or []
    if not merged:
        return []
    quantiles = [p["quantile"] for p in merged]

    def cells(percentiles: Sequence[JSON], overall: bool) -> list[Tag]:
        byQuantile = {p["quantile"]: p for p in percentiles or []}
        row = []
        for q in quantiles:
            p = byQuantile.get(q)
            if p is None:
                row.append(tags.td("", class_="num"))
                continue
            attributes = _tid("latency", quantile=f"{q:g}")
            if overall:
                attributes["title"] = f"max {formatNanoseconds(p['max'])}"
            row.append(
                tags.td(formatNanoseconds(p["average"]), class_="num", **attributes)
            )
        return row

    rows = [
        tags.tr(
            tags.td(hostnamePort(n)),
            cells(n["e2e_processing_latency"].get("percentiles") or [], False),
            **_tid("latency-row", node=n["node"]),
        )
        for n in nodes
    ]
    rows.append(
        tags.tr(
            tags.th("Total"),
            cells(merged, True),
            class_="total",
            **_tid("latency-row", node="*"),
        )
    )
    return [
        tags.h2("End-to-end latency"),
        _table(
            "latency-table",
            [tags.th("nsqd"), [_num(_quantileName(q)) for q in quantiles]],
            rows,
        ),
    ]


def _graphCell(
    graphs: Graphs | None, node: str, topic: str, channel: str, keys: Sequence[str]
) -> Tag | str:
    # With --graphite-url, Go's sparklines of keys, each linked to its
    # large graph.
    if graphs is None:
        return ""
    return tags.td(
        [
            tags.a(
                tags.img(
                    src=graphs.sparkline(node, topic, channel, key),
                    width="120",
                    height="20",
                    alt=key,
                ),
                href=graphs.large(node, topic, channel, key),
                **_tid("graph", key=key),
            )
            for key in keys
        ],
        class_="graphs",
    )


def _graphHead(graphs: Graphs | None) -> Tag | str:
    return "" if graphs is None else tags.th("Graphs")


def _thing(topic: str, channel: str = "") -> str:
    return f"channel {topic}/{channel}" if channel else f"topic {topic}"


def _pageHeader(
    paths: Paths, topic: str, channel: str, paused: bool, admin: bool
) -> list[Tag | str]:
    """
    The head of a topic's or a channel's page: its title (a channel's
    links back to its topic) and, for admins, the buttons acting on it
    over every nsqd, outside the live part so that a refresh never
    swallows a click.
    """
    if channel:
        title = tags.h1(
            "Topic ",
            tags.a(topic, href=paths.topic(topic), **_tid("topic-link")),
            " / channel ",
            tags.span(channel, class_="name"),
            " ",
            _paused(paused),
            **_tid("page-title"),
        )
    else:
        title = tags.h1(
            "Topic ",
            tags.span(topic, class_="name"),
            " ",
            _paused(paused),
            **_tid("page-title"),
        )
    if not admin:
        # As Go's pages: no buttons that the server would refuse.
        return [title, ""]
    kind = "channel" if channel else "topic"
    actions = _wholeActions(
        paths.topicAction(topic, channel),
        _thing(topic, channel),
        paused,
        f"{kind}-actions",
    )
    return [title, actions]


def _nodeActions(
    actionURL: str, thing: str, node: JSON, admin: bool, *more: Any
) -> Tag:
    # A per-node row's last cell: pause/unpause and empty on that nsqd
    # only (for admins), then C{more}.
    buttons: list[Tag] = []
    if admin:
        buttons = [
            _pauseForm(actionURL, thing, node["paused"], "node-action-", node["node"]),
            _emptyForm(actionURL, thing, "node-action-", node["node"]),
        ]
    return tags.td(tags.div(*buttons, *more, class_="actions"))


# -- the layout --------------------------------------------------------------


def layout(paths: Paths, page: str, title: str, flash: Flash, *content: Any) -> Tag:
    """
    The page around C{content}: the head, the navigation, the flash.
    """
    nav = tags.nav(
        tags.a("nsqadmin", href=paths.url(), class_="brand"),
        tags.a("Streams", href=paths.url(), **_tid("nav-streams")),
        tags.a("Nodes", href=paths.url("nodes"), **_tid("nav-nodes")),
        tags.a("Counter", href=paths.url("counter"), **_tid("nav-counter")),
        tags.a("Lookup", href=paths.url("lookup"), **_tid("nav-lookup")),
        **_tid("nav"),
    )
    flashTag: Tag | str = ""
    if flash is not None:
        level, text = flash
        flashTag = tags.p(
            text,
            class_=f"flash flash-{level}",
            role="status",
            **_tid("flash", level=level),
        )
    return tags.html(
        tags.head(
            tags.meta(charset="utf-8"),
            tags.meta(name="viewport", content="width=device-width, initial-scale=1"),
            tags.title(f"{title} · nsqadmin"),
            tags.link(rel="stylesheet", href=paths.static("nsqadmin.css")),
            # No icon: saves the browser a request that would be a 404.
            tags.link(rel="icon", href="data:,"),
            tags.script(src=paths.static("htmx.min.js"), defer="defer"),
        ),
        tags.body(
            tags.header(nav),
            Tag("main")(flashTag, *content, **_tid("page", page=page)),
        ),
        lang="en",
    )


async def render(tag: Tag) -> bytes:
    """
    The HTML document of C{tag}: the bytes C{twisted.web.template}'s
    C{flattenString} makes, by L{flattenFast} when it can.
    """
    try:
        html = flattenFast(tag)
    except _NotPlain:
        html = await flattenString(None, tag)
    return b"<!DOCTYPE html>\n" + html


# Twisted's void elements (twisted.web._stan.voidElements, private; a test
# checks the copy): written <tag ... /> when empty.
_VOID = frozenset(
    [
        "img",
        "br",
        "hr",
        "base",
        "meta",
        "link",
        "param",
        "area",
        "input",
        "col",
        "basefont",
        "isindex",
        "frame",
        "command",
        "embed",
        "keygen",
        "source",
        "track",
        "wbs",
    ]
)


class _NotPlain(Exception):
    """
    The tree holds something L{flattenFast} leaves to Twisted (slots,
    renderers, comments, Deferreds...).
    """


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def flattenFast(root: Any) -> bytes:
    """
    What C{flattenString(None, root)} gives for a tree of plain tags,
    strings and lists (all the pages are), several times faster: the
    node page of an nsqd with 500 topics of 5 channels is 30,000 tags,
    and Twisted's general flattener (Deferreds, slots, renderers) spends
    seconds on them.

    @raise _NotPlain: C{root} holds anything else.
    """
    out: list[str] = []
    write = out.append

    def walk(node: Any) -> None:
        if isinstance(node, str):
            write(_escape(node))
        elif isinstance(node, Tag):
            if node.render is not None or node.slotData is not None:
                raise _NotPlain()
            name = node.tagName
            if not name:
                walk(node.children)
                return
            if not isinstance(name, str):
                raise _NotPlain()
            write("<" + name)
            for key, value in node.attributes.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise _NotPlain()
                write(f' {key}="{_escape(value).replace(chr(34), "&quot;")}"')
            if node.children or name not in _VOID:
                write(">")
                for child in node.children:
                    walk(child)
                write(f"</{name}>")
            else:
                write(" />")
        elif isinstance(node, (list, tuple)):
            for child in node:
                walk(child)
        else:
            raise _NotPlain()

    walk(root)
    return "".join(out).encode("utf-8")


# -- streams -----------------------------------------------------------------


def streamsPage(
    paths: Paths,
    flash: Flash,
    topics: Sequence[str],
    records: Iterable[JSON],
    rates: RateTracker,
    warning: str,
    graphs: Graphs | None = None,
) -> Tag:
    """
    C{/}: every topic with its depth, message count and rate summed over
    its nsqds (and their graphite graphs, with C{graphs}).
    """
    streamKeys = ("depth", "message_count")
    byTopic: dict[str, dict[str, Any]] = {}
    for record in records:
        summary = byTopic.setdefault(
            record["topic_name"],
            {
                "depth": 0,
                "message_count": 0,
                "paused": False,
                "channels": set(),
                "nodes": [],
            },
        )
        summary["depth"] += record["depth"]
        summary["message_count"] += record["message_count"]
        summary["paused"] = summary["paused"] or record["paused"]
        summary["channels"].update(c["channel_name"] for c in record["channels"])
        summary["nodes"].append(record["node"])
    rows = []
    for topic in topics:
        found = byTopic.get(topic)
        if found is None:
            rows.append(
                tags.tr(
                    tags.td(
                        tags.a(topic, href=paths.topic(topic), **_tid("topic-link"))
                    ),
                    _cell("depth", 0),
                    _cell("message-count", 0),
                    _rateCell(None),
                    _cell("channel-count", 0),
                    _graphCell(graphs, "*", topic, "", streamKeys),
                    **_tid("topic-row", topic=topic),
                )
            )
            continue
        summary = found
        rows.append(
            tags.tr(
                tags.td(
                    tags.a(topic, href=paths.topic(topic), **_tid("topic-link")),
                    " ",
                    _paused(summary["paused"]),
                ),
                _cell("depth", summary["depth"]),
                _cell("message-count", summary["message_count"]),
                _rateCell(rates.total(("topic", topic, n) for n in summary["nodes"])),
                _cell("channel-count", len(summary["channels"])),
                _graphCell(graphs, "*", topic, "", streamKeys),
                **_tid("topic-row", topic=topic),
            )
        )
    table: Tag = _table(
        "topics-table",
        [
            tags.th("Topic"),
            _num("Depth"),
            _num("Messages"),
            _num("Rate"),
            _num("Channels"),
            _graphHead(graphs),
        ],
        rows,
        "No topics yet.",
        "no-topics",
    )
    return layout(
        paths,
        "streams",
        "Streams",
        flash,
        tags.h1("Streams"),
        _live(paths.url(), _warning(warning), table, rows=len(rows)),
    )


# -- topic -------------------------------------------------------------------


def _producerRows(topic: str, clients: Iterable[JSON]) -> list[Tag]:
    rows = []
    for client in clients:
        count = next(
            (
                p.get("count", 0)
                for p in client.get("pub_counts") or []
                if p.get("topic") == topic
            ),
            None,
        )
        if count is None:
            continue
        name = str(client.get("hostname") or client.get("remote_address") or "")
        rows.append(
            tags.tr(
                tags.td(str(client.get("hostname", "")), **_tid("producer-hostname")),
                tags.td(
                    str(client.get("remote_address", "")), **_tid("producer-address")
                ),
                tags.td(str(client["node"]), **_tid("producer-node")),
                _cell("producer-pub-count", int(count)),
                tags.td(
                    str(client.get("user_agent", "")), **_tid("producer-user-agent")
                ),
                **_tid("producer-row", node=str(client["node"]), client=name),
            )
        )
    return rows


def topicPage(
    paths: Paths,
    flash: Flash,
    topic: str,
    total: JSON,
    clients: Sequence[JSON],
    rates: RateTracker,
    warning: str,
    graphs: Graphs | None = None,
    admin: bool = True,
) -> Tag:
    """
    C{/topics/:topic}: the topic's actions, its nsqds (with per-node
    pause/empty), its channels, its publishing connections; the graphite
    graphs with C{graphs}.

    @param admin: whether the reader may act (C{--admin-user}): without,
        no action buttons.
    """
    topicKeys = ("depth", "message_count")
    action = paths.topicAction(topic)
    thing = _thing(topic)
    nodes = total["nodes"]
    nodeNames = [n["node"] for n in nodes]
    nodeRows = [
        tags.tr(
            _nodeCell(paths, n),
            _cell("depth", n["depth"]),
            _cell("memory-depth", n["memory_depth"]),
            _cell("backend-depth", n["backend_depth"]),
            _cell("message-count", n["message_count"]),
            _rateCell(rates.rate(("topic", topic, n["node"]))),
            _graphCell(graphs, n["node"], topic, "", topicKeys),
            _nodeActions(action, thing, n, admin, _metricsLink(n["node"])),
            **_tid("topic-node-row", node=n["node"]),
        )
        for n in nodes
    ]
    totalRow = tags.tr(
        tags.th("Total"),
        _cell("depth", total["depth"]),
        _cell("memory-depth", total["memory_depth"]),
        _cell("backend-depth", total["backend_depth"]),
        _cell("message-count", total["message_count"]),
        _rateCell(rates.total(("topic", topic, n) for n in nodeNames)),
        _graphCell(graphs, "*", topic, "", topicKeys),
        tags.td(),
        class_="total",
        **_tid("topic-total-row"),
    )
    channelRows = [
        tags.tr(
            tags.td(
                tags.a(
                    c["channel_name"],
                    href=paths.channel(topic, c["channel_name"]),
                    **_tid("channel-link"),
                ),
                " ",
                _paused(c["paused"]),
            ),
            _cell("depth", c["depth"]),
            _cell("in-flight", c["in_flight_count"]),
            _cell("deferred", c["deferred_count"]),
            _cell("requeue", c["requeue_count"]),
            _cell("timeout", c["timeout_count"]),
            _cell("message-count", c["message_count"]),
            _rateCell(
                rates.total(
                    ("channel", topic, c["channel_name"], n["node"]) for n in c["nodes"]
                )
            ),
            _cell("client-count", c["client_count"]),
            **_tid("channel-row", channel=c["channel_name"]),
        )
        for c in total["channels"]
    ]
    producerRows = _producerRows(topic, clients)
    return layout(
        paths,
        "topic",
        f"Topic {topic}",
        flash,
        *_pageHeader(paths, topic, "", total["paused"], admin),
        _live(
            paths.topic(topic),
            _warning(warning),
            tags.h2("Nodes"),
            _table(
                "topic-nodes-table",
                [
                    tags.th("nsqd"),
                    _num("Depth"),
                    _num("Memory"),
                    _num("Disk"),
                    _num("Messages"),
                    _num("Rate"),
                    _graphHead(graphs),
                    tags.th(""),
                ],
                [nodeRows, totalRow],
            ),
            _latencyTable(total, nodes),
            tags.h2("Channels"),
            _table(
                "channels-table",
                [
                    tags.th("Channel"),
                    _num("Depth"),
                    _num("In flight"),
                    _num("Deferred"),
                    _num("Requeued"),
                    _num("Timed out"),
                    _num("Messages"),
                    _num("Rate"),
                    _num("Clients"),
                ],
                channelRows,
                "No channels.",
                "no-channels",
            ),
            tags.h2("Producers"),
            _table(
                "producers-table",
                [
                    tags.th("Hostname"),
                    tags.th("Address"),
                    tags.th("nsqd"),
                    _num("Published"),
                    tags.th("User agent"),
                ],
                producerRows,
                "No connection publishes to this topic.",
                "no-producers",
            ),
            rows=len(nodeRows) + len(channelRows) + len(producerRows),
        ),
    )


# -- clients (the channel and node pages) ------------------------------------


def formatDuration(seconds: float) -> str:
    """
    How long a client has been connected, as Go nsqadmin writes it:
    C{45s}, C{2m5s}, C{1h0m3s}.
    """
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return f"{text}{secs}s"


def _showClientID(client: JSON) -> bool:
    # As Go's pages: the client ID only when it says more than the
    # hostname (go-nsq's default ID is the short hostname).
    clientID = str(client.get("client_id", "")).lower()
    hostname = str(client.get("hostname", "")).lower()
    return clientID not in (hostname, hostname.split(".")[0])


def _clientAttributes(client: JSON) -> list[Any]:
    """
    A consumer connection's badges, as Go's channel and node pages:
    sampling, TLS (its details in the title), deflate, snappy, and the
    auth server's identity.
    """
    badges: list[Any] = []

    def badge(text: str, testid: str, title: str = "", child: Any = None) -> None:
        attributes = _tid(testid)
        if title:
            attributes["title"] = title
        badges.extend([tags.span(child or text, class_="badge", **attributes), " "])

    sampleRate = int(client.get("sample_rate") or 0)
    if sampleRate:
        badge(f"Sampled {sampleRate}%", "client-sampled")
    if client.get("tls"):
        title = ""
        if client.get("tls_version"):
            title = " ".join(
                [
                    str(client.get("tls_version", "")),
                    str(client.get("tls_cipher_suite", "")),
                    str(client.get("tls_negotiated_protocol", "")),
                    "mutual:"
                    + str(
                        bool(client.get("tls_negotiated_protocol_is_mutual"))
                    ).lower(),
                ]
            )
        badge("TLS", "client-tls", title)
    if client.get("deflate"):
        badge("Deflate", "client-deflate")
    if client.get("snappy"):
        badge("Snappy", "client-snappy")
    if client.get("authed"):
        identity = str(client.get("auth_identity") or "")
        title = f"Authed Identity:{identity}" if identity else "Authed"
        url = str(client.get("auth_identity_url") or "")
        text = identity or "Authed"
        # The auth server's URL, linked only when it is a web address (a
        # javascript: URL from the network must not become a link).
        child = (
            tags.a(text, href=url)
            if url.lower().startswith(("http://", "https://"))
            else None
        )
        badge(text, "client-authed", title, child)
    return badges[:-1]


def _clientRows(
    paths: Paths, clients: Iterable[JSON], now: float, showNode: bool
) -> list[Tag]:
    """
    One row per consumer connection: the channel page's (over every
    nsqd, so with an nsqd column) and the node page's (without).

    @param now: the time (seconds since the epoch) the connections'
        durations are counted to (0: not known, shown as a dash).
    """
    rows = []
    for c in clients:
        node = str(c.get("node", ""))
        host: list[Any] = [
            tags.span(str(c.get("hostname", "")), **_tid("client-hostname"))
        ]
        if _showClientID(c):
            host += [
                " (",
                tags.span(str(c.get("client_id", "")), **_tid("client-id")),
                ")",
            ]
        connectTime = c.get("connect_ts")
        connected = (
            formatDuration(now - float(connectTime))
            if now and connectTime
            else "\N{EN DASH}"
        )
        rows.append(
            tags.tr(
                tags.td(host),
                tags.td(str(c.get("remote_address", "")), **_tid("client-address")),
                tags.td(str(c.get("version", "")), **_tid("client-version")),
                (
                    tags.td(tags.a(node, href=paths.node(node), **_tid("node-link")))
                    if showNode
                    else ""
                ),
                tags.td(str(c.get("user_agent", "")), **_tid("client-user-agent")),
                tags.td(_clientAttributes(c), **_tid("client-attributes")),
                _cell("client-in-flight", int(c.get("in_flight_count", 0))),
                _cell("client-ready", int(c.get("ready_count", 0))),
                _cell("client-finish-count", int(c.get("finish_count", 0))),
                _cell("client-requeue-count", int(c.get("requeue_count", 0))),
                _cell("client-message-count", int(c.get("message_count", 0))),
                tags.td(connected, class_="num", **_tid("client-connected")),
                **_tid(
                    "client-row",
                    **{"client-id": str(c.get("client_id", "")), "node": node},
                ),
            )
        )
    return rows


#: What the channel and node pages say of a channel without consumers (Go's
#: words).
NO_CLIENTS = "No clients connected to this channel."


def _clientsTable(testid: str, rows: list[Tag], showNode: bool) -> Tag:
    """
    L{_clientRows}' rows under their column heads, or a sentence saying
    none is connected (C{no-clients}).
    """
    head = [
        tags.th("Client host"),
        tags.th("Address"),
        tags.th("Protocol"),
        tags.th("nsqd") if showNode else "",
        tags.th("User agent"),
        tags.th("Attributes"),
        _num("In flight"),
        _num("Ready"),
        _num("Finished"),
        _num("Requeued"),
        _num("Messages"),
        _num("Connected"),
    ]
    return _table(
        testid,
        head,
        rows,
        NO_CLIENTS,
        "no-clients",
    )


# -- channel -----------------------------------------------------------------


def _channelCells(c: JSON) -> list[Tag]:
    return [
        _cell("depth", c["depth"]),
        _cell("memory-depth", c["memory_depth"]),
        _cell("backend-depth", c["backend_depth"]),
        _cell("in-flight", c["in_flight_count"]),
        _cell("deferred", c["deferred_count"]),
        _cell("requeue", c["requeue_count"]),
        _cell("timeout", c["timeout_count"]),
        _cell("message-count", c["message_count"]),
    ]


def channelPage(
    paths: Paths,
    flash: Flash,
    topic: str,
    channel: str,
    total: JSON,
    rates: RateTracker,
    warning: str,
    graphs: Graphs | None = None,
    admin: bool = True,
    now: float = 0.0,
) -> Tag:
    """
    C{/topics/:topic/:channel}: the channel's actions, its nsqds (with
    per-node pause/empty) and its consumer connections; the graphite
    graphs with C{graphs}.

    @param admin: whether the reader may act (C{--admin-user}): without,
        no action buttons.
    @param now: the time (seconds since the epoch), for how long each
        client has been connected.
    """
    channelKeys = ("depth", "in_flight_count", "message_count")
    action = paths.topicAction(topic, channel)
    thing = _thing(topic, channel)
    nodeRows = [
        tags.tr(
            _nodeCell(paths, n),
            *_channelCells(n),
            _rateCell(rates.rate(("channel", topic, channel, n["node"]))),
            _cell("client-count", n["client_count"]),
            _graphCell(graphs, n["node"], topic, channel, channelKeys),
            _nodeActions(action, thing, n, admin),
            **_tid("channel-node-row", node=n["node"]),
        )
        for n in total["nodes"]
    ]
    totalRow = tags.tr(
        tags.th("Total"),
        *_channelCells(total),
        _rateCell(
            rates.total(("channel", topic, channel, n["node"]) for n in total["nodes"])
        ),
        _cell("client-count", total["client_count"]),
        _graphCell(graphs, "*", topic, channel, channelKeys),
        tags.td(),
        class_="total",
        **_tid("channel-total-row"),
    )
    clientRows = _clientRows(paths, total["clients"], now, showNode=True)
    head = [
        tags.th("nsqd"),
        _num("Depth"),
        _num("Memory"),
        _num("Disk"),
        _num("In flight"),
        _num("Deferred"),
        _num("Requeued"),
        _num("Timed out"),
        _num("Messages"),
        _num("Rate"),
        _num("Clients"),
        _graphHead(graphs),
        tags.th(""),
    ]
    return layout(
        paths,
        "channel",
        f"Channel {topic}/{channel}",
        flash,
        *_pageHeader(paths, topic, channel, total["paused"], admin),
        _live(
            paths.channel(topic, channel),
            _warning(warning),
            tags.h2("Nodes"),
            _table("channel-nodes-table", head, [nodeRows, totalRow]),
            _latencyTable(total, total["nodes"]),
            tags.h2("Clients"),
            _clientsTable("clients-table", clientRows, showNode=True),
            rows=len(nodeRows) + len(clientRows),
        ),
    )


# -- nodes -------------------------------------------------------------------


def nodesPage(
    paths: Paths, flash: Flash, producers: Sequence[JSON], warning: str
) -> Tag:
    """
    C{/nodes}: every nsqd, with a link to its page and its C{/metrics}.
    """
    rows = []
    for p in producers:
        node = producerHTTPAddress(p)
        outOfDate: Tag | str = ""
        if p.get("out_of_date"):
            outOfDate = tags.span(
                "out of date", class_="badge warn", **_tid("out-of-date")
            )
        rows.append(
            tags.tr(
                tags.td(
                    tags.a(
                        str(p["hostname"]), href=paths.node(node), **_tid("node-link")
                    ),
                    **_tid("node-hostname"),
                ),
                tags.td(node),
                tags.td(str(p.get("tcp_port", ""))),
                tags.td(str(p["version"]), " ", outOfDate, **_tid("node-version")),
                tags.td(
                    str(len(p.get("remote_addresses") or [])),
                    class_="num",
                    title=", ".join(p.get("remote_addresses") or []),
                    **_tid("node-lookupd-count"),
                ),
                _cell("node-topic-count", len(p.get("topics") or [])),
                tags.td(_metricsLink(node)),
                **_tid("node-row", node=node),
            )
        )
    table: Tag = _table(
        "nodes-table",
        [
            tags.th("Hostname"),
            tags.th("HTTP address"),
            tags.th("TCP port"),
            tags.th("Version"),
            _num("nsqlookupds"),
            _num("Topics"),
            tags.th("Prometheus"),
        ],
        rows,
        "No nsqd found.",
        "no-nodes",
    )
    return layout(
        paths,
        "nodes",
        "Nodes",
        flash,
        tags.h1("Nodes"),
        _live(paths.url("nodes"), _warning(warning), table),
    )


#: How many of an nsqd's topics its page shows at once (with their
#: channels): an nsqd of 500 topics of 5 channels is 3,000 rows, 1.4 MB
#: of HTML, re-rendered at every refresh.
NODE_PAGE_TOPICS = 100


class Pages:
    """
    Which part of C{count} items a page shows: page C{number} of
    C{pages}, items C{start} to C{stop}; or all of them.
    """

    def __init__(self, count: int, asked: str, size: int) -> None:
        self.count = count
        self.pages = max(1, -(-count // size))
        self.showAll = asked == "all"
        if self.showAll:
            self.number, self.start, self.stop = 0, 0, count
            return
        try:
            number = int(asked)
        except ValueError:
            number = 1
        # A page that no longer exists (topics deleted meanwhile) shows
        # the last one, so a live refresh never empties the page.
        self.number = min(max(number, 1), self.pages)
        self.start = (self.number - 1) * size
        self.stop = min(self.start + size, count)

    @property
    def query(self) -> str:
        """
        The page's query string (C{""} for the first page).
        """
        if self.showAll:
            return "?page=all"
        return "" if self.number == 1 else f"?page={self.number}"

    def numbers(self) -> list[int]:
        """
        The page numbers linked: the first, the last and the two either
        side of this one (0 stands for a gap).
        """
        wanted = {1, self.pages}
        current = self.number or 1
        wanted.update(range(max(1, current - 2), min(self.pages, current + 2) + 1))
        result: list[int] = []
        for n in sorted(wanted):
            if result and n > result[-1] + 1:
                result.append(0)
            result.append(n)
        return result


def _pager(url: str, pages: Pages, what: str) -> Tag | str:
    """
    Links to the other pages of a long list (and to all of it at once);
    plain links, so they work without JavaScript.
    """
    if pages.pages == 1:
        return ""
    if pages.showAll:
        shown = f"All {pages.count:,} {what}"
    else:
        first, last = f"{pages.start + 1:,}", f"{pages.stop:,}"
        shown = f"{what.capitalize()} {first}\N{EN DASH}{last} of {pages.count:,}"
    links: list[Any] = [tags.span(shown, **_tid("pager-shown")), " "]

    def link(text: str, number: int, testid: str) -> Tag:
        query = "" if number == 1 else f"?page={number}"
        return tags.a(text, href=url + query, **_tid(testid, number=str(number)))

    current = pages.number
    if current > 1:
        links += [
            link("\N{LEFTWARDS ARROW} previous", current - 1, "pager-previous"),
            " ",
        ]
    for n in pages.numbers():
        if n == 0:
            links.append("\N{HORIZONTAL ELLIPSIS} ")
        elif n == current:
            links += [tags.strong(str(n), **_tid("pager-current")), " "]
        else:
            links += [link(str(n), n, "pager-link"), " "]
    if current and current < pages.pages:
        links += [link("next \N{RIGHTWARDS ARROW}", current + 1, "pager-next"), " "]
    if not pages.showAll:
        links.append(tags.a("show all", href=url + "?page=all", **_tid("pager-all")))
    return tags.nav(links, class_="pager", **_tid("pager"))


def nodePage(
    paths: Paths,
    flash: Flash,
    node: str,
    producer: JSON,
    records: Sequence[JSON],
    rates: RateTracker,
    warning: str,
    canTombstone: bool = True,
    admin: bool = True,
    page: str = "",
    now: float = 0.0,
) -> Tag:
    """
    C{/nodes/:node}: one nsqd's topics and channels, L{NODE_PAGE_TOPICS}
    topics at a time, and each channel's clients (as Go's node page);
    tombstoning a topic of it.

    @param canTombstone: whether nsqadmin reads nsqlookupds (tombstones
        are theirs: without, no button).
    @param admin: whether the reader may act (C{--admin-user}): without,
        no tombstone buttons.
    @param page: the C{page} asked (C{?page=}): a number from 1, or
        C{all}; anything else is the first page.
    @param now: the time (seconds since the epoch), for how long each
        client has been connected.
    """
    tombstoned = {
        t["topic"] for t in producer.get("topics") or [] if t.get("tombstoned")
    }
    action = paths.nodeAction(node)
    pages = Pages(len(records), page, NODE_PAGE_TOPICS)
    rows: list[Tag] = []
    clientCount = 0
    for r in records[pages.start : pages.stop]:
        topic = r["topic_name"]
        badge: Tag | str = ""
        if topic in tombstoned:
            badge = tags.span(
                "tombstoned", class_="badge warn", **_tid("tombstoned-badge")
            )
        rows.append(
            tags.tr(
                tags.td(
                    tags.a(topic, href=paths.topic(topic), **_tid("topic-link")),
                    " ",
                    _paused(r["paused"]),
                    " ",
                    badge,
                ),
                tags.td(""),
                _cell("depth", r["depth"]),
                tags.td(""),
                _cell("message-count", r["message_count"]),
                _rateCell(rates.rate(("topic", topic, node))),
                tags.td(""),
                tags.td(
                    actionForm(
                        action,
                        "action-tombstone",
                        "Tombstone",
                        f"Really tombstone topic {topic} on {node}?",
                        {"action": "tombstone", "topic": topic},
                        danger=True,
                    )
                    if canTombstone and admin
                    else "",
                    class_="cell-action",
                ),
                class_="topic",
                **_tid("node-topic-row", topic=topic),
            )
        )
        for c in r["channels"]:
            rows.append(
                tags.tr(
                    tags.td(""),
                    tags.td(
                        tags.a(
                            c["channel_name"],
                            href=paths.channel(topic, c["channel_name"]),
                        )
                    ),
                    _cell("depth", c["depth"]),
                    _cell("in-flight", c["in_flight_count"]),
                    _cell("message-count", c["message_count"]),
                    _rateCell(rates.rate(("channel", topic, c["channel_name"], node))),
                    _cell("client-count", c["client_count"]),
                    tags.td(""),
                    **_tid("node-channel-row", topic=topic, channel=c["channel_name"]),
                )
            )
            # Its clients (nsqd's /stats gives them; null when a caller
            # asked without), in a table of their own under the channel.
            clientRows = _clientRows(paths, c["clients"] or (), now, showNode=False)
            # The client tables' rows count for the refresh interval; a
            # channel's "no clients" sentence does not (a cheap row).
            clientCount += len(clientRows) - 1
            cells: list[Tag]
            if clientRows:
                cells = [
                    tags.td(""),
                    tags.td(
                        _clientsTable("node-clients-table", clientRows, showNode=False),
                        colspan="7",
                        class_="clients",
                    ),
                ]
            else:
                # The usual case at scale (one per channel shown): kept
                # short, a single cell.
                cells = [
                    tags.td(
                        NO_CLIENTS, colspan="8", class_="empty nested", **_tid("no-clients")
                    )
                ]
            rows.append(
                tags.tr(
                    cells,
                    **_tid(
                        "node-channel-clients", topic=topic, channel=c["channel_name"]
                    ),
                )
            )
    # The totals are the nsqd's, whichever page is shown.
    totalMessages = sum(r["message_count"] for r in records)
    totalClients = sum(c["client_count"] for r in records for c in r["channels"])
    url = paths.node(node)
    return layout(
        paths,
        "node",
        f"Node {node}",
        flash,
        tags.h1("nsqd ", tags.span(node, class_="name"), **_tid("page-title")),
        tags.p(
            f"{producer.get('hostname', '')} · version {producer.get('version', '')} · ",
            _metricsLink(node),
            class_="meta",
        ),
        _live(
            # The refresh stays on the page shown.
            url + pages.query,
            _warning(warning),
            tags.p(
                "Messages: ",
                tags.strong(f"{totalMessages:,}", **_tid("node-total-messages")),
                " · clients: ",
                tags.strong(f"{totalClients:,}", **_tid("node-total-clients")),
            ),
            _pager(url, pages, "topics"),
            _table(
                "node-topics-table",
                [
                    tags.th("Topic"),
                    tags.th("Channel"),
                    _num("Depth"),
                    _num("In flight"),
                    _num("Messages"),
                    _num("Rate"),
                    _num("Clients"),
                    tags.th(""),
                ],
                rows,
                "This nsqd has no topic.",
                "no-topics",
            ),
            rows=len(rows) + clientCount,
        ),
    )


# -- counter -----------------------------------------------------------------


def counterPage(
    paths: Paths, flash: Flash, total: int, rate: float | None, warning: str
) -> Tag:
    """
    C{/counter}: the messages every channel of every nsqd has received,
    updated live.
    """
    rateText = "\N{EN DASH}" if rate is None else f"{rate:,.1f} msgs/s"
    return layout(
        paths,
        "counter",
        "Counter",
        flash,
        tags.h1("Messages"),
        _live(
            paths.url("counter"),
            _warning(warning),
            tags.p(
                f"{total:,}",
                class_="counter",
                **_tid("counter-total", count=str(total)),
            ),
            tags.p(
                rateText,
                class_="counter-rate",
                **_tid("counter-rate", rate="" if rate is None else f"{rate:.1f}"),
            ),
            tags.p("messages delivered to channels, over every nsqd", class_="meta"),
        ),
    )


# -- lookup ------------------------------------------------------------------


def lookupPage(
    paths: Paths,
    flash: Flash,
    inactive: dict[str, list[str]],
    hasLookupds: bool,
    warning: str,
    admin: bool = True,
) -> Tag:
    """
    C{/lookup}: the topics nsqlookupd knows that no nsqd has, and the form
    that creates a topic (and channel).

    @param admin: whether the reader may act (C{--admin-user}): without,
        no form, and a sentence saying why.
    """
    rows = [
        tags.li(
            tags.a(topic, href=paths.topic(topic), **_tid("topic-link")),
            tags.ul(
                [tags.li(c, **_tid("inactive-channel", channel=c)) for c in channels]
            )
            if channels
            else "",
            **_tid("inactive-topic-row", topic=topic),
        )
        for topic, channels in sorted(inactive.items())
    ]
    form = tags.form(
        tags.label(
            "Topic ",
            tags.input(
                type="text",
                name="topic",
                required="required",
                **_tid("create-topic-input"),
            ),
        ),
        tags.label(
            "Channel (optional) ",
            tags.input(type="text", name="channel", **_tid("create-channel-input")),
        ),
        tags.button("Create", type="submit", **_tid("create-submit")),
        method="post",
        action=paths.url("actions", "create"),
        class_="create",
        **_tid("create-topic-form"),
    )
    note: Tag | str = ""
    create: list[Tag] = [tags.h2("Create a topic or channel"), form]
    if not admin:
        create = []
        note = tags.p(
            "Creating topics and channels is for nsqadmin's admins "
            "(--admin-user, named by the --acl-http-header header).",
            class_="empty",
            **_tid("not-admin"),
        )
    elif not hasLookupds:
        note = tags.p(
            "nsqadmin reads no nsqlookupd (--lookupd-http-address): topics are created "
            "on nsqlookupd, so there is nothing to create them on.",
            class_="warning",
            **_tid("no-lookupd"),
        )
    return layout(
        paths,
        "lookup",
        "Lookup",
        flash,
        tags.h1("Lookup"),
        note,
        *create,
        tags.h2("Inactive topics"),
        _warning(warning),
        tags.ul(rows, class_="inactive")
        if rows
        else tags.p("No inactive topics.", class_="empty", **_tid("no-inactive")),
    )


# -- confirmation and errors -------------------------------------------------


def confirmPage(
    paths: Paths,
    question: str,
    actionURL: str,
    fields: dict[str, str],
    backURL: str,
) -> Tag:
    """
    The confirmation that a form without JavaScript leads to: C{question}
    and a button that POSTs the action.
    """
    return layout(
        paths,
        "confirm",
        "Confirm",
        None,
        tags.h1("Confirm"),
        tags.p(question, **_tid("confirm-message")),
        tags.form(
            [tags.input(type="hidden", name=k, value=v) for k, v in fields.items()],
            tags.button(
                "Yes", type="submit", class_="danger", **_tid("confirm-button")
            ),
            " ",
            tags.a("Cancel", href=backURL, **_tid("cancel-link")),
            method="post",
            action=actionURL,
            class_="confirm",
        ),
    )


def errorPage(
    paths: Paths,
    status: int,
    message: str,
    backURL: str = "",
    liveURL: str = "",
    whole: bool = True,
) -> Tag:
    """
    An HTML error page: C{message} is Go's error string (C{FORBIDDEN},
    C{UPSTREAM_ERROR: ...}).

    @param liveURL: for a page that failed to read the cluster, its URL:
        the error then sits in the page's C{#live} part, which keeps
        polling, so the page comes back by itself once the cluster
        answers (and a failed refresh of a good page shows the error).
    @param whole: the page is loaded whole, not a good page's refresh: it
        is then reloaded whole once the cluster answers, where a good
        page's refresh just patches its live part back.
    """
    error = tags.p(message, class_="error", **_tid("error"))
    return layout(
        paths,
        "error",
        f"Error {status}",
        None,
        tags.h1(f"Error {status}"),
        _live(liveURL, error, recovering=whole) if liveURL else error,
        tags.p(tags.a("Back", href=backURL or paths.url(), **_tid("cancel-link"))),
    )
