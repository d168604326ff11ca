# -*- test-case-name: tests.service.test_tls -*-
"""
TLS on the daemon's listeners.

L{listener_options} reads the C{tls} files once, when the service is built, into the options
of every configured TLS port (C{http.securePort}, C{operationsApi.securePort},
C{mqtt.securePort}), so a missing or broken file stops the daemon before it listens. With a
listener's C{mtls}, clients may (or must) present a certificate signed by
C{tls.certificateAuthority}; L{certificate_user} names the user such a certificate logs in:
HTTP requests without credentials get ones vouched for by the authenticator
(L{certified_site}), MQTT connections hand the name to the broker at CONNECT.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from twisted.internet import ssl
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.web import server

from harper.auth.certificates import COMMON_NAME, BadCertificate, peer_common_name, server_options
from harper.errors import StartupError

#: The listeners that have a TLS port: configuration key of the port, and section attribute.
SECURE_LISTENERS = (
    ("http.securePort", "http"),
    ("operationsApi.securePort", "operations_api"),
    ("mqtt.securePort", "mqtt"),
)

#: Names the user of a transport's verified client certificate, or C{None}.
Identify = Callable[[Any], Optional[str]]


def listener_options(config: Any) -> dict[str, ssl.CertificateOptions]:
    """
    The TLS options of every TLS port that C{config} (a L{harper.components.config.HarperConfig})
    sets, by the port's configuration key.

    :raises StartupError: naming the C{tls} key of each file that cannot be used.
    """
    tls = config.tls
    found: dict[str, ssl.CertificateOptions] = {}
    for key, attribute in SECURE_LISTENERS:
        section = getattr(config, attribute)
        if not section.secure_port or tls.certificate is None or tls.private_key is None:
            continue
        mtls = section.mtls
        try:
            found[key] = server_options(
                tls.certificate,
                tls.private_key,
                tls.certificate_authority if mtls is not None else None,
                require_certificate=mtls is not None and mtls.required,
            )
        except BadCertificate as error:
            raise StartupError([f"{_key_of(tls, error.path)}: {error}"]) from None
    return found


def _key_of(tls: Any, path: str) -> str:
    for key, attribute in (("tls.certificate", "certificate"), ("tls.privateKey", "private_key"),
                           ("tls.certificateAuthority", "certificate_authority")):
        if getattr(tls, attribute) == path:
            return key
    return "tls"


def secured(options: ssl.CertificateOptions, factory: Any) -> TLSMemoryBIOFactory:
    """
    C{factory} behind TLS with C{options}, for a plain TCP listener.
    """
    return TLSMemoryBIOFactory(options, False, factory)


def certificate_user(mtls: Any) -> Optional[Identify]:
    """
    How a listener with mutual TLS setting C{mtls} (a
    L{harper.components.config_sections.MutualTlsConfig} or C{None}) names the user of a
    connection: its certificate's common name, or the fixed C{mtls.user}. C{None} when
    certificates log nobody in.
    """
    if mtls is None or mtls.user is None:
        return None
    fixed = None if mtls.user == COMMON_NAME else mtls.user

    def identify(transport: Any) -> Optional[str]:
        name = peer_common_name(transport)
        if name is None:
            return None
        return fixed or name

    return identify


class _CertifiedRequest(server.Request):
    """
    A request on a mutual TLS connection: without credentials of its own, it carries those
    the authenticator vouches for its client certificate's user.
    """

    identify: Identify
    vouch: Callable[[str], str]

    def process(self) -> None:
        if not self.requestHeaders.hasHeader(b"authorization"):
            username = self.identify(self.channel.transport)
            if username is not None:
                self.requestHeaders.setRawHeaders(b"authorization", [self.vouch(username)])
        super().process()


def certified_site(
    site: server.Site, identify: Identify, vouch: Callable[[str], str]
) -> server.Site:
    """
    Make C{site} log in the user of each request's client certificate (when the request has
    no C{Authorization} of its own), for every transport behind it: REST, WebSocket, SSE and
    the operations API all read that header.

    :param identify: names the certificate's user (see L{certificate_user}).
    :param vouch: L{harper.auth.authenticator.Authenticator.vouch}.
    """

    def request(channel: Any, *args: Any, **kwargs: Any) -> _CertifiedRequest:
        made = _CertifiedRequest(channel, *args, **kwargs)
        made.identify, made.vouch = identify, vouch
        return made

    site.requestFactory = request
    site.lane = None  # the REST lane's requests are not made by requestFactory
    return site
