# -*- test-case-name: tests.service.test_tls -*-
"""
TLS certificates as every transport uses them: PEM files read into Twisted's TLS options
(with a clear L{BadCertificate} when a file is missing or is not what it should be), and the
subject of a peer's verified certificate, which names a user or a node.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet.error import VerifyError
from twisted.internet.interfaces import ISSLTransport
from twisted.python.filepath import FilePath

#: The certificate field that C{mtls.user} names by default: the subject's common name.
COMMON_NAME = "Common Name"


class BadCertificate(Exception):
    """
    A certificate or key file cannot be used.

    :ivar path: the file.
    :ivar reason: what is wrong with it.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _read(path: str) -> bytes:
    try:
        return FilePath(path).getContent()
    except OSError as error:
        raise BadCertificate(path, f"cannot be read ({error.strerror or error})") from None


def load_certificates(path: str) -> list[ssl.Certificate]:
    """
    Every certificate in the PEM file C{path} (a chain, or the authorities of a bundle).

    :raises BadCertificate: when the file cannot be read or holds no PEM certificate.
    """
    content = _read(path)
    marker = b"-----BEGIN CERTIFICATE-----"
    blocks = [marker + block for block in content.split(marker)[1:]]
    try:
        certificates = [ssl.Certificate.loadPEM(block) for block in blocks]
    except SSL.Error:
        certificates = []
    if not certificates:
        raise BadCertificate(path, "holds no PEM certificate")
    return certificates


def load_private_certificate(certificate: str, private_key: str) -> ssl.PrivateCertificate:
    """
    The certificate in C{certificate} (the first of its chain) with the key in C{private_key}.

    :raises BadCertificate: when a file cannot be read, the key is not a PEM private key, or
        it does not belong to the certificate.
    """
    [first, *_] = load_certificates(certificate)
    try:
        key = ssl.KeyPair.load(_read(private_key), crypto.FILETYPE_PEM)
    except (SSL.Error, crypto.Error):
        raise BadCertificate(private_key, "holds no PEM private key") from None
    try:
        return ssl.PrivateCertificate.fromCertificateAndKeyPair(first, key)
    except VerifyError:
        reason = f"is not the key of the certificate in {certificate}"
        raise BadCertificate(private_key, reason) from None


def server_options(
    certificate: str,
    private_key: str,
    certificate_authority: Optional[str] = None,
    require_certificate: bool = False,
) -> ssl.CertificateOptions:
    """
    TLS options of a listener serving the certificate chain in C{certificate}.

    :param certificate_authority: a PEM file of the authorities trusted to sign client
        certificates; with it, a client certificate is asked for and verified (mutual TLS).
    :param require_certificate: refuse clients without a certificate (needs
        C{certificate_authority}).
    :raises BadCertificate: when a file cannot be used.
    """
    own = load_private_certificate(certificate, private_key)
    chain = [c.original for c in load_certificates(certificate)[1:]]
    authorities: Sequence[Any] = []
    if certificate_authority is not None:
        authorities = [c.original for c in load_certificates(certificate_authority)]
    return ssl.CertificateOptions(
        privateKey=own.privateKey.original,
        certificate=own.original,
        extraCertChain=chain or None,
        verify=bool(authorities),
        caCerts=authorities or None,
        requireCertificate=bool(authorities) and require_certificate,
    )


def client_options(
    host: str,
    certificate_authority: Optional[str] = None,
    certificate: Optional[str] = None,
    private_key: Optional[str] = None,
) -> Any:
    """
    TLS options of a connection to C{host}: its certificate must name C{host} and be signed by
    an authority of C{certificate_authority} (a PEM file), or by one the platform trusts;
    with C{certificate} and C{private_key}, this side presents that certificate.

    :raises BadCertificate: when a file cannot be used.
    """
    trust = None
    if certificate_authority is not None:
        [trust, *_] = load_certificates(certificate_authority)
    own = None
    if certificate is not None and private_key is not None:
        own = load_private_certificate(certificate, private_key)
    return ssl.optionsForClientTLS(host, trustRoot=trust, clientCertificate=own)


def peer_common_name(transport: Any) -> Optional[str]:
    """
    The common name of the certificate that the peer of C{transport} presented, or C{None}
    when the transport is not TLS or the peer presented none. The listener's options decide
    whether a presented certificate was verified (see L{server_options}).
    """
    if not ISSLTransport.providedBy(transport):
        return None
    presented = transport.getPeerCertificate()
    if presented is None:
        return None
    names = presented.to_cryptography().subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        return None
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
