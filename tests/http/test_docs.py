"""
Every example of docs/rest.md, run in order against the kennel example application: each curl
command must answer the status written under it.
"""

from __future__ import annotations

import os
import re
import shlex

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from harper.components.config import load_config
from harper.components.loader import discover_plugins, load_applications
from harper.components.runtime import Runtime, plan_tables
from harper.http.rest import RestAPI
from tests.http.helpers import MemoryClient

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUIDE = os.path.join(REPOSITORY, "docs", "rest.md")
KENNEL_CONFIG = os.path.join(REPOSITORY, "conf", "harper.yaml")
SERVER = "http://localhost:9926"
_EXAMPLE = re.compile(r"^(curl .*)\n# → (\d{3})$", re.MULTILINE)


def examples(text: str) -> list[tuple[str, int]]:
    """
    The (command, expected status) pairs of the guide, in order.
    """
    return [(command, int(status)) for command, status in _EXAMPLE.findall(text)]


def curl_request(command: str) -> tuple[str, str, bytes | None, dict[str, str]]:
    """
    The method, path, body and headers of a curl command using C{-s -i -g -o -X -H -d}.
    """
    words = shlex.split(command)[1:]
    method, body, headers, url = None, None, {}, None
    while words:
        word = words.pop(0)
        if word in ("-s", "-i", "-g"):
            continue
        if word == "-o":
            words.pop(0)
        elif word == "-X":
            method = words.pop(0)
        elif word == "-H":
            name, _, value = words.pop(0).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            body = words.pop(0).encode("utf-8")
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif word.startswith(SERVER):
            url = word
        else:
            raise ValueError(f"the doc test does not understand {word!r} in: {command}")
    if url is None:
        raise ValueError(f"no URL in: {command}")
    return method or ("POST" if body is not None else "GET"), url[len(SERVER):], body, headers


class GuideTests(TestCase):
    """
    docs/rest.md against the kennel application.
    """

    def setUp(self):
        config = load_config(KENNEL_CONFIG, root=self.mktemp(), overrides=["storage.threadPoolSize=2", "authentication.authorizeLocal=true"], environ={})
        applications = load_applications(config, discover_plugins(config.plugin_packages))
        self.runtime = Runtime(config, plan_tables(applications), reactor)
        self.runtime.start()
        self.addCleanup(self.runtime.stop)
        registry = getattr(self.runtime, "http_registry", self.runtime.registry)
        authenticate = self.runtime.access.authenticator.authenticate
        self.client = MemoryClient(
            RestAPI(registry, self.runtime.caller, config.http.max_body_size, authenticate=authenticate)
        )

    def test_parser(self):
        """
        The guide has examples, and the curl reader takes methods, headers and bodies.
        """
        with open(GUIDE, encoding="utf-8") as guide:
            self.assertGreater(len(examples(guide.read())), 20)
        self.assertEqual(
            curl_request("curl -s -X PATCH -H 'A: b' -d '{}' http://localhost:9926/Dog/1"),
            ("PATCH", "/Dog/1", b"{}", {"A": "b", "Content-Type": "application/x-www-form-urlencoded"}),
        )

    @inlineCallbacks
    def test_examples(self):
        """
        Every example answers the status the guide gives.
        """
        with open(GUIDE, encoding="utf-8") as guide:
            text = guide.read()
        for command, status in examples(text):
            method, path, body, headers = curl_request(command)
            reply = yield self.client.request(method, path, body, headers)
            self.assertEqual(reply.status, status, f"{command}\n{reply.body[:300]!r}")
