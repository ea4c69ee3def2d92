"""Where Postwerk may connect on a tenant's behalf: SMTP, POP-before-SMTP,
mailboxes and OAuth identity providers.

A tenant admin types host names; without a check, the web process and the
shared workers would connect wherever they point: the cloud's metadata
service, an internal host, a port scan of the private network. So:

- link-local (169.254.0.0/16, fe80::/10, which hold the cloud metadata
  services), the metadata addresses of the big clouds, unspecified,
  multicast and reserved addresses are always refused;
- private (RFC 1918, fc00::/7, 100.64.0.0/10) and loopback ranges are
  refused when ``POSTWERK_PRIVATE_TARGETS=refuse``, the default outside
  development, tests and ``postwerk serve`` (core.config);
- ``POSTWERK_TARGET_ALLOWLIST`` (addresses, networks, host names) lets an
  on-premises server through whatever the rules above say.

The check runs at save (``check_host``: literal addresses, and names that
resolve) and again at connect time. Every connection Postwerk opens for a
tenant (SMTP, POP3, IMAP, the OAuth token call: all through
``core.mail.deadline.Deadline.connect``) is made by :func:`connect`, which
resolves the name once, checks every address, and connects to exactly those
addresses: a name that answers an allowed address to the check and a
forbidden one a moment later (DNS rebinding) never gets the second lookup
that would lead elsewhere. TLS still verifies the certificate against the
host name, and SMTP/IMAP/POP3 still greet with it. ``check_peer`` checks the
address actually reached once more before anything secret is sent.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.parse

from flask import current_app, has_app_context

LOOPBACK_NAMES = ("localhost", "localhost.localdomain")
# Metadata services outside link-local: AWS IPv6, Alibaba, Oracle.
METADATA = tuple(ipaddress.ip_network(n) for n in ("fd00:ec2::254/128", "100.100.100.200/32", "192.0.0.192/32"))
SHARED = ipaddress.ip_network("100.64.0.0/10")
LOOPBACK_REASON = "a loopback address"
PRIVATE_REASON = "a private network address"


class TargetRefused(ValueError):
    """This address is not a place Postwerk connects to."""


def _config() -> tuple[bool, tuple[str, ...]]:
    if not has_app_context():
        return False, ()
    config = current_app.config
    return config.get("PRIVATE_TARGETS", "allow") == "refuse", tuple(config.get("TARGET_ALLOWLIST", ()))


def is_loopback(host: str) -> bool:
    """A loopback host by its spelling alone (no DNS): 127.0.0.0/8, ::1, localhost."""
    host = (host or "").strip().lower().strip("[]").rstrip(".")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refusal(address: str, host: str = "") -> str | None:
    """Why ``address`` (an IP) may not be connected to; None when it may."""
    refuse_private, allow = _config()
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for entry in allow:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return None
        except ValueError:
            if host and entry.lower().rstrip(".") == host.lower().rstrip("."):
                return None
    if ip.is_link_local or any(ip in net for net in METADATA if net.version == ip.version):
        return "a link-local or cloud metadata address"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a server address"
    if refuse_private and ip.is_loopback:
        return LOOPBACK_REASON
    if refuse_private and (ip.is_private or ip in SHARED):
        return PRIVATE_REASON
    return None


def _refused(host: str, reason: str) -> TargetRefused:
    text = f"{host} is {reason}; Postwerk does not connect there"
    if reason in (LOOPBACK_REASON, PRIVATE_REASON):
        # The operator's way out, named where the admin meets the refusal.
        text += (
            " (private and loopback servers are refused on this installation; its operator can allow an "
            "on-premises server with POSTWERK_TARGET_ALLOWLIST)"
        )
    return TargetRefused(text)


def _lookup(host: str, port: int) -> list[tuple[int, tuple]]:
    """One DNS answer: (address family, socket address) pairs."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"cannot resolve {host}") from exc
    return [(info[0], info[4]) for info in infos]


def _resolve(host: str, port: int) -> list[str]:
    return sorted({sockaddr[0] for _, sockaddr in _lookup(host, port)})


def check_host(host: str, port: int = 0) -> None:
    """At save: refuse a host whose literal address, or any address it
    resolves to now, is refused. A name that does not resolve passes (the
    connection will be checked again)."""
    host = (host or "").strip().strip("[]")
    if not host:
        return
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = _resolve(host, port or 25)
        except OSError:
            return
    for address in addresses:
        reason = refusal(address, host)
        if reason:
            raise _refused(host, reason)


def _check_literal(host: str) -> None:
    try:
        address = str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return
    reason = refusal(address, host)
    if reason:
        raise _refused(host, reason)


def check_connect(host: str, port: int) -> None:
    """Every address the name resolves to now must be allowed (a check that
    connects nowhere; Postwerk's own connections are made by :func:`connect`,
    which checks the very answer it connects to)."""
    for address in _resolve(host.strip("[]"), port):
        reason = refusal(address, host)
        if reason:
            raise _refused(host, reason)


def connect(address: tuple[str, int], timeout: float | None) -> socket.socket:
    """``socket.create_connection``, pinned: resolve ``host`` once, refuse
    it when any of its addresses is refused, and connect to those very
    addresses (in the resolver's order), never to a fresh lookup's answer.

    Raises TargetRefused before any connection is opened; OSError as
    ``create_connection`` does when no address can be reached.
    """
    host, port = address
    host = host.strip().strip("[]")
    answer = _lookup(host, port)
    for _, sockaddr in answer:
        reason = refusal(sockaddr[0], host)
        if reason:
            raise _refused(host, reason)
    error: OSError | None = None
    for family, sockaddr in answer:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"cannot resolve {host}")


def check_peer(sock: socket.socket, host: str) -> None:
    """After connect, before anything secret is sent: the address actually
    reached must be allowed (a second DNS answer may differ from the first)."""
    reason = refusal(sock.getpeername()[0], host)
    if reason:
        raise _refused(host, reason)


def check_url(url: str, *, resolve: bool = True) -> urllib.parse.SplitResult:
    """An identity provider's URL, parsed (never prefix-tested): https, or
    http to loopback only; no user info; a host that ``check_host`` allows
    (with ``resolve=False`` a literal address only: :func:`connect` checks
    the name's addresses when it connects)."""
    parts = urllib.parse.urlsplit((url or "").strip())
    try:
        port = parts.port
    except ValueError:
        raise TargetRefused("the port of this address is not a number") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise TargetRefused("an address with a user name (user@host) is not allowed")
    if not parts.hostname or parts.query or parts.fragment:
        raise TargetRefused("use an https:// address with a host name, without ? or #")
    if parts.scheme == "https":
        pass
    elif parts.scheme == "http" and is_loopback(parts.hostname):
        pass
    else:
        raise TargetRefused("use an https:// address")
    if resolve:
        check_host(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    else:
        _check_literal(parts.hostname)
    return parts
