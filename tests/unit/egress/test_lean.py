"""The lean upstream client against a scripted loopback server: keep-alive reuse and when a
connection is not reused, redirects, size caps, chunked and streamed bodies, timeouts, the
egress guard and TLS name checks."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from yarl import URL

from giru.egress import (
    PUBLIC,
    UPSTREAMS,
    AddressPolicy,
    EgressRefusedError,
    RedirectRefusedError,
)
from giru.egress.lean import HttpError, LeanClient
from giru.errors import UpstreamProtocolError
from giru.upstream._http_io import iter_events, read_capped
from giru.upstream._sse import SseDecoder

Part = bytes | asyncio.Event


def ok(body: bytes = b'{"ok":true}', *extra: str) -> list[Part]:
    head = "".join(f"{line}\r\n" for line in extra)
    return [
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{head}"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    ]


def chunked(*chunks: bytes, content_type: str = "application/json") -> list[Part]:
    parts: list[Part] = [
        f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n".encode()
    ]
    parts.extend(_chunk(chunk) for chunk in chunks)
    parts.append(b"0\r\n\r\n")
    return parts


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@dataclass
class Server:
    """Answers each request with the next scripted answer; counts connections and requests."""

    port: int = 0
    answers: list[Sequence[Part]] = field(default_factory=list)
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/mcp", host: str = "127.0.0.1", scheme: str = "http") -> URL:
        return URL(f"{scheme}://{host}:{self.port}{path}")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                self.requests.append(head + await reader.readexactly(length))
                self.received.set()
                for part in self.answers.pop(0):
                    if isinstance(part, asyncio.Event):
                        await part.wait()
                    else:
                        writer.write(part)
                        await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _serve(server: Server, context: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
        listener.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    async for running in _serve(Server()):
        yield running


async def _get(client: LeanClient, url: URL, total_timeout: float | None = None) -> bytes:
    async with client.request(
        "GET", url, {}, connect_timeout=5, total_timeout=total_timeout
    ) as response:
        return await response.read()


async def test_a_connection_is_kept_alive_and_reused(server: Server) -> None:
    server.answers = [ok(b"1"), ok(b"2")]
    async with LeanClient(UPSTREAMS) as client:
        assert await _get(client, server.url()) == b"1"
        assert await _get(client, server.url()) == b"2"
    assert server.connections == 1


async def test_the_request_carries_host_headers_and_body(server: Server) -> None:
    server.answers = [ok()]
    async with (
        LeanClient(UPSTREAMS) as client,
        client.request(
            "POST", server.url("/mcp?x=1"), {"X-A": "b"}, b"{}", connect_timeout=5
        ) as response,
    ):
        await response.read()
    assert server.requests == [
        f"POST /mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-A: b\r\n"
        "Content-Length: 2\r\n\r\n{}".encode()
    ]


async def test_response_headers_are_read_whatever_their_case(server: Server) -> None:
    server.answers = [ok(b"{}", "mcp-session-ID: abc", "WWW-authenticate: Bearer")]
    async with (
        LeanClient(UPSTREAMS) as client,
        client.request("GET", server.url(), {}, connect_timeout=5) as response,
    ):
        assert response.headers.get("Mcp-Session-Id") == "abc"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.content_type == "application/json"
        assert response.content_length == 2


async def test_exchanges_past_the_limit_wait_for_a_connection(server: Server) -> None:
    server.answers = [ok(b"1"), ok(b"2"), ok(b"3")]
    async with LeanClient(UPSTREAMS, max_active=1) as client, asyncio.TaskGroup() as group:
        calls = [group.create_task(_get(client, server.url())) for _ in range(3)]
    assert sorted(call.result() for call in calls) == [b"1", b"2", b"3"]
    assert server.connections == 1  # without the limit, three would have been opened


@pytest.mark.parametrize(
    "answer",
    [
        ok(b"1", "Connection: close"),
        [b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n1"],
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_a_connection_the_upstream_will_close_is_not_reused(
    server: Server, answer: list[Part]
) -> None:
    server.answers = [answer, ok(b"2")]
    async with LeanClient(UPSTREAMS) as client:
        assert await _get(client, server.url()) == b"1"
        assert await _get(client, server.url()) == b"2"
    assert server.connections == 2


async def test_a_half_read_body_closes_the_connection(server: Server) -> None:
    more = asyncio.Event()
    server.answers = [[*chunked(b"first")[:2], more], ok(b"2")]
    async with LeanClient(UPSTREAMS) as client:
        async with client.request("GET", server.url(), {}, connect_timeout=5) as response:
            assert await anext(response.iter_chunks()) == b"first"
        more.set()
        assert await _get(client, server.url()) == b"2"
    assert server.connections == 2


async def test_a_malformed_answer_fails_and_the_connection_is_not_reused(server: Server) -> None:
    server.answers = [[b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"], ok(b"2")]
    async with LeanClient(UPSTREAMS) as client:
        with pytest.raises(HttpError, match="malformed HTTP answer"):
            await _get(client, server.url())
        assert await _get(client, server.url()) == b"2"
    assert server.connections == 2


async def test_an_answer_whose_headers_never_end_is_refused(server: Server) -> None:
    endless = [b"HTTP/1.1 200 OK\r\n"] + [b"X-Filler: " + b"y" * 1000 + b"\r\n"] * 100
    server.answers = [endless, ok(b"2")]
    async with LeanClient(UPSTREAMS) as client:
        with pytest.raises(HttpError, match="headers exceed the size limit"):
            await _get(client, server.url())
        assert await _get(client, server.url()) == b"2"
    assert server.connections == 2


async def test_a_cancelled_request_closes_its_connection(server: Server) -> None:
    never = asyncio.Event()
    server.answers = [[never], ok(b"2")]
    async with LeanClient(UPSTREAMS) as client:
        waiting = asyncio.ensure_future(_get(client, server.url()))  # noqa: TID251 -- awaited below
        await server.received.wait()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await _get(client, server.url()) == b"2"
    assert server.connections == 2


async def test_an_answer_cut_short_is_an_error(server: Server) -> None:
    server.answers = [[b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345"]]
    async with LeanClient(UPSTREAMS) as client:
        with pytest.raises(HttpError, match="closed the connection"):
            await _get(client, server.url())


async def test_a_body_without_length_ends_with_its_connection(server: Server) -> None:
    server.answers = [[b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it"]]
    async with LeanClient(UPSTREAMS) as client:
        assert await _get(client, server.url()) == b"all of it"


async def test_a_redirect_is_refused_not_followed(server: Server) -> None:
    server.answers = [
        [
            b"HTTP/1.1 307 Temporary Redirect\r\nLocation: http://0.0.0.0/\r\n"
            b"Content-Length: 0\r\n\r\n"
        ]
    ]
    async with LeanClient(UPSTREAMS) as client:
        with pytest.raises(RedirectRefusedError) as refused:
            async with client.request("GET", server.url(), {}, connect_timeout=5):
                pass
    assert refused.value.status == 307
    assert len(server.requests) == 1


async def test_a_chunked_body_is_read_whole(server: Server) -> None:
    server.answers = [chunked(b'{"a"', b":1}")]
    async with (
        LeanClient(UPSTREAMS) as client,
        client.request("GET", server.url(), {}, connect_timeout=5) as response,
    ):
        assert response.content_length is None
        assert await read_capped("s", response) == b'{"a":1}'


@pytest.mark.parametrize(
    "answer",
    [ok(b"x" * 100), chunked(b"x" * 60, b"x" * 60)],
    ids=["content-length", "chunked"],
)
async def test_a_body_over_the_cap_is_refused(server: Server, answer: list[Part]) -> None:
    server.answers = [answer]
    async with (
        LeanClient(UPSTREAMS) as client,
        client.request("GET", server.url(), {}, connect_timeout=5) as response,
    ):
        with pytest.raises(UpstreamProtocolError, match="exceeds the size limit"):
            await read_capped("s", response, cap=99)


async def test_sse_events_are_delivered_as_they_arrive(server: Server) -> None:
    second = asyncio.Event()
    server.answers = [
        [
            *chunked(content_type="text/event-stream")[:1],
            _chunk(b"data: first\n\n"),
            second,
            _chunk(b"data: second\n\n") + b"0\r\n\r\n",
        ]
    ]
    async with (
        LeanClient(UPSTREAMS) as client,
        client.request("GET", server.url(), {}, connect_timeout=5) as response,
    ):
        events = iter_events("s", response, SseDecoder(1024))
        assert (await anext(events)).data == "first"  # before the server sends the second
        second.set()
        assert [event.data async for event in events] == ["second"]


async def test_an_unanswered_exchange_times_out(server: Server) -> None:
    never = asyncio.Event()
    server.answers = [[never]]
    async with LeanClient(UPSTREAMS) as client:
        with pytest.raises(TimeoutError):
            await _get(client, server.url(), total_timeout=0.05)


async def test_a_connect_that_does_not_finish_times_out() -> None:
    async def stuck(host: str, port: int) -> list[str]:
        await asyncio.Event().wait()
        return []

    async with LeanClient(UPSTREAMS, resolve=stuck) as client:
        with pytest.raises(TimeoutError):
            async with client.request(
                "GET", URL("http://upstream.test/"), {}, connect_timeout=0.05
            ):
                pass


@pytest.mark.parametrize(
    ("url", "policy", "addresses", "reason"),
    [
        ("http://127.0.0.1:1/", PUBLIC, ["127.0.0.1"], "address 127.0.0.1 is loopback"),
        ("http://[::ffff:169.254.169.254]:1/", UPSTREAMS, ["::ffff:169.254.169.254"], "link-local"),
        ("http://upstream.test:1/", UPSTREAMS, ["10.0.0.1", "169.254.169.254"], "resolves to"),
        ("http://metadata.google.internal/", UPSTREAMS, [], "cloud metadata endpoint"),
    ],
)
async def test_a_refused_address_is_never_connected(
    url: str, policy: AddressPolicy, addresses: list[str], reason: str
) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return addresses

    async with LeanClient(policy, resolve=resolve) as client:
        with pytest.raises(EgressRefusedError, match=reason):
            async with client.request("GET", URL(url), {}, connect_timeout=5):
                pass


async def test_a_header_that_would_split_the_request_is_refused(server: Server) -> None:
    async with LeanClient(UPSTREAMS) as client:
        with pytest.raises(HttpError, match="line break") as refused:
            async with client.request(
                "GET", server.url(), {"X-A": "secret\r\nX-B: c"}, connect_timeout=5
            ):
                pass
    assert "secret" not in str(refused.value)
    assert server.connections == 0


# -- TLS ----------------------------------------------------------------------------------


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for the name `localhost` only (no IP address)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[Server, ssl.SSLContext]]:
    cert, key = _certificate(tmp_path)
    serving = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serving.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async for running in _serve(Server(), serving):
        yield running, trusting


async def _loopback(host: str, port: int) -> list[str]:
    return [str(ipaddress.ip_address("127.0.0.1"))]


async def test_tls_verifies_the_urls_host_name(
    tls_server: tuple[Server, ssl.SSLContext],
) -> None:
    server, trusting = tls_server
    server.answers = [ok(b"secure"), ok(b"again")]
    async with LeanClient(UPSTREAMS, resolve=_loopback) as client:
        url = server.url(host="localhost", scheme="https")
        async with client.request("GET", url, {}, tls=trusting, connect_timeout=5) as response:
            assert await response.read() == b"secure"
        async with client.request("GET", url, {}, tls=trusting, connect_timeout=5) as response:
            assert await response.read() == b"again"
    assert server.connections == 1


async def test_tls_refuses_a_certificate_for_another_name(
    tls_server: tuple[Server, ssl.SSLContext],
) -> None:
    server, trusting = tls_server
    async with LeanClient(UPSTREAMS, resolve=_loopback) as client:
        url = server.url(host="127.0.0.1", scheme="https")  # connects fine, names differ
        with pytest.raises(HttpError, match="could not connect") as failed:
            async with client.request("GET", url, {}, tls=trusting, connect_timeout=5):
                pass
    assert isinstance(failed.value.__cause__, ssl.SSLCertVerificationError)


def test_the_client_runs_on_uvloop_as_the_gateway_does() -> None:
    async def exchange_twice() -> tuple[bytes, bytes, int]:
        async for running in _serve(Server(answers=[ok(b"1"), ok(b"2")])):
            async with LeanClient(UPSTREAMS) as client:
                first = await _get(client, running.url())
                second = await _get(client, running.url())
            return first, second, running.connections
        raise AssertionError("no server")

    assert uvloop.run(exchange_twice()) == (b"1", b"2", 1)
