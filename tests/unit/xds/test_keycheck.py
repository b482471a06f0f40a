"""The edge's own credential check in the snapshot: a Lua filter in the listener that refuses by
default, a per-route script on every worker route (RDS) holding the live key identifiers and the
workers' refusals, turned off on every other route; a key change re-sends the routes only."""

from __future__ import annotations

from typing import Any

import pytest

from giru.access.apikeys import generate_key, key_id
from giru.manifests.config import VirtualServerConfig
from giru.proxy.admission import Refusal
from giru.settings import Settings, XdsSettings
from giru.xds.keycheck import FILTER, EdgeAccess, EndpointAccess
from giru.xds.resources import LISTENER, ROUTE
from giru.xds.snapshot import build_snapshot, resource_dicts
from giru.xds.topology import EdgeTopology
from tests.unit.proxy.fakes import FakeUpstream, config, gateway_client, tool

_JSON = (b"content-type", b"application/json")
_PUBLIC = ("/healthz", "/readyz", "/.well-known/oauth-protected-resource")
_REFUSAL = Refusal(401, ((b"www-authenticate", b'Bearer realm="giru"'), _JSON), b'{"a":"\\"b"}')


def _topology(**xds: Any) -> EdgeTopology:
    fields: dict[str, Any] = {"listen": "127.0.0.1:19000", "workers": ["w1=127.0.0.1:8101"]}
    return EdgeTopology.from_settings(
        Settings(listen="127.0.0.1:18000", xds=XdsSettings.model_validate({**fields, **xds}))
    )


def _access(*keys: str) -> EdgeAccess:
    endpoint = EndpointAccess("", True, False, False, _REFUSAL, _REFUSAL)
    return EdgeAccess((endpoint,), frozenset(i for k in keys if (i := key_id(k)) is not None))


def _filters(dicts: dict[str, Any]) -> list[str]:
    chain = dicts["Listener"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return [f["name"] for f in chain["http_filters"]]


def _routes(dicts: dict[str, Any]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = dicts["RouteConfiguration"][0]["virtual_hosts"][0]["routes"]
    return routes


def test_without_ext_authz_the_edge_checks_credentials_itself_by_default() -> None:
    dicts = resource_dicts(_topology(), ["kit"], None, _access(generate_key()))
    assert FILTER in _filters(dicts)
    assert "envoy.filters.http.ext_authz" not in _filters(dicts)
    host = dicts["RouteConfiguration"][0]["virtual_hosts"][0]
    assert "source_code" in host["typed_per_filter_config"][FILTER]  # one copy for every route
    checked = []
    for route in _routes(dicts):
        config = route.get("typed_per_filter_config", {}).get(FILTER)
        match = route["match"]
        to_worker = route.get("route", {}).get("cluster", "").startswith(("giru_w", "giru_s"))
        public = match.get("path") in _PUBLIC or match.get("prefix") in _PUBLIC
        if to_worker and not public:
            assert config is None, match  # inherits the virtual host's script
            checked.append(match.get("path") or match.get("prefix"))
        else:
            assert config["disabled"] is True, match
    assert {"/mcp", "/mcp/", "/sse", "/messages", "/mcp/kit", "/mcp/kit/", "/"} <= set(checked)


@pytest.mark.parametrize(
    ("xds", "present"),
    [
        ({"authz": ["127.0.0.1:9101"]}, "envoy.filters.http.ext_authz"),
        ({"edge_check": "off"}, None),
    ],
)
def test_ext_authz_or_off_leaves_the_edge_s_own_check_out(
    xds: dict[str, Any], present: str | None
) -> None:
    dicts = resource_dicts(_topology(**xds), ["kit"], None, _access(generate_key()))
    assert FILTER not in _filters(dicts)
    assert all(FILTER not in r.get("typed_per_filter_config", {}) for r in _routes(dicts))
    assert "typed_per_filter_config" not in dicts["RouteConfiguration"][0]["virtual_hosts"][0]
    if present is not None:
        assert present in _filters(dicts)


def test_a_new_or_revoked_key_changes_the_routes_only() -> None:
    topology = _topology()
    first, second = generate_key(), generate_key()
    before = build_snapshot(topology, ["kit"], None, _access(first))
    after = build_snapshot(topology, ["kit"], None, _access(first, second))
    changed = {t for t in before.versions if before.versions[t] != after.versions[t]}
    assert changed == {ROUTE}
    assert before.versions[LISTENER] == after.versions[LISTENER]  # no listener drains


def test_the_route_script_holds_identifiers_and_refusals_but_no_secret() -> None:
    key = generate_key()
    script = _access(key).script()
    assert f'["{key_id(key)}"]=true' in script
    assert key[17:] not in script
    assert '[":status"]="401"' in script
    assert r'"{\034a\034:\034\092\034b\034}"' in script  # the body, quotes escaped


def test_an_unknown_key_format_turns_identifier_checks_off() -> None:
    endpoint = EndpointAccess("", True, False, False, _REFUSAL, _REFUSAL)
    assert "local ids = nil" in EdgeAccess((endpoint,), None).script()


def test_before_anything_is_known_worker_routes_refuse() -> None:
    dicts = resource_dicts(_topology(), [], None, None)
    host = dicts["RouteConfiguration"][0]["virtual_hosts"][0]
    source = host["typed_per_filter_config"][FILTER]["source_code"]["inline_string"]
    assert "edge_check_unconfigured" in source
    assert "ids" not in source


async def test_each_endpoint_s_refusal_is_the_worker_s_answer_to_no_credentials() -> None:
    upstreams = {"one": FakeUpstream("one", [tool("echo")])}
    cfg = config(
        upstreams,
        open=VirtualServerConfig(name="open", servers=("one",), auth="none"),
        keyed=VirtualServerConfig(name="keyed", servers=("one",)),
    )
    async with gateway_client(upstreams, cfg=cfg) as (worker, gateway):
        access = EdgeAccess.of(gateway.endpoints, gateway.admission, None)
        assert [e.name for e in access.endpoints] == ["", "keyed"]  # `open` asks for nothing
        for endpoint, path in zip(access.endpoints, ("/mcp", "/mcp/keyed"), strict=True):
            answer = await worker.post(path, content=b"{}", headers={"accept": "*/*"})
            assert (endpoint.keys, endpoint.jwt, endpoint.opaque) == (True, False, False)
            assert endpoint.refusal.status == answer.status_code == 401
            assert endpoint.refusal.body == answer.content
            for name, value in endpoint.refusal.headers:
                assert answer.headers[name.decode()] == value.decode()
