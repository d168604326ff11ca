"""Tests for the storage backends."""
