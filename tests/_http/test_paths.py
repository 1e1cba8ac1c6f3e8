"""
Tests for L{txnsq._http._paths}: cleaning, escaping and redirect bodies.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txnsq._http._paths import (
    cleanPath,
    hexEscapeNonASCII,
    redirectPage,
    redirectURL,
)


class PathTests(SynchronousTestCase):
    """
    Paths as httprouter and Go's C{net/http} handle them.
    """

    def test_cleanPath(self) -> None:
        """
        L{cleanPath} agrees with httprouter's own test table.
        """
        cases = {
            "": "/",
            "/": "/",
            "//": "/",
            "abc": "/abc",
            "/abc/": "/abc/",
            "//abc//": "/abc/",
            ".": "/",
            "./": "/",
            "/abc/./def": "/abc/def",
            "/abc/.": "/abc/",
            "..": "/",
            "../../abc": "/abc",
            "/abc/def/ghi/../jkl": "/abc/def/jkl",
            "/abc/def/..": "/abc",
            "/abc/def/../..": "/",
            "/abc/def/../../../ghi/jkl/../../../mno": "/mno",
            "abc/../../././../def": "/def",
        }
        for path, cleaned in cases.items():
            self.assertEqual(cleanPath(path), cleaned, path)

    def test_redirectURL(self) -> None:
        """
        The redirect target is the path escaped as Go's C{URL.String} does,
        cleaned by C{http.Redirect} (keeping a trailing slash), then the
        raw query.
        """
        self.assertEqual(redirectURL("/config/a!b", b"?x=1"), b"/config/a%21b?x=1")
        self.assertEqual(redirectURL("/debug/pprof/", b""), b"/debug/pprof/")
        self.assertEqual(redirectURL("/a/../b", b""), b"/b")
        self.assertEqual(redirectURL("/caf\xe9", b""), b"/caf%C3%A9")

    def test_hexEscapeNonASCII(self) -> None:
        """
        Bytes above 0x7f become lowercase C{%xx}; the rest are kept.
        """
        self.assertEqual(hexEscapeNonASCII(b"/p?q=\xc3\xa9 %41"), b"/p?q=%c3%a9 %41")

    def test_redirectPage(self) -> None:
        """
        The GET body links to the HTML-escaped target with the status text.
        """
        self.assertEqual(
            redirectPage(b"/a?b=<'&\">", 301),
            b'<a href="/a?b=&lt;&#39;&amp;&#34;&gt;">Moved Permanently</a>.\n\n',
        )
        self.assertEqual(
            redirectPage(b"/a", 307), b'<a href="/a">Temporary Redirect</a>.\n\n'
        )
