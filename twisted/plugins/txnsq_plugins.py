"""
twistd plugins for txnsq: C{twistd nsqd}, C{twistd nsqlookupd},
C{twistd nsqadmin} and
C{twistd nsq} (the three in one process).

Kept tiny on purpose: twistd imports every plugin module to list them, so
this names the tap modules and imports nothing else (in particular not the
reactor, which twistd installs after parsing C{-r}).
"""

from twisted.application.service import ServiceMaker

nsqd = ServiceMaker(
    "txnsq nsqd",
    "txnsq.nsqd.tap",
    "An nsqd compatible with Go NSQ 1.3.0: receives, queues and delivers messages.",
    "nsqd",
)

nsqlookupd = ServiceMaker(
    "txnsq nsqlookupd",
    "txnsq.nsqlookupd.tap",
    "An nsqlookupd compatible with Go NSQ 1.3.0: the NSQ directory service.",
    "nsqlookupd",
)

nsqadmin = ServiceMaker(
    "txnsq nsqadmin",
    "txnsq.nsqadmin.tap",
    "An nsqadmin compatible with Go NSQ 1.3.0: its JSON API over the cluster.",
    "nsqadmin",
)

nsq = ServiceMaker(
    "txnsq nsq",
    "txnsq.combined",
    "nsqlookupd, nsqd and nsqadmin (Go NSQ 1.3.0 compatible) in one process.",
    "nsq",
)
