"""
Tests for L{harper.operations.system_ops}: system information and configuration.
"""

from __future__ import annotations

import attr
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from harper import __version__
from harper.components.config import config_from_string, load_config
from harper.errors import InvalidInput
from harper.operations.fields import Fields
from harper.operations.registry import OperationCall
from harper.operations.scope import OperationScope
from harper.operations.system_ops import get_configuration, redacted, set_configuration

from tests.operations.helpers import ADMIN, OperationsCase


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


class SetConfigurationTests(OperationsCase):
    """
    C{set_configuration} writes checked keys into the configuration file.
    """

    config_text = "storage: {threadPoolSize: 2}\nlogging: {level: warn}\n"

    async def test_set_and_restart(self) -> None:
        """
        Flattened keys, matched without regard to case, land in the file (other keys kept);
        the daemon answers that a restart is needed, and the configuration a restart reads
        has them.
        """
        answer = await self.ok({"operation": "set_configuration", "logging_level": "debug",
                                "operationsapi_port": 9931, "http.cors": False})
        self.assertIn("restart", answer["message"])
        reloaded = load_config(self.config_file, environ={})
        self.assertEqual((reloaded.logging.level, reloaded.operations_api.port, reloaded.http.cors),
                         ("debug", 9931, False))
        self.assertEqual(reloaded.storage.thread_pool_size, 2)
        self.assertEqual(self.runtime.config.logging.level, "warn")
        scope = attr.evolve(OperationScope.of_runtime(self.runtime, reactor), config=reloaded)
        shown = get_configuration(OperationCall(Fields({}), await self.admin(), scope))
        self.assertEqual(shown["logging"]["level"], "debug")

    async def test_refused(self) -> None:
        """
        Unknown keys and bad values are 400s naming the key, and the file is left alone; an
        empty request and a non-super user are refused.
        """
        with open(self.config_file, encoding="utf-8") as stream:
            before = stream.read()
        message = await self.refused({"operation": "set_configuration", "logging_colour": "red"}, 400)
        self.assertTrue(message.startswith("logging_colour: not a configuration key"), message)
        message = await self.refused({"operation": "set_configuration", "logging_level": "loud"}, 400)
        self.assertTrue(message.startswith("logging.level:"), message)
        message = await self.refused({"operation": "set_configuration", "http_port": "x"}, 400)
        self.assertTrue(message.startswith("http.port:"), message)
        self.assertTrue((await self.refused({"operation": "set_configuration"}, 400)).startswith("give at least"))
        await self.refused({"operation": "set_configuration", "logging_level": "info"}, 403, await self.add_reader())
        with open(self.config_file, encoding="utf-8") as stream:
            self.assertEqual(stream.read(), before)

    async def test_no_file(self) -> None:
        """
        A daemon started without a configuration file has none to change: a 400 says so.
        """
        config = config_from_string(self.config_text, root=self.runtime.config.root_path, environ={})
        scope = attr.evolve(OperationScope.of_runtime(self.runtime, reactor), config=config)
        call = OperationCall(Fields({"logging_level": "info"}), await self.admin(), scope)
        error = self.assertRaises(InvalidInput, set_configuration, call)
        self.assertIn("without a configuration file", error.message)

    def admin(self) -> Deferred:
        return self.access.users.get_user(ADMIN[0])
