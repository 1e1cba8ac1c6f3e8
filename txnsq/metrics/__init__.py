# -*- test-case-name: tests.metrics -*-
"""
Metrics exporters shared by the daemons.

Each exporter keeps what it computes apart from how it is sent or served,
as the rest of txnsq does: statsd's lines and datagrams are built by
L{txnsq.metrics.statsd}, which imports no Twisted, and pushed over UDP by
L{txnsq.metrics.statsdservice}, which nsqd's service starts; Prometheus'
pages are rendered by L{txnsq.metrics.prometheus}, which the daemons'
C{GET /metrics} routes serve.  The daemons import these modules, never
the other way round (they read the daemons through structural types).
This package imports none of its modules, so importing a pure one never
pulls in Twisted.
"""
