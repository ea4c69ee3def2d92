"""Test certificates: a private CA and server certificates, good and bad.

- ``ca_signed``:  issued by the test CA for ``localhost`` and ``127.0.0.1``;
  a client trusting the CA (``cafile=ca_cert``) verifies it.
- ``selfsigned``: right host names but not issued by the CA: an untrusted chain.
- ``wronghost``:  issued by the CA, but for ``wrong.example``: the chain is fine
  and only the host name check fails. Keeping the two failures apart lets a
  test show which of the two checks the client actually performs.

EC P-256 keys: generating them takes microseconds, where RSA takes a good
fraction of a second per key.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CertKind = Literal["ca_signed", "selfsigned", "wronghost"]


@dataclass(frozen=True)
class CertSet:
    """PEM files written by :func:`make_certs`."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    selfsigned_cert: Path
    selfsigned_key: Path
    wronghost_cert: Path
    wronghost_key: Path

    def server_context(self, kind: CertKind = "ca_signed") -> ssl.SSLContext:
        """A server-side SSLContext presenting the certificate of ``kind``."""
        cert, key = {
            "ca_signed": (self.server_cert, self.server_key),
            "selfsigned": (self.selfsigned_cert, self.selfsigned_key),
            "wronghost": (self.wronghost_cert, self.wronghost_key),
        }[kind]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the test CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


_cache: dict[Path, CertSet] = {}
_lock = threading.Lock()


def make_certs(directory: Path) -> CertSet:
    """Create the test CA and certificates in ``directory`` (once per process).

    Later calls with the same directory return the cached set, so a session
    fixture and individual tests can all ask for it cheaply.
    """
    directory = Path(directory).resolve()
    with _lock:
        if directory not in _cache:
            _cache[directory] = _generate(directory)
        return _cache[directory]


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Postwerk tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _leaf(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    san: list[x509.GeneralName],
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    # Backdated an hour so a slightly skewed clock does not make it "not yet valid".
    now = dt.datetime.now(dt.UTC)
    issuer_ski = x509.SubjectKeyIdentifier.from_public_key(issuer_key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # Key usage, EKU and key identifiers: what strict verifiers (Python
        # 3.13's VERIFY_X509_STRICT, browsers) insist on for a server cert.
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def _ca(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = _name("Postwerk Test CA")
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _write(path: Path, cert: x509.Certificate | None = None, key=None) -> Path:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)
    return path


def _generate(directory: Path) -> CertSet:
    directory.mkdir(parents=True, exist_ok=True)
    localhost = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]

    ca_key = _key()
    ca = _ca(ca_key)

    server_key = _key()
    server = _leaf("localhost", server_key, localhost, ca.subject, ca_key)

    # Self-signed: issuer is itself, so no chain leads to the test CA.
    self_key = _key()
    selfsigned = _leaf("localhost", self_key, localhost, _name("localhost"), self_key)

    wrong_key = _key()
    wronghost = _leaf("wrong.example", wrong_key, [x509.DNSName("wrong.example")], ca.subject, ca_key)

    return CertSet(
        directory=directory,
        ca_cert=_write(directory / "ca.pem", ca),
        ca_key=_write(directory / "ca-key.pem", key=ca_key),
        server_cert=_write(directory / "server.pem", server),
        server_key=_write(directory / "server-key.pem", key=server_key),
        selfsigned_cert=_write(directory / "selfsigned.pem", selfsigned),
        selfsigned_key=_write(directory / "selfsigned-key.pem", key=self_key),
        wronghost_cert=_write(directory / "wronghost.pem", wronghost),
        wronghost_key=_write(directory / "wronghost-key.pem", key=wrong_key),
    )
