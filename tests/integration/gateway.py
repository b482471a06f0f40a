"""Run a real `giru run` process on a free loopback port over a temporary manifest directory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.peers import free_port

REPO = Path(__file__).resolve().parents[2]
GIRU = REPO / ".venv" / "bin" / "giru"
KEY = "e2e-key-0123456789"
ADMIN_TOKEN = "e2e-admin-token-0123456789"
SERVERS = REPO / "tests" / "integration" / "upstream" / "servers"


@dataclass(frozen=True)
class RunningGiru:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEY}"}

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


class RestartableServer:
    """An HTTP MCP server process on a listening socket the test owns (`argv(fd)` serves that
    file descriptor), so a new process can take the same port: connections wait in the backlog
    while none serves it."""

    def __init__(
        self, argv: Callable[[int], list[str]], env: Mapping[str, str] | None = None
    ) -> None:
        self._argv = argv
        self._env = env
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/mcp"
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        fd = self.sock.fileno()
        return subprocess.Popen(self._argv(fd), pass_fds=(fd,), env=self._env)

    def stop(self) -> None:
        """Kill the serving process (SIGTERM would wait for its handlers' graceful shutdown)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.process = self._spawn()

    def close(self) -> None:
        self.stop()
        self.sock.close()


def python_stdio_server(
    name: str,
    script: str = "everything.py",
    *args: str,
    isolation: str = "shared",
    timeouts: str = "{call: 5s, callMax: 20s, connect: 20s}",
    trust: str = "pin",
) -> str:
    """An MCPServer manifest for one of the Python test servers (`servers/`) over stdio;
    `args` follow the script (default: `stdio`); `trust: auto` for a server whose tools are
    meant to change (tool trust holds changes otherwise)."""
    argv = ", ".join(f'"{arg}"' for arg in (str(SERVERS / script), *(args or ("stdio",))))
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: stdio
  command: {sys.executable}
  args: [{argv}]
  env: {{PYTHONPATH: "{os.pathsep.join(sys.path)}"}}
  timeouts: {timeouts}
  isolation: {isolation}
  trust: {trust}
"""


def http_server(
    name: str,
    transport: str,
    url: str,
    era: str = "auto",
    timeouts: str = "{call: 5s, callMax: 20s, connect: 20s}",
) -> str:
    return f"""
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: {name}}}
spec:
  transport: {transport}
  url: {url}
  timeouts: {timeouts}
  era: {era}
"""


CLIENT = """
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: e2e}
spec:
  apiKeyEnv: GIRU_E2E_KEY
  servers: ["*"]
"""


def virtual_server(name: str, servers: list[str], *, prefix: bool, auth: str | None = None) -> str:
    """A VirtualServer manifest; `auth` (e.g. `none`) when not the default."""
    return f"""
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {{name: {name}}}
spec:
  servers: {servers}
  prefix: {str(prefix).lower()}
""" + (f"  auth: {auth}\n" if auth is not None else "")


@contextmanager
def run_giru(
    manifests: str | None,
    workdir: Path,
    *,
    ready_timeout: float = 60.0,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Iterator[RunningGiru]:
    """Start Giru over `manifests` (YAML documents joined by ---; None: the store alone) and
    stop it afterwards. Each run has its own SQLite store in `workdir`; `args` are more
    `giru run` options."""
    argv = [str(GIRU), "run", *args]
    if manifests is not None:
        config = workdir / "giru.yaml"
        config.write_text(manifests)
        argv += ["--config", str(config)]
    port = free_port()
    log = workdir / "giru.log"
    env = {
        **os.environ,
        "GIRU_E2E_KEY": KEY,
        "GIRU_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'giru.db'}",
        "GIRU_METERING__SPOOL_DIR": str(workdir / "spool"),
        "GIRU_ADMIN_TOKEN": ADMIN_TOKEN,
        **(extra_env or {}),
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*argv, "--listen", f"127.0.0.1:{port}"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
    running = RunningGiru(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_ready(running, ready_timeout)
        yield running
    finally:
        _stop(process)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


def _wait_ready(running: RunningGiru, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"giru exited early:\n{running.log.read_text()[-4000:]}")
        try:
            if httpx.get(running.url("/readyz"), timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"giru not ready after {timeout}s:\n{running.log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
