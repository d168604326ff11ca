"""
Throwaway certificate authorities for TLS tests: a CA, and certificates it signs for
127.0.0.1 with a chosen common name (a user for mutual TLS, a node for replication), written
as PEM files into a test's temporary folder.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The address the certificates are issued for.
LOOPBACK = ipaddress.ip_address("127.0.0.1")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class ThrowawayAuthority:
    """
    A certificate authority of one test.

    :param case: the test, whose temporary folder holds the files.
    :param name: the authority's common name.
    :ivar folder: where the PEM files are written.
    :ivar path: the authority's certificate (PEM), for C{tls.certificateAuthority}.
    """

    def __init__(self, case: Any, name: str = "Harper Test CA") -> None:
        self.folder = os.path.abspath(case.mktemp())
        os.makedirs(self.folder)
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False), True)
            .sign(self._key, hashes.SHA256())
        )
        self.path = self._write("ca.pem", self._certificate.public_bytes(serialization.Encoding.PEM))

    def _write(self, name: str, content: bytes) -> str:
        path = os.path.join(self.folder, name)
        with open(path, "wb") as stream:
            stream.write(content)
        return path

    def issue(self, common_name: str) -> tuple[str, str]:
        """
        Sign a certificate for 127.0.0.1 naming C{common_name}, usable by servers and clients;
        return the paths of the certificate and its key.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), False)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(self._key, hashes.SHA256())
        )
        stem = common_name.replace("/", "_")
        certificate_path = self._write(
            f"{stem}.pem", certificate.public_bytes(serialization.Encoding.PEM)
        )
        key_path = self._write(f"{stem}.key", key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ))
        return certificate_path, key_path
