"""Where a webhook may be sent (SSRF): checked when an endpoint is registered and again at every attempt.

A URL must be http or https, with a host, without user:password, and every address its host resolves to must
be public: loopback, private (RFC 1918, IPv6 ULA), link-local, multicast, reserved, unspecified, CGNAT
(100.64/10), documentation and other non-global ranges are refused, as are IPv6 addresses that embed one
(IPv4-mapped, NAT64 64:ff9b::/96, 6to4, Teredo), and the cloud metadata addresses by name. A host (or host:port)
listed in WEBHOOK_ALLOWED_HOSTS skips the address check. The sender then connects to the addresses checked here,
never resolving the name again (sender.py), so DNS cannot answer differently between check and connect.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_ADDRESSES = 16


class Refused(ValueError):
    """The URL may not be used: the message says why, in an operator's words (a 422 at registration, a
    failed delivery at send time)."""


class Unresolvable(OSError):
    """The host has no address right now (DNS failure): a send tries again later."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written, lower-cased, without brackets (an IPv6 literal is bare)
    port: int
    path: str  # path and query, what the request line carries
    host_header: str  # Host: header value


@dataclass(frozen=True)
class Resolved:
    target: Target
    addresses: tuple[IP, ...]  # checked, in the resolver's order; the sender connects to these only


def parse(url: str) -> Target:
    """The parts of a webhook URL; Refused for anything but http(s)://host[:port]/path?query without userinfo."""
    if not isinstance(url, str) or not url.strip():
        raise Refused("a URL is required")
    if len(url) > 2000:
        raise Refused("the URL is longer than 2000 characters")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise Refused("the URL contains spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise Refused("only http:// and https:// URLs can receive webhooks")
    if "@" in parts.netloc:
        raise Refused("the URL may not contain a user name or password (put a token in the path or query)")
    host = (parts.hostname or "").lower()
    if not host:
        raise Refused("the URL has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("the URL's port is not a number between 1 and 65535") from None
    if port == 0:
        raise Refused("the URL's port is not a number between 1 and 65535")
    try:
        host.encode("idna")
    except UnicodeError:
        raise Refused("the URL's host is not a valid host name") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    shown = f"[{host}]" if ":" in host else host
    default = port == (443 if parts.scheme == "https" else 80)
    return Target(parts.scheme, host, port, path, shown if default else f"{shown}:{port}")


def allowed(target: Target, allowed_hosts: tuple[str, ...]) -> bool:
    """The host, or host:port, is listed in WEBHOOK_ALLOWED_HOSTS (IPv6 literals with or without brackets)."""
    names = {target.host, f"[{target.host}]"}
    candidates = names | {f"{name}:{target.port}" for name in names}
    return any(entry in candidates for entry in allowed_hosts)


def _embedded(ip: IP) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return ip.teredo[1] if ip.teredo is not None else None


def blocked(ip: IP) -> str | None:
    """Why `ip` may not receive webhooks, or None when it is a public address."""
    if ip in METADATA:
        return "cloud metadata"
    inner = _embedded(ip)
    if inner is not None:
        reason = blocked(inner)
        return f"{reason} (embedded in an IPv6 address)" if reason else None
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared (CGNAT)", isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
    )
    for name, hit in checks:
        if hit:
            return name
    return None if ip.is_global else "non-public"


def resolve(target: Target) -> tuple[IP, ...]:
    """The host's addresses (an IP literal is its own). One getaddrinfo; Unresolvable when DNS fails."""
    try:
        return (ipaddress.ip_address(target.host),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Unresolvable(f"cannot resolve {target.host}: {error}") from None
    found: dict[IP, None] = {}
    for info in infos:
        try:
            found[ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])] = None
        except ValueError:
            continue
    if not found:
        raise Unresolvable(f"{target.host} has no address")
    return tuple(found)[:MAX_ADDRESSES]


def check(url: str, allowed_hosts: tuple[str, ...] = ()) -> Resolved:
    """Parse, resolve and check `url`: Refused when any address is not public (unless allowed), Unresolvable
    when the name does not resolve. Costs one DNS lookup."""
    target = parse(url)
    addresses = resolve(target)
    if not allowed(target, allowed_hosts):
        for ip in addresses:
            reason = blocked(ip)
            if reason:
                named = "" if str(ip) == target.host else f"{target.host} resolves to "
                raise Refused(
                    f"{named}{ip}, a {reason} address: refused (add {target.host} to WEBHOOK_ALLOWED_HOSTS to allow it)"
                )
    return Resolved(target, addresses)
