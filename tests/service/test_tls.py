"""
Tests for TLS on the daemon's listeners (L{harper.service.tls}, L{harper.auth.certificates}):
certificate files read with clear errors, then a real C{twistd -n harper} with a throwaway
certificate authority serving HTTPS, WSS, MQTTS and the operations API over TLS, with mutual
TLS logging clients in as the user their certificate names.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import treq
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import TCP4ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.ssl import Certificate
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from harper.auth.authenticator import CERTIFICATE_SCHEME
from harper.auth.certificates import BadCertificate, client_options, server_options
from harper.components.config import config_from_string
from harper.components.config_sections import MutualTlsConfig
from harper.errors import ConfigError, StartupError
from harper.service.tls import certificate_user, listener_options
from tests.certificates import ThrowawayAuthority
from tests.mqtt.helpers import V311, Client
from tests.service.helpers import (
    DEADLINE,
    KENNEL_CONFIG,
    TWISTD,
    daemon_arguments,
    free_port,
    start_process,
    wait_until_listening,
)

#: The administrator the daemon creates on its first start.
ADMIN = ("admin", "secret")


class CertificateFileTests(TestCase):
    """
    Certificate and key files that cannot be used are named, with what is wrong with them.
    """

    def setUp(self) -> None:
        self.authority = ThrowawayAuthority(self)
        self.certificate, self.key = self.authority.issue("127.0.0.1")
        self.other_certificate, self.other_key = self.authority.issue("other")

    def test_missing_file(self) -> None:
        """
        A file that does not exist cannot be read.
        """
        missing = os.path.join(self.authority.folder, "missing.pem")
        error = self.assertRaises(BadCertificate, server_options, missing, self.key)
        self.assertEqual(error.path, missing)
        self.assertIn("cannot be read", str(error))

    def test_not_pem(self) -> None:
        """
        A file without a PEM certificate, or without a PEM key, is refused as such.
        """
        error = self.assertRaises(BadCertificate, server_options, self.key, self.key)
        self.assertEqual((error.path, error.reason), (self.key, "holds no PEM certificate"))
        error = self.assertRaises(BadCertificate, server_options, self.certificate, self.certificate)
        self.assertEqual((error.path, error.reason), (self.certificate, "holds no PEM private key"))

    def test_key_of_another_certificate(self) -> None:
        """
        A key that does not belong to the certificate is refused.
        """
        error = self.assertRaises(BadCertificate, server_options, self.certificate, self.other_key)
        self.assertIn("is not the key of the certificate", error.reason)

    def config(self, text: str) -> Any:
        """
        The configuration of the YAML C{text}.
        """
        return config_from_string(text, base_dir=self.authority.folder, environ={})

    def test_listener_options_name_the_key(self) -> None:
        """
        L{listener_options} refuses to start naming the C{tls} key of the broken file, and
        gives options for each configured TLS port otherwise.
        """
        broken = self.config(
            f"http: {{securePort: 9443}}\n"
            f"tls: {{certificate: {self.certificate}, privateKey: {self.other_key}}}\n"
        )
        error = self.assertRaises(StartupError, listener_options, broken)
        self.assertEqual(len(error.problems), 1)
        self.assertTrue(error.problems[0].startswith(f"tls.privateKey: {self.other_key}: "))
        good = self.config(
            f"http: {{securePort: 9443, mtls: true}}\nmqtt: {{securePort: 8883}}\n"
            f"tls: {{certificate: {self.certificate}, privateKey: {self.key},"
            f" certificateAuthority: {self.authority.path}}}\n"
        )
        self.assertEqual(sorted(listener_options(good)), ["http.securePort", "mqtt.securePort"])

    def test_mtls_settings(self) -> None:
        """
        C{mtls} is C{true}, C{false} or C{{user, required}}; it needs the certificate
        authority and the listener's TLS port.
        """
        tls = (f"tls: {{certificate: {self.certificate}, privateKey: {self.key},"
               f" certificateAuthority: {self.authority.path}}}\n")
        config = self.config("http: {securePort: 9443, mtls: true}\n"
                             "mqtt: {securePort: 8883, mtls: {user: null, required: true}}\n"
                             "operationsApi: {securePort: 9444, mtls: {user: CN}}\n" + tls)
        self.assertEqual((config.http.mtls.user, config.http.mtls.required), ("Common Name", False))
        self.assertEqual((config.mqtt.mtls.user, config.mqtt.mtls.required), (None, True))
        self.assertEqual(config.operations_api.mtls.user, "Common Name")
        error = self.assertRaises(ConfigError, self.config, "http: {mtls: {user: 3, color: red}}\n")
        self.assertEqual(list(error.problems), [
            "<string>: http.mtls.user: expected a non-empty string or null, got 3",
            "<string>: http.mtls.color: unknown key",
        ])
        error = self.assertRaises(ConfigError, self.config, "mqtt: {mtls: true}\n")
        self.assertEqual(list(error.problems), [
            "<string>: mqtt.mtls: needs tls.certificateAuthority to verify client certificates",
            "<string>: mqtt.mtls: applies to the TLS port: set mqtt.securePort",
        ])


@implementer(ISSLTransport)
class _TLSTransport(StringTransport):
    """
    A TLS transport whose peer presented C{presented} (a pyOpenSSL certificate, or C{None}).
    """

    def __init__(self, presented: Any) -> None:
        super().__init__()
        self._presented = presented

    def getPeerCertificate(self) -> Any:
        return self._presented


class CertificateUserTests(TestCase):
    """
    L{certificate_user} names the user of a connection's client certificate as C{mtls.user}
    says.
    """

    def setUp(self) -> None:
        certificate, _ = ThrowawayAuthority(self).issue("admin")
        with open(certificate, "rb") as stream:
            self.admin = _TLSTransport(Certificate.loadPEM(stream.read()).original)

    def test_common_name(self) -> None:
        """
        By default the certificate's common name is the user; without a certificate, or
        without TLS, there is none.
        """
        identify = certificate_user(MutualTlsConfig("Common Name", False))
        self.assertEqual(identify(self.admin), "admin")
        self.assertIsNone(identify(_TLSTransport(None)))
        self.assertIsNone(identify(StringTransport()))

    def test_fixed_user_or_none(self) -> None:
        """
        A user name in C{mtls.user} is the user of every certificate; C{null}, or no
        C{mtls}, logs nobody in.
        """
        self.assertEqual(certificate_user(MutualTlsConfig("service", True))(self.admin), "service")
        self.assertIsNone(certificate_user(MutualTlsConfig(None, True)))
        self.assertIsNone(certificate_user(None))


@implementer(IPolicyForHTTPS)
class _TrustPolicy:
    """
    HTTPS client connections with fixed TLS options.
    """

    def __init__(self, options: Any) -> None:
        self._options = options

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        return self._options


class _Recorder(WebSocketClientProtocol):
    """
    Keeps the messages of a WebSocket subscription.
    """

    def onOpen(self) -> None:
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.messages.append(json.loads(payload))
        waiting, self.factory.waiting = self.factory.waiting, None
        if waiting is not None:
            waiting.callback(None)

    def onClose(self, wasClean: bool, code: Any, reason: Any) -> None:
        if not self.factory.opened.called:
            self.factory.opened.errback(ConnectionError(f"closed with {code}: {reason}"))


class TLSDaemonTests(TestCase):
    """
    A daemon with the kennel example, TLS on the HTTP, operations and MQTT ports, and mutual
    TLS (optional) on the HTTP and MQTT ones.
    """

    def setUp(self) -> None:
        self.authority = ThrowawayAuthority(self)
        self.server = self.authority.issue("127.0.0.1")
        self.admin = self.authority.issue("admin")
        self.stranger = self.authority.issue("stranger")
        self.root = os.path.abspath(self.mktemp())
        self.ports = {name: free_port() for name in ("http", "https", "operations", "mqtts")}
        self.https = f"https://127.0.0.1:{self.ports['https']}"

    def arguments(self, *extra: str) -> list[str]:
        """
        The daemon's command line: C{extra} options win.
        """
        certificate, key = self.server
        return daemon_arguments(
            self.root, self.ports["http"], "--config", KENNEL_CONFIG,
            "--set", "threads.count=1",
            "--set", "authentication.authorizeLocal=false",
            "--set", f"tls.certificate={certificate}",
            "--set", f"tls.privateKey={key}",
            "--set", f"tls.certificateAuthority={self.authority.path}",
            "--set", f"http.securePort={self.ports['https']}",
            "--set", "http.mtls=true",
            "--set", f"operationsApi.securePort={self.ports['operations']}",
            "--set", f"mqtt.securePort={self.ports['mqtts']}",
            "--set", "mqtt.mtls=true",
            *extra,
        )

    def spawn(self, *extra: str) -> Any:
        """
        Start the daemon (creating the administrator on its first start).
        """
        environment = {**os.environ, "HARPER_ADMIN_USERNAME": ADMIN[0],
                       "HARPER_ADMIN_PASSWORD": ADMIN[1]}
        self.patch(os, "environ", environment)
        return start_process(self, TWISTD, self.arguments(*extra))

    @inlineCallbacks
    def start(self) -> Any:
        """
        Start the daemon and wait until every TLS port listens.
        """
        daemon = self.spawn()
        for name in ("https", "operations", "mqtts"):
            yield wait_until_listening(daemon, self.ports[name])
        return daemon

    def client(self, identity: Optional[tuple[str, str]] = None,
               authority: Optional[str] = None) -> treq.client.HTTPClient:
        """
        An HTTPS client trusting the test authority, presenting C{identity} (certificate and
        key paths) when given.
        """
        certificate, key = identity or (None, None)
        options = client_options("127.0.0.1", authority or self.authority.path, certificate, key)
        pool = HTTPConnectionPool(reactor, persistent=False)
        return treq.client.HTTPClient(Agent(reactor, contextFactory=_TrustPolicy(options), pool=pool))

    @inlineCallbacks
    def get(self, client: treq.client.HTTPClient, url: str, headers: Optional[dict] = None,
            **kwargs: Any) -> Any:
        """
        GET C{url}; fire with the status code and the decoded JSON body.
        """
        headers = {"Accept": "application/json", **(headers or {})}
        response = yield client.get(url, headers=headers, timeout=DEADLINE, **kwargs)
        content = yield treq.content(response)
        return response.code, (json.loads(content) if content else None)

    @inlineCallbacks
    def test_https_and_operations(self) -> None:
        """
        HTTPS answers REST with Basic credentials and refuses anonymous callers; the
        operations API answers over TLS on its own port.
        """
        yield self.start()
        client = self.client()
        response = yield client.put(f"{self.https}/Dog/tls", json={"id": "tls", "name": "Rex"},
                                    auth=ADMIN, timeout=DEADLINE)
        self.assertIn(response.code, (200, 204))
        code, record = yield self.get(client, f"{self.https}/Dog/tls", auth=ADMIN)
        self.assertEqual((code, record["name"]), (200, "Rex"))
        code, _ = yield self.get(client, f"{self.https}/Dog/tls")
        self.assertEqual(code, 401)
        response = yield client.post(f"https://127.0.0.1:{self.ports['operations']}/",
                                     json={"operation": "user_info"}, auth=ADMIN, timeout=DEADLINE)
        body = yield treq.json_content(response)
        self.assertEqual((response.code, body["username"]), (200, "admin"))

    @inlineCallbacks
    def test_mutual_tls_users(self) -> None:
        """
        A client certificate logs its common name in when that is a user; another name is
        refused with 401; a certificate another authority signed is refused in the handshake;
        certificate credentials sent by a client are refused.
        """
        yield self.start()
        code, body = yield self.get(self.client(self.admin), f"{self.https}/Dog/")
        self.assertEqual(code, 200, body)
        code, body = yield self.get(self.client(self.stranger), f"{self.https}/Dog/")
        self.assertEqual(code, 401)
        self.assertIn("'stranger', who is not an active user", body["error"])
        foreign = ThrowawayAuthority(self, "Another CA").issue("admin")
        yield self.assertFailure(self.get(self.client(foreign), f"{self.https}/Dog/"), Exception)
        forged = {"Authorization": f"{CERTIFICATE_SCHEME} YWRtaW4=.00"}
        code, _ = yield self.get(self.client(), f"{self.https}/Dog/", headers=forged)
        self.assertEqual(code, 401)

    @inlineCallbacks
    def test_wss_subscription(self) -> None:
        """
        A WebSocket over TLS, logged in by its client certificate, receives the changes of
        the record it subscribed to.
        """
        yield self.start()
        certificate, key = self.admin
        factory = WebSocketClientFactory(f"wss://127.0.0.1:{self.ports['https']}/Dog/wss")
        factory.protocol = _Recorder
        factory.messages, factory.opened, factory.waiting = [], Deferred(), Deferred()
        endpoint = wrapClientTLS(
            client_options("127.0.0.1", self.authority.path, certificate, key),
            TCP4ClientEndpoint(reactor, "127.0.0.1", self.ports["https"]),
        )
        protocol = yield endpoint.connect(factory)
        self.addCleanup(protocol.transport.loseConnection)
        yield factory.opened.addTimeout(DEADLINE, reactor)
        received = factory.waiting
        response = yield self.client().put(f"{self.https}/Dog/wss", json={"id": "wss", "name": "Max"},
                                           auth=ADMIN, timeout=DEADLINE)
        self.assertIn(response.code, (200, 204))
        yield received.addTimeout(DEADLINE, reactor)
        self.assertEqual((factory.messages[0]["id"], factory.messages[0]["value"]["name"]), ("wss", "Max"))

    @inlineCallbacks
    def test_mqtts(self) -> None:
        """
        MQTT over TLS: a client trusting the authority logs in with a password; with a client
        certificate and no user name it is the certificate's user; a certificate naming no
        user is not authorized (CONNACK 5 in MQTT 3.1.1, which paho reports as the MQTT 5
        reason code 135).
        """
        yield self.start()
        port = self.ports["mqtts"]
        with_password = Client(self, port, "password", V311, *ADMIN)
        with_password.client.tls_set(ca_certs=self.authority.path)
        flags, reason, _ = yield with_password.connect()
        self.assertEqual(reason, 0)
        by_certificate = Client(self, port, "certificate", V311)
        by_certificate.client.tls_set(self.authority.path, *self.admin)
        flags, reason, _ = yield by_certificate.connect()
        self.assertEqual(reason, 0)
        codes = yield by_certificate.subscribe("Dog/mqtts", qos=1)
        self.assertEqual([int(getattr(code, "value", code)) for code in codes], [1])
        stranger = Client(self, port, "stranger", V311)
        stranger.client.tls_set(self.authority.path, *self.stranger)
        flags, reason, _ = yield stranger.connect()
        self.assertEqual(int(getattr(reason, "value", reason)), 135)

    @inlineCallbacks
    def test_unusable_key_refused(self) -> None:
        """
        A private key that is not the certificate's stops the daemon before it listens, with
        one message naming C{tls.privateKey}.
        """
        _, wrong_key = self.stranger
        daemon = self.spawn("--set", f"tls.privateKey={wrong_key}")
        code = yield daemon.ended()
        self.assertEqual(code, 1, daemon.output())
        self.assertIn(f"tls.privateKey: {wrong_key}: is not the key of the certificate",
                      daemon.stderr.decode("utf-8"))
