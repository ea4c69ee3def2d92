"""Where Postwerk may connect on a tenant's behalf: SMTP, POP-before-SMTP,
mailboxes and OAuth identity providers.

A tenant admin types host names; without a check, the web process and the
shared workers would connect wherever they point: the cloud's metadata
service, an internal host, a port scan of the private network. So:

- link-local (169.254.0.0/16, fe80::/10, which hold the cloud metadata
  services), the metadata addresses of the big clouds, unspecified,
  multicast and reserved addresses are always refused;
- private (RFC 1918, fc00::/7, 100.64.0.0/10) and loopback ranges are
  refused when ``POSTWERK_PRIVATE_TARGETS=refuse`` (hosted installations);
- ``POSTWERK_TARGET_ALLOWLIST`` (addresses, networks, host names) lets an
  on-premises server through whatever the rules above say.

The check runs at save (``check_host``: literal addresses, and names that
resolve) and again at connect time on the resolved addresses before any
connection is opened (``check_connect``), and on the peer of the opened
socket before anything secret is sent (``check_peer``), so a name that
resolves differently the second time (DNS rebinding) gets no password.
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
        return "a loopback address"
    if refuse_private and (ip.is_private or ip in SHARED):
        return "a private network address"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError(f"cannot resolve {host}") from exc
    return sorted({info[4][0] for info in infos})


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
            raise TargetRefused(f"{host} is {reason}; Postwerk does not connect there")


def check_connect(host: str, port: int) -> None:
    """At connect time, before the connection is opened: every address the
    name resolves to must be allowed."""
    for address in _resolve(host.strip("[]"), port):
        reason = refusal(address, host)
        if reason:
            raise TargetRefused(f"{host} is {reason}; Postwerk does not connect there")


def check_peer(sock: socket.socket, host: str) -> None:
    """After connect, before anything secret is sent: the address actually
    reached must be allowed (a second DNS answer may differ from the first)."""
    reason = refusal(sock.getpeername()[0], host)
    if reason:
        raise TargetRefused(f"{host} is {reason}; Postwerk does not connect there")


def check_url(url: str) -> urllib.parse.SplitResult:
    """An identity provider's URL, parsed (never prefix-tested): https, or
    http to loopback only; no user info; a host that ``check_host`` allows."""
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
    check_host(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    return parts
