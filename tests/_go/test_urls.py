"""
L{txnsq._go.urls}: Go's C{url.Parse} checks, as go-nsq applies them to an
nsqlookupd HTTP address.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txnsq._go.urls import parseURLHost, urlPort


class ParseURLHostTests(SynchronousTestCase):
    """
    L{parseURLHost} takes what Go takes and refuses the rest with Go's
    error.
    """

    def test_hosts(self) -> None:
        """
        The host comes back unescaped, with its port; a URL without an
        authority has none.
        """
        cases = {
            "http://127.0.0.1:4161": "127.0.0.1:4161",
            "http://127.0.0.1:4161/x?y=1#z": "127.0.0.1:4161",
            "HTTP://user:pw@h:1/": "h:1",
            "http://[::1]:4161": "[::1]:4161",
            "http://[fe80::1%25eth0]:1": "[fe80::1%eth0]:1",
            "http://::1:4161": "::1:4161",
            "http://h%C3%A9:1": "h\xc3\xa9:1",
            "http:///path": "",
            "mailto:x": "",
        }
        for url, host in cases.items():
            self.assertEqual(parseURLHost(url), host, url)

    def test_errors(self) -> None:
        """
        Go's texts, as Go's C{nsq_tail} 1.3.0 prints them for
        C{--lookupd-http-address} (after C{http://} is put first).
        """
        cases = {
            "http://a b:1": 'parse "http://a b:1": invalid character " " in host name',
            "http://h{:1": 'parse "http://h{:1": invalid character "{" in host name',
            "http://us er@h:1": 'parse "http://us er@h:1": net/url: invalid userinfo',
            "http://h:1#%zz": 'parse "http://h:1#%zz": invalid URL escape "%zz"',
            "http://[::1%zz]:1": 'parse "http://[::1%zz]:1": invalid URL escape "%zz"',
            "http://h%41:1": 'parse "http://h%41:1": invalid URL escape "%41"',
            "http://h:1/%zz": 'parse "http://h:1/%zz": invalid URL escape "%zz"',
            "1http://h:1": (
                'parse "1http://h:1": first path segment in URL cannot contain colon'
            ),
            "://h:1": 'parse "://h:1": missing protocol scheme',
            "http://h\x01:1": (
                'parse "http://h\\x01:1": net/url: invalid control character in URL'
            ),
            "http://[::1": "parse \"http://[::1\": missing ']' in host",
            "http://h:+1": 'parse "http://h:+1": invalid port ":+1" after host',
            "http://127.0.0.1:abc": (
                'parse "http://127.0.0.1:abc": invalid port ":abc" after host'
            ),
            "http://[::1]x": 'parse "http://[::1]x": invalid port "x" after host',
        }
        for url, error in cases.items():
            with self.assertRaises(ValueError) as caught:
                parseURLHost(url)
            self.assertEqual(str(caught.exception), error, url)

    def test_port(self) -> None:
        """
        L{urlPort} is Go's C{URL.Port}: empty without digits after the
        last colon.
        """
        cases = {
            "h:1": "1",
            "[::1]:4161": "4161",
            "::1:4161": "4161",
            "h": "",
            "h:": "",
            "[::1]": "",
            "h:x": "",
        }
        for host, port in cases.items():
            self.assertEqual(urlPort(host), port, host)
