"""
Tests for L{txnsq.client}.
"""
