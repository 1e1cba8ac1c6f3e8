"""
Tests for L{txnsq._http}, the HTTP layer the daemons share.
"""
