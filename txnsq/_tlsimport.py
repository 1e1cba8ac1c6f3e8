# -*- test-case-name: tests.test_tlsimport -*-
"""
Keep the TLS stack out of a daemon that has no TLS configured.

Twisted's TCP module (C{twisted.internet.tcp}, imported with any reactor)
tries to import its TLS support, and through it pyOpenSSL, cryptography
and their OpenSSL libraries: about 12 MB of resident memory, a quarter of
an idle nsqd, loaded whether or not anything uses TLS.  Twisted falls back
to plain TCP without C{startTLS} when pyOpenSSL cannot be imported (its
documented behaviour when pyOpenSSL is not installed).

L{withoutTLS} uses that fallback: it marks pyOpenSSL unavailable for the
process (C{sys.modules["OpenSSL"] = None}, Python's documented way to make
an import fail) before the reactor is imported.  Nothing of Twisted is
changed.  It is called only by the daemons' own entry points, the
C{txnsq} command and the twistd plugins' C{makeService}, and only when the
options configure no TLS at all:

  - C{txnsq nsqd}, C{twistd nsqd}: no C{--tls-cert}, C{--tls-key},
    C{--tls-root-ca-file}, C{--tls-client-auth-policy} or
    C{--tls-required}, and no C{https://} C{--auth-http-address}
    (L{txnsq.nsqd.options.usesTLS});
  - C{txnsq nsqlookupd}, C{twistd nsqlookupd}: always (nsqlookupd has no
    TLS);
  - C{txnsq nsq}, C{twistd nsq}, C{txnsq nsqadmin} and the tools: never
    (the combined daemon's flag table includes nsqadmin's, whose HTTP
    client may talk HTTPS).

It does nothing once Twisted's TCP or TLS modules are imported (under
trial, with C{twistd -r}, or in a program embedding txnsq), since then
the TLS stack is loaded anyway and an import that fails later would only
break code.  In a process where it applied, a client's C{tls_v1} IDENTIFY
gets Go's answer for an nsqd without TLS (C{tls_v1: false}, no upgrade),
exactly as before.
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping
from typing import Any

__all__ = ["TLS_MODULES", "withoutTLS"]

TLS_MODULES = (
    "OpenSSL",
    "twisted.internet.tcp",
    "twisted.internet.ssl",
    "twisted.internet._newtls",
    "twisted.protocols.tls",
)
"""
The modules that, once imported, mean the TLS stack is (or may be) loaded
already: pyOpenSSL itself, and the Twisted modules that import it.
"""


def withoutTLS(modules: MutableMapping[str, Any] | None = None) -> bool:
    """
    Mark pyOpenSSL unavailable for this process, so that the reactor,
    imported next, does without TLS, unless it is too late for that.

    Call it only when nothing in the process will use TLS.

    @param modules: the module table to mark (tests pass their own);
        C{sys.modules} if omitted.
    @return: whether pyOpenSSL is now marked unavailable (also when an
        earlier call marked it); C{False}, with nothing changed, if pyOpenSSL
        or Twisted's TCP or TLS modules are already imported.
    """
    # None is what marks a module unavailable, though typeshed's type for
    # sys.modules does not allow it.
    table: MutableMapping[str, Any] = sys.modules if modules is None else modules
    if "OpenSSL" in table and table["OpenSSL"] is None:
        return True
    if any(name in table for name in TLS_MODULES):
        return False
    table["OpenSSL"] = None
    return True
