"""Which addresses Giru may connect to, and which host a URL really names.

An SSRF check must judge what the HTTP client will connect to, not the URL as written. Hosts are
mapped the way the clients map them (IDNA with UTS #46: fullwidth and circled digits, the
ideographic full stop and friends all become ASCII) before they are judged; a non-ASCII host that
maps to a numeric host, and numeric forms that resolvers read as IPv4 (`0x7f.1`, `2130706433`,
`0177.0.0.1`), are refused outright. The same `AddressPolicy` judges resolved addresses at
connect time (`giru.egress.sessions`, `giru.egress.transports`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import idna

__all__ = [
    "PUBLIC",
    "UPSTREAMS",
    "AddressPolicy",
    "EgressRefusedError",
    "IPAddress",
    "RedirectRefusedError",
    "Target",
    "egress_refusal",
    "normalize_host",
    "parse_target",
    "url_problem",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_HOSTS: Final = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2"}
)
_METADATA_ADDRESSES: Final = frozenset(
    {
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6 (169.254.169.254 is link-local)
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
_THIS_NETWORK: Final = ipaddress.ip_network("0.0.0.0/8")
_RESERVED_V4: Final = ipaddress.ip_network("240.0.0.0/4")  # includes 255.255.255.255
_NAT64: Final = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPATIBLE: Final = ipaddress.ip_network("::/96")
_NAME: Final = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_NUMERIC_LABEL: Final = re.compile(r"0x[0-9a-f]*|[0-9]+")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class EgressRefusedError(OSError):
    """An outbound connection the egress policy refuses (raised before any byte is sent)."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"egress to {target} refused: {reason}")
        self.target = target
        self.reason = reason


REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
"""The statuses that send a client elsewhere (with a Location): never followed by Giru's
upstream clients unless a session says so."""


class RedirectRefusedError(EgressRefusedError):
    """A 3xx answer from a client that does not follow redirects."""

    def __init__(self, target: str, status: int, location: str) -> None:
        super().__init__(target, f"HTTP {status} redirect to {location!r} is not followed")
        self.status = status
        self.location = location


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Where outbound connections may go.

    Unspecified (`0.0.0.0/8`, `::`), link-local (`169.254/16`, `fe80::/10`: cloud metadata),
    known metadata addresses, multicast and reserved addresses are always refused, also inside
    IPv6 forms that embed an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo).
    """

    allow_loopback: bool = True
    """`127/8`, `::1` and the `localhost` names."""
    allow_private: bool = True
    """Every other non-global address: RFC 1918, `100.64/10`, `fc00::/7`, documentation ranges."""

    def refusal(self, address: IPAddress | str) -> str | None:
        """Why connecting to `address` is refused, or None when it is allowed."""
        try:
            parsed = ipaddress.ip_address(address) if isinstance(address, str) else address
        except ValueError:
            return f"{address!r} is not an IP address"
        if isinstance(parsed, ipaddress.IPv6Address):
            parsed = parsed.ipv4_mapped or ipaddress.IPv6Address(int(parsed))  # drops a zone
        kind = self._refused_kind(parsed)
        if kind is not None:
            return f"address {parsed} is {kind}"
        if isinstance(parsed, ipaddress.IPv6Address):
            for inner in _embedded_ipv4(parsed):
                kind = self._refused_kind(inner)
                if kind is not None:
                    return f"address {parsed} embeds {inner}, which is {kind}"
        return None

    def host_refusal(self, host: str) -> str | None:
        """Why a normalized host *name* is refused before it is even resolved."""
        if host in _METADATA_HOSTS:
            return f"host {host} is a cloud metadata endpoint"
        if not self.allow_loopback and (host == "localhost" or host.endswith(".localhost")):
            return f"host {host} is loopback"
        return None

    def _refused_kind(self, address: IPAddress) -> str | None:
        kind = _kind(address)
        if kind == "global" or (kind == "loopback" and self.allow_loopback):
            return None
        return None if kind == "private" and self.allow_private else kind


UPSTREAMS: Final = AddressPolicy()
"""For operator-configured upstreams: loopback and private networks allowed."""
PUBLIC: Final = AddressPolicy(allow_loopback=False, allow_private=False)
"""For URLs that come from outside (client metadata documents, discovery): global only."""


def _kind(address: IPAddress) -> str:
    if address.is_unspecified or address in _THIS_NETWORK:
        return "unspecified"
    if address.is_link_local:
        return "link-local (cloud metadata lives there)"
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_multicast:
        return "multicast"
    if address in _RESERVED_V4:
        return "reserved"
    if address.is_loopback:
        return "loopback"
    return "global" if address.is_global else "private"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found: list[ipaddress.IPv4Address] = []
    if address in _NAT64 or (address in _V4_COMPATIBLE and int(address) > 1):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


@dataclass(frozen=True, slots=True)
class Target:
    """What a URL connects to: its scheme, normalized ASCII host and port."""

    scheme: str
    host: str
    """Lowercase ASCII, no brackets, no trailing dot; an IP address in its compressed form."""
    port: int
    address: IPAddress | None
    """The host as an address when it is an IP literal."""

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def parse_target(url: str) -> Target:
    """Parse an http(s) URL into what it connects to.

    Raises:
        ValueError: The URL is not one Giru connects to; the message says why.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from exc
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError("scheme must be http or https")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in the URL are not allowed")
    port = _port(parts.netloc)
    written = parts.hostname
    if not written:
        raise ValueError("a host is required")
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    host = normalize_host(written, bracketed=bracketed)
    address = ipaddress.ip_address(host) if bracketed or _is_dotted_quad(host) else None
    return Target(parts.scheme, host, port or _DEFAULT_PORTS[parts.scheme], address)


def url_problem(url: str, policy: AddressPolicy = UPSTREAMS) -> str | None:
    """Why `url` may not be connected to under `policy`, or None when it may (at validation
    time: host names are judged by name; their addresses are judged at connect time)."""
    try:
        target = parse_target(url)
    except ValueError as exc:
        return str(exc)
    if target.address is not None:
        return policy.refusal(target.address)
    return policy.host_refusal(target.host)


def normalize_host(host: str, *, bracketed: bool = False) -> str:
    """The host as the HTTP clients will use it: IDNA-mapped, lowercase, no trailing dot.

    Raises:
        ValueError: The host is refused; the message says why.
    """
    if bracketed:
        return _ipv6_literal(host)
    mapped = (host if host.isascii() else _idna_map(host)).lower()
    name = mapped.removesuffix(".")
    if not _NAME.fullmatch(name):
        raise ValueError(f"host {host!r} is not a valid host name")
    labels = name.split(".")
    if not all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        return name
    if not host.isascii():
        raise ValueError(
            f"host {host!r} is written with non-ASCII characters that normalize to the numeric "
            f"host {name}; write the address in ASCII"
        )
    if not _is_dotted_quad(name):
        seen = _inet_aton(labels)
        reads = f" (resolvers read it as {seen})" if seen is not None else ""
        raise ValueError(f"host {name} is an ambiguous numeric address{reads}; write a dotted quad")
    return name


def egress_refusal(exc: BaseException) -> EgressRefusedError | None:
    """The `EgressRefusedError` behind `exc` (itself, its cause or context chain), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, EgressRefusedError):
            return current
        seen.add(id(current))
        wrapped = getattr(current, "os_error", None)  # aiohttp's connector errors
        if isinstance(wrapped, EgressRefusedError):
            return wrapped
        current = current.__cause__ or current.__context__
    return None


def _port(netloc: str) -> int | None:
    hostport = netloc.rpartition("@")[2]
    _, bracket, rest = hostport.rpartition("]")
    text = rest if bracket else hostport
    if ":" not in text:
        return None
    digits = text.rpartition(":")[2]
    if not digits:
        return None
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"not a valid URL (port {digits!r} is not a number)")
    if int(digits) > 65535:
        raise ValueError(f"not a valid URL (port {digits} is out of range 0-65535)")
    return int(digits)


def _ipv6_literal(host: str) -> str:
    if not host.isascii():
        raise ValueError(f"host {host!r} is not a valid IPv6 address")
    if "%" in host:
        raise ValueError(f"host {host!r} has a zone identifier; it is not allowed")
    try:
        return str(ipaddress.IPv6Address(host))
    except ValueError as exc:
        raise ValueError(f"host {host!r} is not a valid IPv6 address") from exc


def _idna_map(host: str) -> str:
    """What yarl (aiohttp) makes of a non-ASCII host: UTS #46 first, then IDNA 2003."""
    if any(_is_invisible(char) for char in host):
        raise ValueError(f"host {host!r} contains invisible characters")
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except UnicodeError:
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"host {host!r} is not a valid internationalized name") from exc


def _is_invisible(char: str) -> bool:
    # What IDNA maps to nothing (so `e<ZWSP>vil.com` would silently become `evil.com`).
    return idna.uts46_remap(char, std3_rules=False, transitional=False) == ""


def _is_dotted_quad(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _inet_aton(labels: list[str]) -> ipaddress.IPv4Address | None:
    """The address the BSD `inet_aton` reads from numeric labels (hex, octal, short forms)."""
    try:
        values = [_label_value(label) for label in labels]
    except ValueError:
        return None
    if not 1 <= len(values) <= 4 or any(value > 255 for value in values[:-1]):
        return None
    tail_bits = 8 * (5 - len(values))
    if values[-1] >= 1 << tail_bits:
        return None
    number = values[-1]
    for index, value in enumerate(values[:-1]):
        number |= value << (24 - 8 * index)
    return ipaddress.IPv4Address(number)


def _label_value(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:], 16)
    return int(label, 8 if len(label) > 1 and label.startswith("0") else 10)
