# -*- test-case-name: tests -*-
"""
txnsq: the NSQ realtime distributed messaging platform on Twisted.

nsqd and nsqlookupd daemons wire-compatible with Go NSQ 1.3.0, and a
Deferred-based client.  Importing this package does not import Twisted.
"""

from txnsq._version import __version__

#: The NSQ release whose protocol txnsq speaks.  Clients gate features on
#: this value, so it is the NSQ version, not txnsq's own.
NSQ_VERSION = "1.3.0"

__all__ = ["NSQ_VERSION", "__version__"]
