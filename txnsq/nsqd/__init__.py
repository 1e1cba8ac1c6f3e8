# -*- test-case-name: tests.nsqd -*-
"""
nsqd: receives, queues, requeues and delivers messages.

The pure broker lives in L{txnsq.nsqd.state}; the rest of this package adapts
it to Twisted (TCP protocol, HTTP API, services and the twistd plugin).
"""
