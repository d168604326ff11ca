"""Tests for harper.websocket."""
