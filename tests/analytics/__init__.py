"""
Tests for L{harper.analytics}.
"""
