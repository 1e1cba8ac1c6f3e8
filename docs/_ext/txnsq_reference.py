"""
Reference pages generated from txnsq's own declarations, so they cannot
drift from the code:

``.. txnsq-flags:: txnsq.nsqd.options.NSQD_FLAGS``
    every flag of a L{txnsq._go.flags.FlagTable}: its name, type, default
    (as the program's ``--help`` prints it), config-file key and help.

``.. txnsq-routes:: txnsq.nsqd.http.NSQDHTTPAPI``
    every HTTP route of a class that declares them, either with
    L{txnsq._http.Routes} (nsqd, nsqlookupd) or with Klein (nsqadmin), with
    the first paragraph of its handler's docstring.

``.. txnsq-news::``
    the changes not released yet: C{towncrier build --draft} over
    C{newsfragments/}, as the next release's C{CHANGES.rst} will have them.

``.. txnsq-markdown:: ../bench/README.md``
    a Markdown file without its title (or, with ``:section: Latest
    figures``, one section of it, subsections included), rendered to HTML: the benchmark figures live in
    C{bench/README.md}, and the performance page shows them from there.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import socket
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles


def _resolve(dotted: str) -> Any:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _literal(text: str) -> str:
    # An inline literal may not start or end with a space, nor hold "``".
    if not text or text != text.strip() or "``" in text:
        return ":code:`" + text.replace("\\", "\\\\").replace("`", "\\`") + "`"
    return "``" + text + "``"


def _markup(text: str) -> str:
    """
    Epytext's inline markup (C{}, L{}, I{}, B{}) as reStructuredText.
    """
    out: list[str] = []
    index = 0
    while index < len(text):
        match = re.compile(r"([CLIBU])\{").search(text, index)
        if match is None:
            out.append(text[index:])
            break
        out.append(text[index : match.start()])
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        inner = text[match.end() : end - 1]
        kind = match.group(1)
        if kind == "L":
            # L{label<target>}: the label; a bare target reads as code.
            inner = re.sub(r"<[^<>]*>$", "", inner).strip()
            out.append(_literal(inner))
        elif kind == "C":
            out.append(_literal(inner))
        elif kind == "I":
            out.append("*" + _markup(inner) + "*")
        elif kind == "B":
            out.append("**" + _markup(inner) + "**")
        else:
            out.append(_markup(inner))
        index = end
    return "".join(out)


def _summary(function: Any) -> str:
    """
    A handler docstring's text before its first epytext field, on one
    line.
    """
    doc = inspect.getdoc(function) or ""
    text = doc.split("\n@", 1)[0]
    return _markup(" ".join(text.split()))


class _Generated(SphinxDirective):
    required_arguments = 1

    def lines(self, target: Any) -> list[str]:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        target = _resolve(self.arguments[0])
        module = importlib.import_module(self.arguments[0].rpartition(".")[0])
        if module.__file__ is not None:
            self.env.note_dependency(module.__file__)
        source = StringList(
            self.lines(target), source=f"<{self.name} {self.arguments[0]}>"
        )
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, source, container)
        return list(container.children)


class FlagsDirective(_Generated):
    """
    Every flag of a flag table, sorted by name as Go's usage sorts them.
    """

    def lines(self, table: Any) -> list[str]:
        hostname = socket.gethostname()
        lines: list[str] = []
        for flag in sorted(table.flags, key=lambda flag: flag.name):
            kind = flag.type.typeName
            head = f"--{flag.name}" + (f"={kind}" if kind else "")
            lines.append(f".. option:: {head}")
            lines.append("")
            lines.append("   " + _markup(flag.usage.replace("\n", " ")))
            facts: list[str] = []
            shown = flag.type.show(flag.default)
            if flag.attribute is not None and hostname and shown == hostname:
                facts.append("Default: the host's name.")
            elif shown != flag.type.zeroText:
                quoted = f'"{shown}"' if flag.type.quoteDefault else shown
                facts.append(f"Default: {_literal(quoted)}.")
            if flag.type.repeatable:
                facts.append("May be given several times.")
            if flag.tomlKey is not None:
                key = flag.tomlKey
                if flag.section:
                    key = f"[{flag.section}] {key}"
                facts.append(f"Config file: {_literal(key)}.")
            if facts:
                lines.append("")
                lines.append("   " + " ".join(facts))
            lines.append("")
        return lines


def _routesOf(api: type) -> list[tuple[list[str], str, Any]]:
    """
    C{(methods, pattern, handler)} for each handler of C{api}, in
    declaration order.
    """
    declared: dict[tuple[str, Any], list[str]] = {}
    routes = vars(api).get("routes")
    if routes is not None and hasattr(routes, "_declared"):
        for entry in routes._declared:
            key = (entry.route.pattern, entry.function)
            declared.setdefault(key, []).append(entry.route.method)
    app = vars(api).get("app")
    if app is not None and hasattr(app, "url_map"):
        for rule in app.url_map.iter_rules():
            function = vars(api).get(rule.endpoint) or app.endpoints[rule.endpoint]
            # werkzeug's <string:name> reads as httprouter's :name.
            pattern = re.sub(r"<(?:[a-z]+:)?([A-Za-z_]+)>", r":\1", rule.rule)
            methods = sorted(m for m in (rule.methods or ()) if m != "HEAD")
            declared.setdefault((pattern, function), []).extend(methods)
    return [(methods, pattern, function) for (pattern, function), methods in declared.items()]


class RoutesDirective(_Generated):
    """
    Every HTTP route of an API class.
    """

    def lines(self, api: Any) -> list[str]:
        lines: list[str] = []
        for methods, pattern, function in _routesOf(api):
            term = f"``{' | '.join(methods)} {pattern}``"
            summary = _summary(function) or "(not described yet)"
            # Handler docstrings start with the request they answer
            # ("C{GET /lookup?topic=}: ..."), which says more than the
            # pattern: make it the term.
            lead = re.match(r"(``[A-Z]+ /[^`]*``(?: or ``[^`]*``)?)(?::\s*|\.?$)", summary)
            if lead is not None and len(methods) == 1:
                term, summary = lead.group(1), summary[lead.end() :] or "-"
            lines.append(term)
            lines.append("   " + summary)
            lines.append("")
        if not lines:
            raise self.error(f"{self.arguments[0]} declares no routes")
        return lines


class MarkdownDirective(SphinxDirective):
    """
    A section of a Markdown file, as HTML.
    """

    required_arguments = 1
    option_spec = {"section": lambda text: (text or "").strip()}

    def run(self) -> list[nodes.Node]:
        from markdown_it import MarkdownIt

        relative, path = self.env.relfn2path(self.arguments[0], self.env.docname)
        self.env.note_dependency(relative)
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        wanted = self.options.get("section")
        if wanted:
            lines = self._section(lines, wanted, path)
        elif lines and lines[0].startswith("# "):
            # The file's title: the page has its own.
            lines = lines[1:]
        # The page's own headings sit above: demote the section's by one.
        text = "\n".join(
            "#" + line if re.match(r"#{1,5} ", line) else line for line in lines
        )
        html = MarkdownIt("commonmark").enable("table").render(text)
        return [nodes.raw("", html, format="html")]

    def _section(self, lines: list[str], wanted: str, path: str) -> list[str]:
        inFence = False
        start = level = None
        for index, line in enumerate(lines):
            if line.startswith("```"):
                inFence = not inFence
            heading = None if inFence else re.match(r"(#+) (.*)", line)
            if heading is None:
                continue
            depth = len(heading.group(1))
            if start is None:
                if heading.group(2).strip() == wanted:
                    start, level = index + 1, depth
            elif level is not None and depth <= level:
                return lines[start:index]
        if start is None:
            raise self.error(f"no section {wanted!r} in {path}")
        return lines[start:]


class NewsDirective(SphinxDirective):
    """
    The unreleased changes, from towncrier's draft.
    """

    def run(self) -> list[nodes.Node]:
        import subprocess
        import sys

        root = os.path.dirname(self.env.srcdir)
        fragments = os.path.join(root, "newsfragments")
        for name in os.listdir(fragments):
            self.env.note_dependency(os.path.join(fragments, name))
        done = subprocess.run(
            [sys.executable, "-m", "towncrier", "build", "--draft", "--version", "next"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise self.error(f"towncrier build --draft failed: {done.stderr}")
        # The draft is on stdout (towncrier's progress on stderr).
        lines = done.stdout.strip("\n").splitlines()
        # The draft's title names a version and a date: this is neither yet.
        if len(lines) > 1 and lines[0].startswith("txnsq next"):
            lines[:2] = ["Not released yet", "=" * len("Not released yet")]
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(
            self.state, StringList(lines, source="<towncrier --draft>"), container
        )
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    """
    Register the directives.
    """
    app.add_directive("txnsq-flags", FlagsDirective)
    app.add_directive("txnsq-routes", RoutesDirective)
    app.add_directive("txnsq-markdown", MarkdownDirective)
    app.add_directive("txnsq-news", NewsDirective)
    return {"parallel_read_safe": True, "version": "1"}
