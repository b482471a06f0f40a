"""Where the edge's parts are (Envoy's listeners, the workers, ext_authz, the control plane) and
the names the snapshot gives its resources."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any

from giru.errors import ConfigError
from giru.settings import Settings
from giru.upstream.base import Timeouts

__all__ = [
    "AUTHZ",
    "CERT_SECRET",
    "CONTROL",
    "ROUTES",
    "WORKERS",
    "XDS",
    "Address",
    "EdgeTopology",
    "EdgeTracing",
    "TlsFiles",
    "Worker",
    "is_ip",
    "parse_address",
    "session_cluster",
    "worker_cluster",
]

ROUTES = "giru_routes"
CERT_SECRET = "giru_edge_cert"  # noqa: S105 - the SDS resource name, not a secret
WORKERS = "giru_workers"
CONTROL = "giru_control"
AUTHZ = "giru_authz"
XDS = "giru_xds"
"""The bootstrap's static cluster (deploy/envoy/bootstrap.yaml): ADS and SDS come from it."""
_ANSWER_MARGIN_S = 10.0
"""After the longest silent wait, time for the worker to write its answer (a refusal at the
approval timeout, an upstream call cancelled at its deadline) before the edge gives up."""


@dataclass(frozen=True, order=True)
class Address:
    host: str
    port: int

    def socket(self) -> dict[str, Any]:
        return {"socket_address": {"address": self.host, "port_value": self.port}}


@dataclass(frozen=True, order=True)
class Worker:
    name: str
    address: Address


@dataclass(frozen=True)
class TlsFiles:
    """The edge certificate as read from its files (PEM)."""

    chain: str
    key: str


@dataclass(frozen=True)
class EdgeTracing:
    """Where and how Envoy sends its spans (giru.xds.tracing)."""

    collector: Address
    protocol: str
    """`grpc` or `http/protobuf`."""
    path: str
    """The OTLP/HTTP path (`/v1/traces`); unused over gRPC."""
    tls: bool
    service_name: str
    sampling_percent: float


@dataclass(frozen=True)
class EdgeTopology:
    """Where things are: Envoy's listeners, the workers, ext_authz and the control plane."""

    edge: Address
    tls: Address | None
    workers: tuple[Worker, ...]
    authz: tuple[Address, ...]
    control: Address
    session_idle_s: float
    max_body_bytes: int
    access_log: str = "/dev/stdout"
    max_headers: int = 100
    """Envoy's header limits are the workers' own (GIRU_HTTP__MAX_HEADERS, _MAX_HEADER_BYTES)."""
    max_header_bytes: int = 32 * 1024
    tracing: EdgeTracing | None = None
    """Envoy's own spans; None: Envoy does not trace."""
    edge_check: bool = False
    """Envoy checks credentials itself (giru.xds.keycheck); never with ext_authz."""
    call_silence_s: float = 0.0
    """The longest a tools/call may send nothing back: a person's approval (the caller's
    yes/no form, then the admin queue) and then the upstream call (an MCPServer's default
    `spec.timeouts.callMax`). The MCP routes' idle timeout is never shorter."""

    @property
    def stream_idle_s(self) -> int:
        """The MCP routes' idle timeout: the session idle timeout, or longer when a call parked
        for approval could stay silent longer (whole seconds, rounded up; never 0, which Envoy
        takes for no timeout)."""
        longest = self.call_silence_s + _ANSWER_MARGIN_S if self.call_silence_s else 0.0
        return max(1, math.ceil(max(self.session_idle_s, longest)))

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        control_port: int | None = None,
        tracing: EdgeTracing | None = None,
    ) -> EdgeTopology:
        """`control_port`: the port this process really listens on (when it asked for 0);
        `tracing`: giru.xds.tracing.edge_tracing of this process's settings and variables."""
        xds = settings.xds
        control = parse_address(xds.control) if xds.control else None
        if control is None:
            host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
            control = Address(host, control_port or settings.port)
        workers = tuple(sorted(_worker(entry) for entry in xds.workers))
        names = [worker.name for worker in workers]
        if len(set(names)) != len(names):
            raise ConfigError(f"xds.workers: worker names must be unique, got {names}")
        if xds.tls_listen and not (xds.tls_cert and xds.tls_key):
            raise ConfigError("xds.tls_listen needs xds.tls_cert and xds.tls_key (PEM files)")
        return cls(
            edge=parse_address(xds.edge_listen),
            tls=parse_address(xds.tls_listen) if xds.tls_listen else None,
            workers=workers,
            authz=tuple(parse_address(entry) for entry in xds.authz),
            control=control,
            session_idle_s=settings.sessions.idle_timeout_s,
            max_body_bytes=settings.http.max_body_bytes,
            access_log=xds.access_log,
            max_headers=settings.http.max_headers,
            max_header_bytes=settings.http.max_header_bytes,
            tracing=tracing,
            edge_check=xds.edge_check == "keys" and not xds.authz,
            call_silence_s=settings.approvals.elicitation_timeout_s
            + settings.approvals.timeout_s
            + Timeouts().call_max,
        )


def is_ip(host: str) -> bool:
    """True for an IPv4 or IPv6 literal, False for a DNS name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_address(text: str) -> Address:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{text!r} is not HOST:PORT")
    return Address(host.strip("[]"), int(port))


def _worker(entry: str) -> Worker:
    name, sep, address = entry.partition("=")
    if not sep or not name:
        raise ConfigError(f"xds.workers: {entry!r} is not NAME=HOST:PORT")
    return Worker(name, parse_address(address))


def worker_cluster(worker: Worker) -> str:
    return f"giru_worker_{worker.name}"


def session_cluster(worker: Worker) -> str:
    return f"giru_session_{worker.name}"
