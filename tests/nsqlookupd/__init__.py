"""
Tests for L{txnsq.nsqlookupd}, L{txnsq.wire.lookup} and the shared HTTP
helpers in L{txnsq._http}.
"""
