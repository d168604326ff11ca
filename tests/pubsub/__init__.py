"""Tests for harper.pubsub."""
