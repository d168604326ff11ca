"""Tests for harper.http."""
