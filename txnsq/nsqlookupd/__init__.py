# -*- test-case-name: tests.nsqlookupd -*-
"""
nsqlookupd: the directory nsqds register with and consumers query.

nsqds keep a TCP connection open (L{txnsq.nsqlookupd.protocol}) and tell it
which topics and channels they have; clients ask the HTTP API
(L{txnsq.nsqlookupd.http}) which nsqds have a topic.  The state is the pure
L{txnsq.nsqlookupd.registry.RegistrationDB}; L{NSQLookupdService} runs both
listeners.  Importing this package does not import Twisted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from txnsq.nsqlookupd.config import LookupdConfig

if TYPE_CHECKING:
    from txnsq.nsqlookupd.service import NSQLookupdService

__all__ = ["LookupdConfig", "NSQLookupdService"]


def __getattr__(name: str) -> Any:
    # The service needs Twisted; load it only when asked for.
    if name == "NSQLookupdService":
        from txnsq.nsqlookupd.service import NSQLookupdService

        return NSQLookupdService
    raise AttributeError(name)
