"""DKIM signatures (dkimpy) for a tenant that uploaded a key for its domain."""

from __future__ import annotations

from dataclasses import dataclass


# Signed headers: the ones a receiver shows or that identify the message.
SIGNED_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"MIME-Version",
    b"Content-Type",
    b"Auto-Submitted",
)


class DkimError(ValueError):
    """The uploaded key or the domain cannot sign."""


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_key_pem: str

    def check(self) -> None:
        """Refuse a bad key at upload, not at the first send."""
        self.sign(b"From: a@" + self.domain.encode() + b"\r\nSubject: check\r\n\r\nbody\r\n")

    def sign(self, payload: bytes) -> bytes:
        """The DKIM-Signature header line(s) to put in front of ``payload``."""
        # dkimpy loads dnspython's resolver (about 0.03 s of CPU): a worker
        # pays for it at its first signature, not at start (issue 15).
        import dkim as dkimpy

        try:
            header = dkimpy.sign(
                payload,
                self.selector.encode(),
                self.domain.encode(),
                self.private_key_pem.encode(),
                include_headers=list(SIGNED_HEADERS),
                linesep=b"\r\n",
            )
        except (dkimpy.DKIMException, ValueError, TypeError) as exc:
            raise DkimError(f"DKIM signing for {self.domain} (selector {self.selector}) failed: {exc}") from exc
        return header

    def applies_to(self, sender: str) -> bool:
        """Only sign mail whose From domain is (a subdomain of) the key's domain."""
        domain = sender.rpartition("@")[2].lower()
        own = self.domain.lower()
        return domain == own or domain.endswith("." + own)


def signed(payload: bytes, key: DkimKey | None, sender: str) -> bytes:
    if key is None or not key.applies_to(sender):
        return payload
    return key.sign(payload) + payload


def dns_record(key: DkimKey) -> tuple[str, str] | None:
    """(name, value) of the TXT record to publish for ``key``; None when the
    public key cannot be derived (then the admin publishes it from elsewhere)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    try:
        private = serialization.load_pem_private_key(key.private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        return None
    public = private.public_key()
    if isinstance(private, rsa.RSAPrivateKey):
        kind, raw = (
            "rsa",
            public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
        )
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        kind, raw = "ed25519", public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        return None
    return f"{key.selector}._domainkey.{key.domain}", f"v=DKIM1; k={kind}; p={base64.b64encode(raw).decode()}"
