"""
Tests for L{harper.operations.system_ops}: system information and configuration.
"""

from __future__ import annotations

from harper import __version__
from harper.operations.system_ops import redacted
from twisted.trial.unittest import SynchronousTestCase

from tests.operations.helpers import OperationsCase


class SystemTests(OperationsCase):
    """
    What the daemon tells super users about itself.
    """

    config_text = "storage: {threadPoolSize: 2}\nmanhole: {password: hush}\n"

    async def test_system_information(self) -> None:
        """
        Every section by default, or those C{attributes} names; unknown names are 400s.
        """
        info = await self.ok({"operation": "system_information"})
        self.assertEqual(sorted(info), ["harper", "memory", "system", "time"])
        self.assertEqual(info["harper"]["version"], __version__)
        self.assertGreaterEqual(info["time"]["uptime"], 0)
        self.assertEqual(list(await self.ok({"operation": "system_information", "attributes": ["time"]})), ["time"])
        message = await self.refused({"operation": "system_information", "attributes": ["disk"]}, 400)
        self.assertTrue(message.startswith("attributes: 'disk' is not one of"))

    async def test_get_configuration(self) -> None:
        """
        The effective configuration, with the console password hidden.
        """
        config = await self.ok({"operation": "get_configuration"})
        self.assertEqual(config["operationsApi"]["port"], 9925)
        self.assertEqual(config["manhole"]["password"], "<redacted>")
        self.assertFalse(config["authentication"]["authorizeLocal"])


class RedactedTests(SynchronousTestCase):
    """
    L{redacted}.
    """

    def test_nested(self) -> None:
        """
        Password values are hidden at any depth, in lists too; absent ones stay C{None}.
        """
        value = {"a": {"password": "x"}, "b": [{"password": "y"}], "password": None, "c": 1}
        self.assertEqual(redacted(value), {"a": {"password": "<redacted>"}, "b": [{"password": "<redacted>"}],
                                           "password": None, "c": 1})
