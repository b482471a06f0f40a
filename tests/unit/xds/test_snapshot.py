"""The snapshot builder, compared with snapshot files (`GIRU_UPDATE_SNAPSHOTS=1` rewrites them
after a deliberate change; review the diff) and checked for the routing rules users rely on."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from giru.errors import ConfigError
from giru.settings import Settings, XdsSettings
from giru.upstream.base import Timeouts
from giru.xds.bootstrap import bootstrap
from giru.xds.resources import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET
from giru.xds.snapshot import build_snapshot, resource_dicts
from giru.xds.topology import CONTROL, Address, EdgeTopology, TlsFiles

SNAPSHOTS = Path(__file__).parent / "snapshots"
REPO = Path(__file__).resolve().parents[3]
TLS = TlsFiles(chain="-----BEGIN CERTIFICATE-----\nchain\n", key="-----BEGIN PRIVATE KEY-----\nk\n")


def _topology(**xds: Any) -> EdgeTopology:
    fields: dict[str, Any] = {
        "listen": "127.0.0.1:19000",
        "workers": ["w2=127.0.0.1:8102", "w1=127.0.0.1:8101"],
        "authz": ["127.0.0.1:9101", "127.0.0.1:9102"],
        "tls_listen": "127.0.0.1:8443",
        "tls_cert": "/tls/edge.pem",
        "tls_key": "/tls/edge.key",
        **xds,
    }
    return EdgeTopology.from_settings(
        Settings(listen="127.0.0.1:18000", xds=XdsSettings.model_validate(fields))
    )


def _routes(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    config = snapshot["RouteConfiguration"][0]
    routes: list[dict[str, Any]] = config["virtual_hosts"][0]["routes"]
    return routes


@pytest.mark.parametrize(
    ("name", "tls", "virtual_servers"),
    [("two-workers-tls", TLS, ["conformance", "everything"]), ("two-workers-plain", None, [])],
)
def test_snapshot_matches_its_file(
    name: str, tls: TlsFiles | None, virtual_servers: list[str]
) -> None:
    produced = resource_dicts(_topology(), virtual_servers, tls)
    path = SNAPSHOTS / f"{name}.json"
    if os.environ.get("GIRU_UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(produced, indent=1, sort_keys=True) + "\n")
    assert produced == json.loads(path.read_text()), f"{path} differs: review, then update"


def test_a_new_virtual_server_changes_only_the_routes() -> None:
    topology = _topology()
    before = build_snapshot(topology, ["a"], TLS)
    after = build_snapshot(topology, ["a", "b"], TLS)
    changed = {t for t in before.versions if before.versions[t] != after.versions[t]}
    assert changed == {ROUTE}
    again = build_snapshot(topology, ["b", "a", "a"], TLS)
    assert again.versions == after.versions  # order and repeats do not matter


def test_virtual_servers_get_their_own_routes_and_unknown_paths_a_404() -> None:
    routes = _routes(resource_dicts(_topology(), ["kit"], None))
    matches = [route["match"] for route in routes]
    assert {"path": "/mcp/kit"} in matches
    assert {"prefix": "/mcp/kit/"} in matches
    assert routes[-1]["match"] == {"prefix": "/"}
    assert routes[-1]["direct_response"]["status"] == 404
    removed = _routes(resource_dicts(_topology(), [], None))
    assert {"path": "/mcp/kit"} not in [route["match"] for route in removed]


def test_sessions_go_back_to_their_worker_before_any_other_mcp_route() -> None:
    routes = _routes(resource_dicts(_topology(), ["kit"], None))
    clusters = [route.get("route", {}).get("cluster") for route in routes]
    # after /api, /ui, the authorization server, /healthz, /readyz and the resource metadata
    first_generic = clusters.index("giru_workers", 10)
    headers = [
        (r["match"]["headers"][0], r["route"]["cluster"]) for r in routes if "headers" in r["match"]
    ]
    by_header = {
        header["string_match"]["prefix"]: cluster
        for header, cluster in headers
        if header["name"] == "mcp-session-id"
    }
    by_retry_state = {
        header["string_match"]["exact"]: cluster
        for header, cluster in headers
        if header["name"] == "x-giru-worker"
    }
    assert by_retry_state == {"w1": "giru_session_w1", "w2": "giru_session_w2"}
    by_query = {
        route["match"]["query_parameters"][0]["string_match"]["prefix"]: route["route"]["cluster"]
        for route in routes
        if "query_parameters" in route["match"]
    }
    assert by_header == by_query == {"w1.": "giru_session_w1", "w2.": "giru_session_w2"}
    session_positions = [i for i, c in enumerate(clusters) if c and c.startswith("giru_session_")]
    assert max(session_positions) < first_generic


def test_a_dead_workers_sessions_fall_through_to_the_others() -> None:
    clusters = {c["name"]: c for c in resource_dicts(_topology(), [], None)["Cluster"]}
    aggregate = clusters["giru_session_w1"]["cluster_type"]["typed_config"]["clusters"]
    assert aggregate == ["giru_worker_w1", "giru_workers"]
    workers = clusters["giru_workers"]
    assert workers["health_checks"][0]["http_health_check"]["path"] == "/healthz"
    assert workers["common_lb_config"]["healthy_panic_threshold"] == {}  # 0: never to a dead one


def _idle_s(route: dict[str, Any]) -> int:
    text: str = route["route"]["idle_timeout"]
    return int(text.removesuffix("s"))


@pytest.mark.parametrize(
    ("sessions", "approvals"),
    [
        ({}, {}),  # defaults: 1800 s sessions, 60 s form + 120 s queue
        ({"idle_timeout_s": 60}, {}),  # sessions idle sooner than an approval waits
        ({}, {"timeout_s": 3600, "elicitation_timeout_s": 110}),  # the longest approval wait
        ({"idle_timeout_s": 0.5}, {"timeout_s": 0.5, "elicitation_timeout_s": 0.5}),
    ],
    ids=["defaults", "short-sessions", "longest-approval", "sub-second"],
)
def test_no_mcp_route_cuts_off_a_call_parked_for_approval_and_then_run(
    sessions: dict[str, Any], approvals: dict[str, Any]
) -> None:
    settings = Settings.model_validate(
        {
            "listen": "127.0.0.1:18000",
            "xds": {"listen": "127.0.0.1:19000", "workers": ["w1=127.0.0.1:8101"]},
            "sessions": sessions,
            "approvals": approvals,
        }
    )
    topology = EdgeTopology.from_settings(settings)
    longest = (
        settings.approvals.elicitation_timeout_s
        + settings.approvals.timeout_s
        + Timeouts().call_max
    )
    routes = _routes(resource_dicts(topology, ["solo"], None))
    mcp = [r for r in routes if "route" in r and r["route"]["cluster"] != CONTROL]
    assert {r["match"].get("path") for r in mcp} >= {"/mcp", "/mcp/solo", "/sse", "/messages"}
    for route in mcp:
        assert route["route"]["timeout"] == "0s"  # no overall deadline
        assert _idle_s(route) > longest
        assert _idle_s(route) >= settings.sessions.idle_timeout_s


def test_the_api_skips_ext_authz_and_mcp_routes_use_it_fail_closed() -> None:
    snapshot = resource_dicts(_topology(), [], None)
    routes = {json.dumps(r["match"], sort_keys=True): r for r in _routes(snapshot)}
    api = routes[json.dumps({"prefix": "/api/"})]
    assert api["route"]["cluster"] == "giru_control"
    assert api["typed_per_filter_config"]["envoy.filters.http.ext_authz"]["disabled"] is True
    mcp = routes[json.dumps({"path": "/mcp"})]
    assert "typed_per_filter_config" not in mcp
    manager = snapshot["Listener"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    authz = next(f for f in manager["http_filters"] if f["name"].endswith("ext_authz"))
    assert authz["typed_config"].get("failure_mode_allow", False) is False
    assert manager["use_remote_address"] is True
    assert manager["normalize_path"] is True


def test_without_authz_services_there_is_no_authz_filter() -> None:
    snapshot = resource_dicts(_topology(authz=[]), [], None)
    manager = snapshot["Listener"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    assert not [f for f in manager["http_filters"] if f["name"].endswith("ext_authz")]
    assert "giru_authz" not in {c["name"] for c in snapshot["Cluster"]}


def test_tls_adds_the_https_listener_and_its_secret() -> None:
    with_tls = build_snapshot(_topology(), [], TLS)
    assert sorted(with_tls.resources[LISTENER]) == ["giru_http", "giru_https"]
    assert list(with_tls.resources[SECRET]) == ["giru_edge_cert"]
    rotated = build_snapshot(_topology(), [], TlsFiles(chain=TLS.chain + "x", key=TLS.key))
    assert rotated.versions[SECRET] != with_tls.versions[SECRET]
    assert rotated.versions[LISTENER] == with_tls.versions[LISTENER]  # rotation: secret only
    plain = build_snapshot(_topology(), [], None)
    assert sorted(plain.resources[LISTENER]) == ["giru_http"]
    assert not plain.resources[SECRET]


def test_every_eds_cluster_has_its_endpoints() -> None:
    snapshot = build_snapshot(_topology(), [], None)
    eds = {name for name, _ in snapshot.resources[CLUSTER].items() if "session" not in name}
    assert eds == set(snapshot.resources[ENDPOINT])


@pytest.mark.parametrize(
    ("xds", "message"),
    [
        ({"workers": ["w1=127.0.0.1:1", "w1=127.0.0.1:2"]}, "unique"),
        ({"workers": ["127.0.0.1:8101"]}, "NAME=HOST:PORT"),
        ({"workers": ["w1=localhost"]}, "HOST:PORT"),
        ({"tls_cert": None}, "tls_cert"),
        ({"edge_listen": "127.0.0.1:99999"}, "HOST:PORT"),
    ],
)
def test_bad_edge_settings_are_refused_clearly(xds: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _topology(**xds)


def test_the_deploy_bootstrap_is_the_default_bootstrap() -> None:
    written = yaml.safe_load((REPO / "deploy" / "envoy" / "bootstrap.yaml").read_text())
    assert written == bootstrap()


def test_names_make_strict_dns_clusters_with_their_addresses_and_no_eds() -> None:
    topology = _topology(
        workers=["w1=worker-1:8081", "w2=worker-2:8081"],
        authz=["worker-1:9001", "worker-2:9001"],
        control="control:18000",
    )
    snapshot = resource_dicts(topology, [], None)
    clusters = {cluster["name"]: cluster for cluster in snapshot["Cluster"]}
    workers = clusters["giru_workers"]
    assert workers["type"] == "STRICT_DNS"
    assert "eds_cluster_config" not in workers
    hosts = [
        endpoint["endpoint"]["address"]["socket_address"]
        for endpoint in workers["load_assignment"]["endpoints"][0]["lb_endpoints"]
    ]
    assert hosts == [
        {"address": "worker-1", "port_value": 8081},
        {"address": "worker-2", "port_value": 8081},
    ]
    assert clusters["giru_control"]["type"] == "STRICT_DNS"
    assert clusters["giru_authz"]["type"] == "STRICT_DNS"
    assert snapshot["ClusterLoadAssignment"] == []


def test_ip_addresses_stay_on_eds() -> None:
    clusters = resource_dicts(_topology(), [], None)["Cluster"]
    assert {c.get("type") for c in clusters if "session" not in c["name"]} == {"EDS"}


def test_a_bootstrap_naming_its_xds_server_resolves_the_name() -> None:
    cluster = bootstrap(Address("control", 19000))["static_resources"]["clusters"][0]
    assert cluster["type"] == "STRICT_DNS"
    assert bootstrap()["static_resources"]["clusters"][0]["type"] == "STATIC"
