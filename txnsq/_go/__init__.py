# -*- test-case-name: tests._go -*-
"""
Go NSQ's conventions, for compatibility: flag syntax (L{flags}), value
syntax such as durations and C{%q} quoting (L{values}), C{encoding/json}
bytes (L{json}), log lines (L{log}) and exit statuses (L{exit}).

Everything a script, client or harness written for Go NSQ compares byte for
byte lives here, apart from the NSQ protocols themselves (L{txnsq.wire}).
L{values} and L{json} are standard library only, so the sans-IO core may
use them; this package imports nothing on its own.
"""
