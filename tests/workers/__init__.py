"""
Tests for L{harper.workers}: the master, its workers and the change-event bus between them.
"""
