"""
Tests for L{harper.schema}.
"""
