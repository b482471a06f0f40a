"""Envoy's ext_authz service over real gRPC, deciding with a real Gateway as its workers do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import orjson
import pytest
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc

from giru.identity import AccessToken
from giru.limits import LocalLimiter
from giru.manifests.config import VirtualServerConfig
from giru.proxy.endpoints import Principal
from giru.proxy.gate import CallGate
from giru.proxy.gateway import Gateway
from giru.telemetry.metrics import Metrics
from giru.xds.authz import GatewayRef, serve_authz
from tests.unit.proxy.fakes import KEY, FakeUpstream, config, gateway_client, tool
from tests.unit.proxy.test_gate import Audit, Usage

UNAUTHORIZED = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {"code": -32600, "message": "Unauthorized: a valid API key is required"},
}
PERMISSION_DENIED, UNAUTHENTICATED = 7, 16


@dataclass
class Edge:
    """The service on a free port, a client stub for it, and what it decides with."""

    stub: Any
    gateway: Gateway
    worker: httpx.AsyncClient
    audit: Audit

    async def check(self, path: str, **attributes: Any) -> Any:
        return await self.stub.Check(check_request(path, **attributes), timeout=5)

    def count(self, name: str, **labels: str) -> float:
        value = self.gateway.metrics.registry.get_sample_value(name, labels or None)
        return value or 0.0


def check_request(
    path: str,
    *,
    method: str = "POST",
    key: str | None = KEY,
    scheme: str = "http",
    source: str = "10.1.2.3",
    raw_headers: bool = False,
) -> Any:
    """A CheckRequest as Envoy's HTTP filter sends it (`raw_headers`: `encode_raw_headers`)."""
    request = external_auth_pb2.CheckRequest()
    request.attributes.source.address.socket_address.address = source
    http = request.attributes.request.http
    http.method, http.path, http.scheme, http.host = method, path, scheme, "127.0.0.1:8080"
    if key is not None and raw_headers:
        header = http.header_map.headers.add()
        header.key, header.raw_value = "authorization", f"Bearer {key}".encode()
    elif key is not None:
        http.headers["authorization"] = f"Bearer {key}"
    return request


def servers() -> dict[str, FakeUpstream]:
    return {"one": FakeUpstream("one", [tool("echo")])}


@asynccontextmanager
async def serve(gateway: GatewayRef, metrics: Metrics) -> AsyncIterator[Any]:
    async with (
        serve_authz(gateway, metrics, "127.0.0.1:0") as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        yield external_auth_pb2_grpc.AuthorizationStub(channel)


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    upstreams = servers()
    cfg = config(
        upstreams,
        open=VirtualServerConfig(name="open", servers=("one",), auth="none"),
        keyed=VirtualServerConfig(name="keyed", servers=("one",)),
    )
    async with gateway_client(upstreams, cfg=cfg) as (worker, gateway):
        audit = Audit()
        gateway.dispatcher.gate = CallGate(LocalLimiter("UTC"), Usage(), node="unit", audit=audit)
        async with serve(lambda: gateway, gateway.metrics) as stub:
            yield Edge(stub, gateway, worker, audit)


def denial(response: Any) -> tuple[int, dict[str, str], Any]:
    """(HTTP status, headers, decoded body) of a denied check; fails on anything else."""
    assert response.WhichOneof("http_response") == "denied_response"
    denied = response.denied_response
    headers = {option.header.key: option.header.value for option in denied.headers}
    return denied.status.code, headers, orjson.loads(denied.body)


def allowed(response: Any) -> bool:
    kind: str | None = response.WhichOneof("http_response")
    code: int = response.status.code
    return code == 0 and kind == "ok_response"


@pytest.mark.parametrize(
    ("path", "attributes"),
    [
        ("/mcp", {}),
        ("/mcp/keyed", {}),
        ("/sse", {"method": "GET"}),
        ("/mcp/keyed/messages?sessionId=abc", {}),
        ("/mcp", {"raw_headers": True}),
        ("/mcp/open", {"key": None}),
        ("/api/v1/servers", {"key": None, "method": "GET"}),
        ("/healthz", {"key": None, "method": "GET"}),
        ("/mcp/nowhere", {"key": None}),
        ("/mcp/keyed/elsewhere", {"key": None}),
        ("/mcp//", {"key": None}),
        ("/mcp/keyed/%2e%2e/x", {"key": None}),
        ("/mcp", {"key": None, "method": "OPTIONS"}),  # a CORS preflight: the worker answers
        ("/mcp/keyed", {"key": None, "method": "OPTIONS"}),
    ],
)
async def test_requests_the_worker_would_not_refuse_for_credentials_are_allowed(
    edge: Edge, path: str, attributes: dict[str, Any]
) -> None:
    response = await edge.check(path, **attributes)
    assert allowed(response)
    assert edge.count("giru_edge_authz_checks_total", outcome="allowed") == 1
    assert edge.audit.records == []


@pytest.mark.parametrize(
    ("path", "attributes"),
    [
        ("/mcp", {"key": None}),
        ("/mcp", {"key": "wrong"}),
        ("/mcp/keyed", {"key": None, "method": "GET"}),
        ("/sse", {"key": "wrong", "method": "GET"}),
        ("/messages?sessionId=abc", {"key": None}),
    ],
)
async def test_a_missing_or_wrong_key_is_refused_with_401_and_the_bearer_challenge(
    edge: Edge, path: str, attributes: dict[str, Any]
) -> None:
    response = await edge.check(path, **attributes)
    assert response.status.code == UNAUTHENTICATED
    status, headers, body = denial(response)
    assert status == 401
    assert headers == {
        "www-authenticate": 'Bearer realm="giru"',
        "content-type": "application/json",
    }
    assert body == UNAUTHORIZED
    assert edge.count("giru_edge_authz_checks_total", outcome="denied") == 1


@pytest.mark.parametrize("query", ["api_key=" + KEY, "x=1&access_token=" + KEY])
async def test_credentials_in_the_url_are_refused_with_400_even_with_a_good_key(
    edge: Edge, query: str
) -> None:
    response = await edge.check(f"/mcp/open?{query}")
    assert response.status.code == PERMISSION_DENIED
    status, headers, body = denial(response)
    assert status == 400
    assert "www-authenticate" not in headers
    assert body["error"] == {"code": -32600, "message": "credentials are not accepted in the URL"}


async def test_the_edge_refuses_exactly_as_the_worker_does(edge: Edge) -> None:
    worker = await edge.worker.post("/mcp", content=b"{}", headers={"authorization": "Bearer x"})
    status, headers, body = denial(await edge.check("/mcp", key="x"))
    assert (status, body) == (worker.status_code, worker.json())
    assert headers["www-authenticate"] == worker.headers["www-authenticate"]
    assert headers["content-type"] == worker.headers["content-type"]


async def test_a_refusal_at_the_edge_is_audited_with_the_callers_address(edge: Edge) -> None:
    await edge.check("/mcp", key="wrong", source="192.0.2.9", method="GET")
    (record,) = edge.audit.records
    assert (record["actor"], record["action"], record["outcome"]) == (
        "unauthenticated",
        "http GET",
        "unauthenticated",
    )
    assert record["source_ip"] == "192.0.2.9"
    assert record["details"] == {"status": -32600, "http_status": 401}


async def test_each_refusal_is_audited_under_its_own_event_id_in_a_shared_context(
    edge: Edge,
) -> None:
    for _ in range(2):
        refusal = await edge.gateway.admit("POST", "/mcp", b"", None, source=None, tls=True)
        assert refusal is not None
        assert refusal.status == 401
    first, second = edge.audit.records
    assert first["event_id"] != second["event_id"]


async def test_a_refusal_that_cannot_be_audited_is_answered_503(edge: Edge) -> None:
    edge.audit.full = True
    status, _, body = denial(await edge.check("/mcp", key="wrong"))
    assert status == 503
    assert body["error"]["data"] == {"reason": "audit_spool_full"}


class Broken:
    """An authenticator that fails the way a bug would."""

    async def authenticate(self, token: str) -> Principal | None:
        raise RuntimeError("boom")

    def get(self, name: str) -> Principal | None:
        return None

    def recall(self, principal: Principal) -> None:
        return None

    def person(self, token: AccessToken, presented: object = None) -> Principal:
        raise RuntimeError("boom")


async def test_a_failure_while_deciding_denies_with_503_and_counts_an_error(edge: Edge) -> None:
    edge.gateway.authenticator = Broken()
    response = await edge.check("/mcp")
    assert response.status.code == PERMISSION_DENIED
    status, headers, body = denial(response)
    assert status == 503
    assert headers == {"content-type": "application/json"}
    assert body["error"]["data"] == {"reason": "edge_authz_error"}
    assert edge.count("giru_edge_authz_checks_total", outcome="error") == 1
    assert edge.count("giru_edge_authz_checks_total", outcome="allowed") == 0


async def test_the_authenticator_is_read_per_check_so_a_reload_takes_effect(edge: Edge) -> None:
    assert allowed(await edge.check("/mcp"))
    edge.gateway.authenticator = Broken()
    assert not allowed(await edge.check("/mcp"))


async def test_a_check_without_http_attributes_is_denied(edge: Edge) -> None:
    response = await edge.stub.Check(external_auth_pb2.CheckRequest(), timeout=5)
    status, _, _ = denial(response)
    assert status == 503
    assert edge.count("giru_edge_authz_checks_total", outcome="error") == 1


async def test_no_gateway_yet_is_a_denial_not_an_allow() -> None:
    metrics = Metrics()
    async with serve(lambda: None, metrics) as stub:
        response = await stub.Check(check_request("/healthz", key=None), timeout=5)
        status, _, _ = denial(response)
        assert status == 503


async def test_checks_do_not_count_as_requests_reaching_the_worker(edge: Edge) -> None:
    await edge.check("/mcp", key=None)
    await edge.check("/mcp")
    assert edge.count("giru_http_requests_total", kind="mcp") == 0
    await edge.worker.get("/healthz")
    await edge.worker.post("/mcp", content=b"{}")
    assert edge.count("giru_http_requests_total", kind="mcp") == 1
    assert edge.count("giru_http_requests_total", kind="ops") == 1
