"""Real PostgreSQL, Redis and Vault servers for tests (PostgreSQL and Redis from
`bash scripts/services.sh`, Vault from `make peers`: `.tools/bin/vault`).

Session-scoped fixtures start one server of each on a free loopback port in a temp dir and stop
and remove it at the end; the function-scoped `postgres_url` gives each test a fresh database and
`redis_url` a flushed Redis. Fault tests stop and restart a server mid-test through the session
fixtures (`postgres_server.stop()` / `.start()`, same port and data); the URL fixtures restart a
server a previous test left stopped.

PostgreSQL refuses to run as root: as root, initdb, pg_ctl and the server run as the `postgres`
system user (created by the Debian package; `nobody` when absent) in a temp dir it owns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.peers import LOOPBACK, PeerProcess, free_port, start_peer, wait_for_port

__all__ = [
    "PostgresServer",
    "RedisServer",
    "ServiceUnavailableError",
    "VaultServer",
    "find_postgres_bindir",
    "find_redis_server",
    "postgres_server",
    "postgres_url",
    "redis_server",
    "redis_url",
    "vault_server",
]

INSTALL_HINT = "install them with `bash scripts/services.sh` (or `make services`)"
START_TIMEOUT = 30.0  # seconds for a server to accept connections
STOP_TIMEOUT = 10.0  # seconds for a clean shutdown before SIGKILL
PG_SUPERUSER = "giru"
_PG_BINARIES = ("initdb", "pg_ctl", "postgres")


class ServiceUnavailableError(RuntimeError):
    """A server binary is missing or a server did not start."""


# --- binaries -----------------------------------------------------------------------------------


def find_postgres_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres: PATH first, then Debian's
    `/usr/lib/postgresql/<major>/bin` (newest major first), which is not on PATH."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).resolve().parent)
    debian = Path("/usr/lib/postgresql").glob("*/bin")
    candidates.extend(sorted(debian, key=_major_version, reverse=True))
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in _PG_BINARIES):
            return directory
    raise ServiceUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) are not on PATH nor in "
        f"/usr/lib/postgresql/*/bin: {INSTALL_HINT}"
    )


def _major_version(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else -1


def find_redis_server() -> Path:
    found = shutil.which("redis-server")
    if found is None:
        raise ServiceUnavailableError(f"redis-server is not on PATH: {INSTALL_HINT}")
    return Path(found)


# --- PostgreSQL ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OsUser:
    """Who the PostgreSQL processes run as (None fields: the current user)."""

    name: str | None = None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_postgres(cls) -> _OsUser:
        if os.geteuid() != 0:
            return cls()
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(name, entry.pw_uid, entry.pw_gid)
        raise ServiceUnavailableError("running as root, and neither a `postgres` nor `nobody` user")

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster under `root` (data, socket, log), reachable over TCP on
    127.0.0.1:`port` by the superuser `giru` without a password (trust auth)."""

    bindir: Path
    root: Path
    port: int
    os_user: _OsUser = field(default_factory=_OsUser)
    user: str = PG_SUPERUSER

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "postgres", driver: str = "postgresql+asyncpg") -> str:
        """A SQLAlchemy URL (`driver="postgresql"` gives a plain libpq/asyncpg DSN)."""
        return f"{driver}://{self.user}@{LOOPBACK}:{self.port}/{database}"

    @classmethod
    def create(cls, bindir: Path, root: Path, port: int | None = None) -> PostgresServer:
        """initdb into `root` (an empty dir); the server is not started."""
        os_user = _OsUser.for_postgres()
        os_user.chown(root)
        server = cls(bindir, root, port or free_port(), os_user)
        server._run(
            "initdb",
            *("-D", str(server.data_dir), "-U", server.user, "--auth=trust"),
            *("--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"),
        )
        settings = {
            "listen_addresses": f"'{LOOPBACK}'",
            "port": str(server.port),
            "unix_socket_directories": f"'{root}'",
            # Throwaway data: no fsync (a killed server keeps its commits in the OS page cache;
            # synchronous_commit stays on so `stop(mode="immediate")` loses no committed row).
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "log_min_messages": "warning",
        }
        with (server.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/services.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        return server

    @classmethod
    def existing(cls, bindir: Path, root: Path, port: int) -> PostgresServer:
        """A cluster an earlier `create` left in `root` (not started)."""
        return cls(bindir, root, port, _OsUser.for_postgres())

    @property
    def running(self) -> bool:
        done = self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False)
        return done.returncode == 0

    def start(self) -> None:
        """Starts the server and waits until it accepts connections (same port and data)."""
        self._run(
            "pg_ctl",
            *("start", "-D", str(self.data_dir), "-l", str(self.log_path)),
            *("-w", "-t", str(int(START_TIMEOUT))),
        )

    def stop(self, mode: str = "fast") -> None:
        """Stops the server: `fast` (clean, disconnects clients) or `immediate` (like a crash)."""
        if not self.running:
            return
        self._run(
            "pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(STOP_TIMEOUT)
        )

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def execute(self, *statements: str, database: str = "postgres") -> None:
        """Runs SQL statements one by one as the superuser (autocommit: CREATE DATABASE works)."""

        async def run() -> None:
            engine = create_async_engine(
                self.url(database),
                isolation_level="AUTOCOMMIT",
                poolclass=NullPool,
                connect_args={"timeout": 10, "command_timeout": 30},
            )
            try:
                async with engine.connect() as conn:
                    for statement in statements:
                        await conn.execute(text(statement))
            finally:
                await engine.dispose()

        _run_in_thread(run)

    def create_database(self) -> str:
        """Creates an empty database with a unique name (from template0) and returns the name."""
        name = f"giru_{uuid.uuid4().hex[:16]}"
        self.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        return name

    def drop_database(self, name: str) -> None:
        """Drops `name`, disconnecting whoever is still connected to it."""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def _run(self, binary: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / binary), *args]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,  # the OS user may not be allowed into the current directory
            user=self.os_user.uid,
            group=self.os_user.gid,
            extra_groups=[] if self.os_user.uid is not None else None,
            env={**os.environ, "LC_ALL": "C"},
            timeout=START_TIMEOUT + 30,
        )
        if check and done.returncode != 0:
            raise ServiceUnavailableError(
                f"{' '.join(argv)} exited with {done.returncode}"
                + (f" (as user {self.os_user.name})" if self.os_user.name else "")
                + f"\n{done.stdout}{done.stderr}\n{self.log_tail()}"
            )
        return done


def _run_in_thread(factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs a coroutine to completion on its own loop in a worker thread, so it works from sync
    fixtures whether or not the calling thread has a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, factory()).result(timeout=60)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for the session; stop()/start() it in fault tests."""
    try:
        bindir = find_postgres_bindir()
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="giru-pg-"))  # under /tmp: the OS user can reach it
    try:
        server = PostgresServer.create(bindir, root)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """`postgresql+asyncpg://giru@127.0.0.1:<port>/<db>` of a fresh empty database, dropped after
    the test (starts the server again if an earlier test left it stopped)."""
    postgres_server.ensure_running()
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.ensure_running()
        postgres_server.drop_database(name)


# --- Redis --------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A `redis-server` child process on 127.0.0.1:`port`, no persistence, run from `workdir`."""

    binary: Path
    port: int
    workdir: Path
    _process: PeerProcess | None = field(default=None, repr=False)

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    @property
    def argv(self) -> list[str]:
        return [
            str(self.binary),
            *("--port", str(self.port), "--bind", LOOPBACK),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            *("--dir", str(self.workdir)),
        ]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.process.poll() is None

    @property
    def pid(self) -> int:
        """The running server's process id (for CPU accounting)."""
        if self._process is None:
            raise ServiceUnavailableError("redis-server is not running")
        return self._process.process.pid

    def start(self) -> None:
        """Starts the server (same port) and waits until it answers PING."""
        if self.running:
            return
        process = start_peer("redis-server", self.argv, self.workdir)
        self._process = process
        try:
            wait_for_port(process, self.port, START_TIMEOUT)
            self._wait_ping()
        except BaseException:
            self.stop()
            raise

    def stop(self, *, kill: bool = False) -> None:
        """Stops the server: SIGTERM (clean) or, with `kill`, SIGKILL (like a crash)."""
        process, self._process = self._process, None
        if process is None:
            return
        if kill and process.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.process.pid, signal.SIGKILL)
        process.stop()

    def flush(self) -> None:
        with redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=5) as client:
            client.flushall()

    def _wait_ping(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=1) as client:
                    if client.ping():
                        return
            except redis.RedisError:
                if time.monotonic() >= deadline:
                    tail = self._process.log_tail() if self._process else ""
                    raise ServiceUnavailableError(
                        f"redis-server on {LOOPBACK}:{self.port} did not answer PING "
                        f"within {START_TIMEOUT}s\n{tail}"
                    ) from None
            time.sleep(0.05)  # poll interval of a bounded readiness wait, not synchronisation


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A running Redis server for the session; stop()/start() it in fault tests."""
    try:
        binary = find_redis_server()
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    server = RedisServer(binary, free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """`redis://127.0.0.1:<port>/0` of the session's Redis, flushed for this test (started again
    if an earlier test left it stopped)."""
    redis_server.start()
    redis_server.flush()
    return redis_server.url()


# --- Vault --------------------------------------------------------------------------------------

VAULT_ROOT_TOKEN = "giru-test-root-token"  # a throwaway dev server's token


def find_vault() -> Path:
    binary = Path(__file__).resolve().parent.parent / ".tools" / "bin" / "vault"
    if not os.access(binary, os.X_OK):
        raise ServiceUnavailableError(f"{binary} is missing: install it with `make peers`")
    return binary


@dataclass
class VaultServer:
    """`vault server` on 127.0.0.1:`port` from `workdir`: the dev server (in memory, unsealed,
    KV v2 at `secret/`, root token `VAULT_ROOT_TOKEN`), or with `storage` a file-storage server
    that keeps its data across restarts (initialised with one unseal key on first start)."""

    binary: Path
    port: int
    workdir: Path
    storage: Path | None = None
    root_token: str = VAULT_ROOT_TOKEN
    _unseal_key: str | None = field(default=None, repr=False)
    _process: PeerProcess | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.process.poll() is None

    def start(self) -> None:
        """Starts the server (same port, same data) and waits until it serves, unsealed."""
        if self.running:
            return
        self._process = start_peer("vault", self._argv(), self.workdir, env=self._env())
        try:
            wait_for_port(self._process, self.port, START_TIMEOUT)
            if self.storage is not None:
                self._initialise_or_unseal()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stop()

    def cli(self, *args: str, token: str | None = None) -> Any:
        """`vault ARGS` with the real binary (`VAULT_FORMAT=json`): its decoded JSON output, or
        its text when a command prints none (`Success! ...`)."""
        done = subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            check=False,
            env=self._env(token or self.root_token),
            timeout=60,
        )
        if done.returncode != 0:
            raise ServiceUnavailableError(f"vault {' '.join(args[:2])}: {done.stderr.strip()}")
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError:
            return done.stdout

    def _argv(self) -> list[str]:
        if self.storage is None:
            return [
                str(self.binary),
                *("server", "-dev", f"-dev-root-token-id={self.root_token}"),
                f"-dev-listen-address={LOOPBACK}:{self.port}",
            ]
        config = self.workdir / "vault.hcl"
        config.write_text(
            f'storage "file" {{ path = "{self.storage}" }}\n'
            f'listener "tcp" {{ address = "{LOOPBACK}:{self.port}"\n tls_disable = true }}\n'
            "disable_mlock = true\n"
        )
        return [str(self.binary), "server", f"-config={config}"]

    def _env(self, token: str | None = None) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.workdir)}
        env["VAULT_ADDR"] = self.url
        env["VAULT_FORMAT"] = "json"
        if token is not None:
            env["VAULT_TOKEN"] = token
        return env

    def _initialise_or_unseal(self) -> None:
        if self._unseal_key is None:
            init = self.cli("operator", "init", "-key-shares=1", "-key-threshold=1")
            self._unseal_key, self.root_token = init["unseal_keys_b64"][0], init["root_token"]
            self.cli("operator", "unseal", self._unseal_key)
            self.cli("secrets", "enable", "-path=secret", "kv-v2")
            self._wait_kv()
            return
        self.cli("operator", "unseal", self._unseal_key)

    def _wait_kv(self) -> None:
        """A new KV v2 mount refuses writes until its setup is done (about a second)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.cli("kv", "put", "-mount=secret", "ready", "ok=1")
                return
            except ServiceUnavailableError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.1)  # poll interval of a bounded readiness wait, not synchronisation

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(f"{self.url}/v1/sys/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                tail = self._process.log_tail() if self._process else ""
                raise ServiceUnavailableError(f"vault on {self.url} not ready\n{tail}")
            time.sleep(0.05)  # poll interval of a bounded readiness wait, not synchronisation


@pytest.fixture
def vault_server(tmp_path: Path) -> Iterator[VaultServer]:
    """A dev `vault server` of this test's own (in memory: a few hundred ms to start)."""
    try:
        binary = find_vault()
    except ServiceUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)
    workdir = tmp_path / "vault"
    workdir.mkdir()
    server = VaultServer(binary, free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
