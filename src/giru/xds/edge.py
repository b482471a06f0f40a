"""The control plane's side of the edge: keeps Envoy's snapshot equal to the registry (virtual
servers) and to the TLS certificate files, and serves it over ADS."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from prometheus_client import CollectorRegistry, Gauge

from giru.errors import ConfigError
from giru.settings import Settings
from giru.xds.ads import AdsServer
from giru.xds.keycheck import EdgeAccess
from giru.xds.serving import grpc_server
from giru.xds.snapshot import build_snapshot
from giru.xds.topology import EdgeTopology, TlsFiles
from giru.xds.tracing import edge_tracing

__all__ = ["EdgeControl", "read_tls"]

_log = structlog.get_logger(__name__)
_TLS_POLL_S = 1.0


class EdgeControl:
    """Rebuilds and publishes the snapshot when the virtual servers or the certificate change.
    A certificate that does not load is refused and the last good one stays in service."""

    def __init__(
        self,
        topology: EdgeTopology,
        ads: AdsServer,
        tls_paths: tuple[Path, Path] | None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._expiry = Gauge(
            "giru_tls_certificate_expiry_timestamp_seconds",
            "When the edge's TLS certificate in service expires (epoch seconds; the leaf's "
            "notAfter), by listener.",
            ["listener"],
            registry=registry if registry is not None else CollectorRegistry(),
        )
        self.topology = topology
        self.ads = ads
        self._tls_paths = tls_paths
        self._tls: TlsFiles | None = None
        self._tls_stamp: tuple[float, float] | None = None
        self._virtual_servers: tuple[str, ...] = ()
        self._access: EdgeAccess | None = None

    def update(self, virtual_servers: Iterable[str], access: EdgeAccess | None = None) -> None:
        """Publish the routes of `virtual_servers` and, when given, what the edge's own
        credential check holds now (else the last one given)."""
        self._virtual_servers = tuple(sorted(virtual_servers))
        if access is not None:
            self._access = access
        self._publish()

    def check_tls(self) -> bool:
        """Reload the certificate files when they changed; True when a new one is in service."""
        if self._tls_paths is None:
            return False
        try:
            stamp = tuple(path.stat().st_mtime for path in self._tls_paths)
        except OSError as exc:
            _log.error("edge_tls_unreadable", error=str(exc))
            return False
        if stamp == self._tls_stamp:
            return False
        self._tls_stamp = (stamp[0], stamp[1])
        try:
            self._tls = read_tls(*self._tls_paths)
        except ConfigError as exc:
            _log.error("edge_tls_refused", error=exc.message, kept="the last good certificate")
            return False
        self._publish()
        self._expiry.labels("https").set(_not_after(self._tls.chain))
        _log.info("edge_tls_loaded", cert=str(self._tls_paths[0]))
        return True

    async def watch_tls(self) -> None:
        """Rotation without a restart: replace the files (atomically: write, then rename)."""
        while True:
            await asyncio.sleep(_TLS_POLL_S)
            self.check_tls()

    def _publish(self) -> None:
        access = self._access
        snapshot = build_snapshot(self.topology, self._virtual_servers, self._tls, access)
        self.ads.publish(snapshot)
        _log.info(
            "edge_snapshot_published",
            virtual_servers=len(self._virtual_servers),
            workers=len(self.topology.workers),
            tls=self._tls is not None,
            edge_check=self.topology.edge_check and not self.topology.authz,
            live_key_ids=None if access is None or access.key_ids is None else len(access.key_ids),
        )

    @classmethod
    @contextlib.asynccontextmanager
    async def serving(
        cls,
        settings: Settings,
        virtual_servers: Iterable[str],
        *,
        registry: CollectorRegistry | None,
        control_port: int | None = None,
        env: Mapping[str, str] | None = None,
        access: EdgeAccess | None = None,
    ) -> AsyncIterator[EdgeControl]:
        """The ADS server on `xds.listen` with the first snapshot already published; Envoy
        traces when `env` (default: this process's environment) and the settings turn tracing
        on."""
        xds = settings.xds
        if xds.listen is None:
            raise ConfigError("xds.listen is not set")
        tracing = edge_tracing(settings.otel, os.environ if env is None else env)
        topology = EdgeTopology.from_settings(settings, control_port=control_port, tracing=tracing)
        paths = (xds.tls_cert, xds.tls_key) if xds.tls_cert and xds.tls_key else None
        edge = cls(topology, AdsServer(registry=registry), paths, registry=registry)
        if paths is not None and not edge.check_tls():
            raise ConfigError(f"xds.tls_cert/tls_key: {paths[0]} and {paths[1]} do not load")
        edge.update(virtual_servers, access)
        async with grpc_server(xds.listen, edge.ads.register, name="xds"):
            yield edge


def _not_after(chain: str) -> float:
    """The leaf certificate's notAfter, epoch seconds (`chain` loaded once already)."""
    return x509.load_pem_x509_certificates(chain.encode())[0].not_valid_after_utc.timestamp()


def read_tls(chain_path: Path, key_path: Path) -> TlsFiles:
    """The PEM chain and key, checked to load and to belong together."""
    try:
        chain = chain_path.read_text()
        key = key_path.read_text()
        certificate = x509.load_pem_x509_certificates(chain.encode())[0]
        private = serialization.load_pem_private_key(key.encode(), password=None)
    except (OSError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"{chain_path}, {key_path}: not a PEM certificate and key: {exc}"
        ) from exc
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if certificate.public_key().public_bytes(encoding, public) != private.public_key().public_bytes(
        encoding, public
    ):
        raise ConfigError(f"{key_path} is not the key of the certificate in {chain_path}")
    return TlsFiles(chain=chain, key=key)
