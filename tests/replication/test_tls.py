"""
Replication over TLS with certificate node identity: with C{tls.certificateAuthority}, peers
connect over C{wss://}, each side verifies the other's certificate against the authority, and a
node is the node its certificate's common name names, instead of the shared cluster user.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from harper.replication.settings import Route
from tests.certificates import ThrowawayAuthority
from tests.replication.helpers import Node, connected, eventually


def tls_settings(authority: ThrowawayAuthority, common_name: str) -> dict:
    """
    The cluster settings of a node presenting a certificate for C{common_name} signed by
    C{authority}, and trusting that authority.
    """
    certificate, key = authority.issue(common_name)
    return dict(certificate=certificate, private_key=key, certificate_authority=authority.path)


class CertificateIdentityTests(TestCase):
    """
    Nodes named by their certificates.
    """

    def setUp(self) -> None:
        self.authority = ThrowawayAuthority(self)
        self.refusals: list[str] = []

        def observe(event: dict) -> None:
            if "refusal" in event and event.get("log_namespace", "").startswith("harper.replication"):
                self.refusals.append(event["refusal"])

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

    def node(self, name: str, common_name: str = "", **settings) -> Node:
        """
        A node called C{name} with a certificate for C{common_name} (C{name} by default).
        """
        return Node(self, name, **tls_settings(self.authority, common_name or name), **settings)

    @inlineCallbacks
    def test_replicate_over_wss(self) -> None:
        """
        Two nodes replicate both ways over C{wss://}; each knows the other by the name in its
        certificate, though neither has a cluster user.
        """
        a, b = self.node("node-a"), self.node("node-b")
        yield a.start()
        yield b.start([Route(f"wss://127.0.0.1:{a.port}")])
        yield eventually(connected(a, b))
        self.assertTrue(b.cluster.url.startswith("wss://"))
        yield a.tables.Dog.put("rex", {"name": "Rex"})
        yield b.tables.Dog.put("fido", {"name": "Fido"})
        yield eventually(lambda: len(a.records()) == len(b.records()) == 2)
        self.assertEqual([link.peer for link in b.cluster.links()], ["node-a"])
        served = {c["name"] for c in a.cluster.cluster_status()["connections"]}
        self.assertIn("node-b", served)

    @inlineCallbacks
    def test_certificate_replaces_cluster_user(self) -> None:
        """
        A node that requires the cluster user accepts a peer that sends no credentials but a
        certificate signed by the authority.
        """
        a = self.node("node-a", username="cluster", password="s3cret")
        b = self.node("node-b")
        yield a.start()
        yield a.tables.Dog.put("rex", {"name": "Rex"})
        yield b.start([Route(f"wss://127.0.0.1:{a.port}")])
        yield eventually(lambda: b.record("rex") is not None)

    @inlineCallbacks
    def test_impostor_refused(self) -> None:
        """
        A node whose certificate names another node cannot replicate under its own name: the
        handshake is refused and it receives nothing.
        """
        a = self.node("node-a")
        impostor = self.node("node-b", common_name="node-c")
        yield a.start()
        yield a.tables.Dog.put("rex", {"name": "Rex"})
        yield impostor.start([Route(f"wss://127.0.0.1:{a.port}")])
        yield eventually(lambda: len(self.refusals) >= 2)
        self.assertEqual(self.refusals[0], "the peer's certificate names node 'node-c', not 'node-b'")
        [link] = impostor.cluster.links()
        self.assertEqual((link.connected, impostor.record("rex")), (False, None))
        served = {c["name"] for c in a.cluster.cluster_status()["connections"]}
        self.assertFalse(served & {"node-b", "node-c"})

    @inlineCallbacks
    def test_foreign_authority_refused(self) -> None:
        """
        A node whose certificate another authority signed cannot connect at all, though it
        trusts the node it connects to: the TLS handshake fails (several attempts within a
        second, with the tests' fast retries).
        """
        a = self.node("node-a")
        settings = tls_settings(ThrowawayAuthority(self), "node-x")
        stranger = Node(self, "node-x", **{**settings, "certificate_authority": self.authority.path})
        yield a.start()
        yield a.tables.Dog.put("rex", {"name": "Rex"})
        yield stranger.start([Route(f"wss://127.0.0.1:{a.port}")])
        yield deferLater(reactor, 1.0, lambda: None)
        [link] = stranger.cluster.links()
        self.assertEqual((link.connected, link.peer, stranger.record("rex")), (False, None, None))
        self.assertEqual(a.cluster.cluster_status()["connections"], [])
