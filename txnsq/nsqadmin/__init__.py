"""
nsqadmin, as Go nsqadmin 1.3.0: a daemon that reads an NSQ cluster over
HTTP (every nsqlookupd's or nsqd's HTTP API) and serves Go's JSON API
over it.  It imports no daemon and not the client: like Go's, it knows
the cluster only through HTTP.

The web UI is not served yet; C{/api/...}, C{/ping} and C{/config} are.
"""
