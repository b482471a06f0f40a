"""The limiter's Redis client against real redis-servers: pipelining, AUTH, SELECT, unix sockets,
TLS, timeouts and reconnects, error replies, and scripts Redis forgot."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from giru.limits.lua import Script
from giru.limits.resp import RespClient
from giru.limits.wire import RespConnectionError, RespNoScriptError, RespReplyError
from tests.peers import LOOPBACK, REPO_ROOT, PeerProcess, free_port, start_peer, wait_for_port
from tests.services import RedisServer, find_redis_server

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-pass"
BOUND_S = 5  # a bound on each test's waits, not a duration assertion


@dataclass
class SecuredRedis:
    """A redis-server of this module's own, with `--requirepass` and a unix socket."""

    port: int
    socket: Path
    process: PeerProcess

    def url(self, password: str = PASSWORD, user: str = "", db: int = 0) -> str:
        return f"redis://{user}:{password}@{LOOPBACK}:{self.port}/{db}"

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.process.process.pid, sig)


def redis_argv(workdir: Path, *extra: str, bind: tuple[str, ...] = (LOOPBACK,)) -> list[str]:
    return [
        str(find_redis_server()),
        *("--bind", *bind, "--save", "", "--appendonly", "no", "--dir", str(workdir)),
        *extra,
    ]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredRedis]:
    workdir = tmp_path_factory.mktemp("rs")  # short: unix socket paths are at most 107 bytes
    port, socket = free_port(), workdir / "redis.sock"
    extra = ("--port", str(port), "--requirepass", PASSWORD, "--unixsocket", str(socket))
    process = start_peer("redis-server", redis_argv(workdir, *extra), workdir)
    try:
        wait_for_port(process, port)
        yield SecuredRedis(port, socket, process)
    finally:
        process.stop()


@pytest.fixture
async def clients() -> AsyncIterator[list[RespClient]]:
    """Append the test's clients here: they are closed at teardown."""
    opened: list[RespClient] = []
    try:
        yield opened
    finally:
        for client in opened:
            await client.aclose()


async def test_concurrent_commands_get_their_own_replies_in_order(
    redis_url: str, clients: list[RespClient]
) -> None:
    client = RespClient(redis_url, timeout_s=BOUND_S)
    clients.append(client)
    ids = await asyncio.gather(*(client.execute("CLIENT", "ID") for _ in range(20)))
    assert len(set(ids)) == 1  # the first commands shared one connect
    assert set(await asyncio.gather(*(client.execute("SET", f"k{i}", i) for i in range(500)))) == {
        "OK"
    }
    commands = []
    for index in range(500):
        commands += [client.execute("INCR", "counter"), client.execute("GET", f"k{index}")]
    replies = await asyncio.gather(*commands)
    assert replies[0::2] == list(range(1, 501))
    assert replies[1::2] == [str(index).encode() for index in range(500)]


async def test_an_error_reply_fails_its_command_only_and_keeps_the_connection(
    redis_url: str, clients: list[RespClient]
) -> None:
    client = RespClient(redis_url, timeout_s=BOUND_S)
    clients.append(client)
    before = await client.execute("CLIENT", "ID")
    await client.execute("SET", "word", "hello")
    replies = await asyncio.gather(
        client.execute("INCR", "n"),
        client.execute("INCR", "word"),
        client.execute("INCR", "n"),
        return_exceptions=True,
    )
    assert list(replies[0::2]) == [1, 2]
    assert isinstance(replies[1], RespReplyError)
    assert replies[1].message == "ERR value is not an integer or out of range"
    assert await client.execute("CLIENT", "ID") == before


@pytest.mark.parametrize("user", ["", "default"])
async def test_the_password_in_the_url_authenticates(
    secured: SecuredRedis, clients: list[RespClient], user: str
) -> None:
    client = RespClient(secured.url(user=user), timeout_s=BOUND_S)
    clients.append(client)
    assert await client.execute("PING") == "PONG"


async def test_a_wrong_password_fails_the_connect_without_showing_the_password(
    secured: SecuredRedis, clients: list[RespClient]
) -> None:
    client = RespClient(secured.url(password="not-the-one"), timeout_s=BOUND_S)
    clients.append(client)
    with pytest.raises(RespConnectionError) as caught:
        await client.execute("PING")
    message = str(caught.value)
    assert message.startswith(f"cannot connect to Redis at {LOOPBACK}:{secured.port} db 0:")
    assert "AUTH failed: WRONGPASS" in message
    assert "not-the-one" not in message


async def test_the_database_in_the_url_is_selected(
    redis_server: RedisServer, redis_url: str, clients: list[RespClient]
) -> None:
    db3 = RespClient(redis_server.url(3), timeout_s=BOUND_S)
    db0 = RespClient(redis_url, timeout_s=BOUND_S)
    clients += [db3, db0]
    await db3.execute("SET", "where", "three")
    assert await db3.execute("GET", "where") == b"three"
    assert await db0.execute("GET", "where") is None
    await db3.execute("FLUSHDB")


async def test_a_database_redis_does_not_have_fails_the_connect(
    redis_server: RedisServer, clients: list[RespClient]
) -> None:
    client = RespClient(redis_server.url(99), timeout_s=BOUND_S)
    clients.append(client)
    with pytest.raises(RespConnectionError, match="SELECT 99 failed: ERR DB index is out of range"):
        await client.execute("PING")


async def test_a_unix_socket_url_connects_with_its_password_and_database(
    secured: SecuredRedis, clients: list[RespClient]
) -> None:
    on_socket = RespClient(f"unix://:{PASSWORD}@{secured.socket}?db=2", timeout_s=BOUND_S)
    on_tcp = RespClient(secured.url(db=2), timeout_s=BOUND_S)
    clients += [on_socket, on_tcp]
    await on_socket.execute("SET", "via", "socket")
    assert await on_tcp.execute("GET", "via") == b"socket"
    await on_tcp.execute("FLUSHDB")


async def test_a_stopped_server_fails_every_pending_command_then_the_client_reconnects(
    secured: SecuredRedis, clients: list[RespClient]
) -> None:
    client = RespClient(secured.url(), timeout_s=0.2)
    clients.append(client)
    assert await client.execute("PING") == "PONG"
    secured.signal(signal.SIGSTOP)
    try:
        async with asyncio.timeout(BOUND_S):
            replies = await asyncio.gather(
                *(client.execute("INCR", "n") for _ in range(3)), return_exceptions=True
            )
        assert all(isinstance(reply, RespConnectionError) for reply in replies)
        assert str(replies[0]) == "Redis did not answer within 0.2 s"
    finally:
        secured.signal(signal.SIGCONT)
    async with asyncio.timeout(BOUND_S):
        assert await client.execute("PING") == "PONG"


async def test_a_killed_connection_is_replaced_by_the_next_command(
    redis_url: str, clients: list[RespClient]
) -> None:
    client = RespClient(redis_url, timeout_s=BOUND_S)
    killer = RespClient(redis_url, timeout_s=BOUND_S)
    clients += [client, killer]
    before = await client.execute("CLIENT", "ID")
    assert await killer.execute("CLIENT", "KILL", "TYPE", "normal") >= 1  # not itself (SKIPME)
    assert await client.execute("PING") == "PONG"
    assert await client.execute("CLIENT", "ID") != before


async def test_a_silent_server_times_out_each_attempt(
    silent_port: int, clients: list[RespClient]
) -> None:
    client = RespClient(f"redis://{LOOPBACK}:{silent_port}/0", timeout_s=0.05)
    clients.append(client)
    for _ in range(2):  # the second command opens a new connection, which times out too
        async with asyncio.timeout(BOUND_S):
            with pytest.raises(RespConnectionError, match=r"did not answer within 0\.05 s"):
                await client.execute("PING")


async def test_nothing_listening_fails_the_connect(clients: list[RespClient]) -> None:
    client = RespClient(f"redis://{LOOPBACK}:{free_port()}/0", timeout_s=BOUND_S)
    clients.append(client)
    with pytest.raises(RespConnectionError, match="cannot connect to Redis at"):
        await client.execute("PING")


async def test_aclose_fails_the_pending_commands_and_later_ones(redis_url: str) -> None:
    client = RespClient(redis_url, timeout_s=BOUND_S)
    assert await client.execute("PING") == "PONG"

    async def blocked() -> BaseException | None:
        try:
            await client.execute("BLPOP", "nothing", 0)  # waits for ever
        except RespConnectionError as exc:
            return exc
        return None

    async with asyncio.TaskGroup() as tasks:
        pending = tasks.create_task(blocked())
        await asyncio.sleep(0)  # it is sent
        await client.aclose()
    assert str(pending.result()) == "the Redis client closed the connection"
    with pytest.raises(RespConnectionError, match="the Redis client is closed"):
        await client.execute("PING")


async def test_a_script_redis_forgot_is_loaded_again(
    redis_url: str, clients: list[RespClient]
) -> None:
    client = RespClient(redis_url, timeout_s=BOUND_S)
    clients.append(client)
    script = Script("return {tonumber(ARGV[1]) + 1, KEYS[1]}")
    assert await script(client, ["k"], [41]) == [42, b"k"]
    assert await client.execute("SCRIPT", "FLUSH") == "OK"
    with pytest.raises(RespNoScriptError, match=r"^NOSCRIPT "):
        await client.execute("EVALSHA", script.sha, 0)
    assert await script(client, ["k"], [1]) == [2, b"k"]


# --- TLS ----------------------------------------------------------------------------------------


OTHER_LOOPBACK = "127.0.0.2"  # also this machine, but not a name the dev certificate holds


@pytest.fixture
def tls_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A TLS-only redis-server with the dev CA's certificate (`scripts/dev-ca.sh`: localhost and
    127.0.0.1), also listening on 127.0.0.2; the CA trusted through SSL_CERT_FILE."""
    tls = tmp_path / "tls"
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "dev-ca.sh"), str(tls)], check=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls / "ca.pem"))
    port = free_port()
    files = ("--tls-cert-file", str(tls / "edge.pem"), "--tls-key-file", str(tls / "edge.key"))
    extra = ("--port", "0", "--tls-port", str(port), *files, "--tls-auth-clients", "no")
    argv = redis_argv(tmp_path, *extra, bind=(LOOPBACK, OTHER_LOOPBACK))
    process = start_peer("redis-server", argv, tmp_path)
    try:
        wait_for_port(process, port)
        yield port
    finally:
        process.stop()


async def test_rediss_speaks_tls_and_checks_the_server_name(
    tls_port: int, clients: list[RespClient]
) -> None:
    client = RespClient(f"rediss://localhost:{tls_port}/0", timeout_s=BOUND_S)
    by_address = RespClient(f"rediss://{OTHER_LOOPBACK}:{tls_port}/0", timeout_s=BOUND_S)
    clients += [client, by_address]
    assert await client.execute("PING") == "PONG"
    with pytest.raises(RespConnectionError, match="certificate verify failed"):
        await by_address.execute("PING")  # the certificate does not name 127.0.0.2
