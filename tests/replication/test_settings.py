"""
Tests for L{harper.replication.settings}: routes and settings from the configuration.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from harper.components.config import config_from_string
from harper.errors import ConfigError
from harper.replication.settings import Route, parse_route, settings_from_config


class RouteTests(TestCase):
    """
    Routes are URLs or mappings.
    """

    def test_url(self) -> None:
        """
        A URL string is a route; C{wss} means TLS.
        """
        route = parse_route("wss://node2:9933")
        self.assertEqual(
            (route, route.secure, route.host, route.port),
            (Route("wss://node2:9933"), True, "node2", 9933),
        )

    def test_mapping(self) -> None:
        """
        A mapping gives host and port, and optionally a name and one-way flags.
        """
        route = parse_route(
            {"hostname": "node2", "port": 9933, "name": "two", "replicates": {"sends": False}},
        )
        self.assertEqual(route, Route("ws://node2:9933", "two", sends=False, receives=True))
        self.assertEqual(parse_route({"hostname": "n", "port": 1, "secure": True}).url, "wss://n:1")

    def test_bad_routes(self) -> None:
        """
        Routes that are not WebSocket URLs are refused with the route named.
        """
        for entry, words in [
            ("http://node2:9933", "'http://node2:9933' is not a ws:// or wss:// URL"),
            ("ws://node2:port", "has an invalid port"),
            ({"hostname": "node2"}, "needs a url, or a hostname and a port"),
        ]:
            error = self.assertRaises(ConfigError, parse_route, entry)
            self.assertIn(words, error.message)


class SettingsTests(TestCase):
    """
    Settings come from the C{replication} section.
    """

    def config(self, text: str):
        return config_from_string(text, base_dir=".", root=self.mktemp(), environ={})

    def test_off_without_hostname(self) -> None:
        """
        Without C{replication.hostname} the node does not replicate.
        """
        self.assertIsNone(settings_from_config(self.config("replication: {port: 9933}\n")))

    def test_settings(self) -> None:
        """
        Name, URL, port, databases and routes come from the section; log retention from
        C{logging.auditRetention}.
        """
        settings = settings_from_config(self.config(
            "replication: {hostname: one, url: 'ws://one:9933', port: 9933, databases: [data],"
            " routes: ['ws://two:9933', {hostname: three, port: 9933}]}\n"
            "logging: {auditRetention: 1h}\n"
        ))
        self.assertEqual((settings.node, settings.url, settings.port, settings.databases),
                         ("one", "ws://one:9933", 9933, ("data",)))
        self.assertEqual([r.url for r in settings.routes], ["ws://two:9933", "ws://three:9933"])
        self.assertEqual((settings.retention, settings.enabled), (3600.0, True))
