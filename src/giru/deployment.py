"""The production topology's processes (docs/deployment/): what each one runs, on which port, with
which settings. `make stack` (tests/stack.py) builds its processes from here; the image, the
Compose file and the Helm chart are checked against it by tests/deploy, so the four cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CONTROL_ENV",
    "ENVOY_VERSION",
    "OPA_VERSION",
    "PORTS",
    "SECRET_ENV",
    "SHARED_ENV",
    "WORKER_ENV",
    "Ports",
    "control_command",
    "envoy_command",
    "opa_command",
    "worker_command",
]

ENVOY_VERSION: Final = "1.40.0"
OPA_VERSION: Final = "1.22.3"


@dataclass(frozen=True)
class Ports:
    """The well-known ports. PostgreSQL and Redis are the ports `make stack` listens on and
    Compose publishes (beside any system servers on 5432/6379); inside a container or a
    Kubernetes Service they keep their own (5432, 6379). Workers listen on free ports under
    `make stack` (several share one host) and on `worker`/`authz` in containers."""

    edge: int = 8080
    tls: int = 8443
    admin: int = 9901
    control: int = 18000
    xds: int = 19000
    opa: int = 8181
    postgres: int = 15432
    redis: int = 16379
    worker: int = 8081
    authz: int = 9001


PORTS: Final = Ports()

SHARED_ENV: Final = (
    "GIRU_DATABASE_URL",
    "GIRU_REDIS_URL",
    "GIRU_KEY_PEPPER",
    "GIRU_SECRETS__KEY",
    "GIRU_ADMIN_TOKEN",
    "GIRU_POLICY__URL",
    "GIRU_POLICY__BUNDLE_TOKEN",
    "GIRU_LOG_FORMAT",
    "GIRU_METERING__SPOOL_DIR",
    "GIRU_AUDIT__SPOOL_DIR",
)
"""Every Giru process (control plane and workers) gets these."""

SECRET_ENV: Final = (
    "GIRU_KEY_PEPPER",
    "GIRU_SECRETS__KEY",
    "GIRU_ADMIN_TOKEN",
    "GIRU_POLICY__BUNDLE_TOKEN",
)
"""The secret ones: environment under `make stack`, files in /run/secrets named exactly so under
Compose (Giru reads that directory, giru.settings), Secret references under Kubernetes."""

CONTROL_ENV: Final = (
    "GIRU_XDS__LISTEN",
    "GIRU_XDS__WORKERS",
    "GIRU_XDS__AUTHZ",
    "GIRU_XDS__CONTROL",
    "GIRU_XDS__EDGE_LISTEN",
    "GIRU_XDS__TLS_LISTEN",
    "GIRU_XDS__TLS_CERT",
    "GIRU_XDS__TLS_KEY",
)
"""What makes a Giru process the control plane (the xDS server for Envoy)."""

WORKER_ENV: Final = ("GIRU_WORKER_NAME", "GIRU_XDS__AUTHZ_LISTEN")
"""What makes a Giru process a gateway worker behind Envoy."""


def control_command(listen: str, config: str | None) -> list[str]:
    """The control plane: the API, the xDS server and, with `config`, GitOps manifests."""
    return ["giru", "run", "--listen", listen, *(("--config", config) if config else ())]


def worker_command(listen: str) -> list[str]:
    """A gateway worker: it reads the store and follows change events, no manifests."""
    return ["giru", "run", "--listen", listen]


def opa_command(addr: str, config_file: str) -> list[str]:
    """The shared OPA: it pulls its bundle from the control plane (the config file says where)."""
    return [
        *("opa", "run", "--server", "--addr", addr, "--config-file", config_file),
        *("--skip-version-check", "--log-level", "error"),
    ]


def envoy_command(config_file: str) -> list[str]:
    """Envoy at the edge: its only static config is the bootstrap (giru.xds.bootstrap)."""
    return ["envoy", "-c", config_file, "--disable-hot-restart", "--log-level", "warn"]
