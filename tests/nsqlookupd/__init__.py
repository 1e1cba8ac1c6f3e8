"""
Tests for L{txnsq.nsqlookupd} and L{txnsq.wire.lookup}.
"""
