"""One source of truth (giru.deployment) for the ports, commands and settings of each process:
`make stack` (tests/stack.py), the image (Dockerfile), Compose and the Helm chart must agree
with it, so they cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from giru.deployment import (
    CONTROL_ENV,
    PORTS,
    SECRET_ENV,
    SHARED_ENV,
    WORKER_ENV,
    control_command,
    envoy_command,
    opa_command,
    worker_command,
)
from giru.xds.bootstrap import bootstrap
from giru.xds.topology import Address
from tests.deploy.rendering import (
    PRODUCTION_VALUES,
    Dockerfile,
    compose_project,
    containers,
    render_chart,
)
from tests.peers import REPO_ROOT
from tests.stack import Stack, StackLayout

pytestmark = pytest.mark.integration

ANY = "0.0.0.0"
CONTROL = set(SHARED_ENV) | set(CONTROL_ENV)
WORKER = set(SHARED_ENV) | set(WORKER_ENV)
IMAGE = Dockerfile.read()
# What a surface sets beyond the source, and why:
STACK_ONLY = {"GIRU_DEMO_KEY", "GIRU_XDS__ACCESS_LOG"}  # the quickstart's key; a log file
IMAGE_ONLY = {"GIRU_HEALTH_URL"}  # the image's HEALTHCHECK target


def _giru_names(*names: Any) -> set[str]:
    return {name for group in names for name in group if name.startswith("GIRU_")}


# --- make stack ---------------------------------------------------------------------------------


def _stack(tmp_path: Path) -> Stack:
    stack = Stack(StackLayout(tmp_path), say=lambda _: None)
    stack.secrets = {name: "x" for name in ("pepper", "admin_token", "bundle_token")}
    stack.secrets["secrets_key"] = "0" * 64
    return stack


def test_make_stack_listens_on_the_source_ports() -> None:
    layout = StackLayout(Path("/unused"))
    for port in ("edge", "tls", "admin", "control", "xds", "opa", "postgres", "redis"):
        assert getattr(layout, port) == getattr(PORTS, port), port


def test_make_stack_gives_each_process_the_source_settings(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    shared = stack.giru_env("postgresql+asyncpg://giru@127.0.0.1:15432/giru")
    control = stack.control_env(shared, {"w1": (8101, 9101)})
    assert _giru_names(control) - STACK_ONLY == CONTROL
    argv, port, worker = stack.worker_process("w1", shared, 8101, 9101)
    assert _giru_names(worker) - STACK_ONLY == WORKER
    assert argv[1:] == worker_command("127.0.0.1:8101")[1:]
    assert port == 8101


# --- the image ----------------------------------------------------------------------------------


def test_the_image_runs_giru_and_its_default_command_is_a_worker() -> None:
    assert IMAGE.entrypoint == ["giru"]
    assert [*IMAGE.entrypoint, *IMAGE.cmd] == worker_command(f"{ANY}:{PORTS.worker}")
    assert {PORTS.worker, PORTS.authz, PORTS.control, PORTS.xds} == IMAGE.expose
    assert IMAGE.user.split(":")[0] != "0"
    assert _giru_names(IMAGE.env) - IMAGE_ONLY <= set(SHARED_ENV)


# --- Compose ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    project = compose_project()
    services: dict[str, Any] = project["services"]
    return services


def _compose_env(service: dict[str, Any]) -> set[str]:
    """What a Giru container sees: the image's environment, the service's, and its secrets
    (files in /run/secrets named like the variables, read by giru.settings)."""
    secrets = {secret["target"].rsplit("/", 1)[-1] for secret in service.get("secrets", [])}
    return _giru_names(IMAGE.env, service.get("environment") or {}, secrets) - IMAGE_ONLY


def _argv(service: dict[str, Any], entrypoint: list[str]) -> list[str]:
    return [*(service.get("entrypoint") or entrypoint), *service["command"]]


def test_compose_runs_the_source_commands(services: dict[str, Any]) -> None:
    assert _argv(services["control"], IMAGE.entrypoint) == control_command(
        f"{ANY}:{PORTS.control}", "/etc/giru/manifests"
    )
    for name in ("worker-1", "worker-2"):
        assert _argv(services[name], IMAGE.entrypoint) == worker_command(f"{ANY}:{PORTS.worker}")
    assert _argv(services["opa"], ["opa"]) == opa_command(f"{ANY}:{PORTS.opa}", "/etc/opa/opa.yaml")
    assert _argv(services["envoy"], []) == envoy_command("/etc/envoy/envoy.yaml")


def test_compose_gives_each_process_the_source_settings(services: dict[str, Any]) -> None:
    assert _compose_env(services["control"]) == CONTROL
    for name in ("worker-1", "worker-2"):
        assert _compose_env(services[name]) == WORKER
    assert set(SECRET_ENV) <= {
        s["target"].rsplit("/", 1)[-1] for s in services["control"]["secrets"]
    }


def test_compose_uses_the_source_ports(services: dict[str, Any]) -> None:
    def published(name: str) -> dict[int, int]:
        return {int(p["published"]): p["target"] for p in services[name]["ports"]}

    assert published("envoy") == {
        PORTS.edge: PORTS.edge,
        PORTS.tls: PORTS.tls,
        PORTS.admin: PORTS.admin,
    }
    assert published("control") == {PORTS.control: PORTS.control}
    assert published("postgres") == {PORTS.postgres: 5432}
    assert published("redis") == {PORTS.redis: 6379}
    env = services["control"]["environment"]
    assert env["GIRU_XDS__LISTEN"] == f"{ANY}:{PORTS.xds}"
    assert env["GIRU_XDS__EDGE_LISTEN"] == f"{ANY}:{PORTS.edge}"
    assert env["GIRU_XDS__TLS_LISTEN"] == f"{ANY}:{PORTS.tls}"
    assert env["GIRU_XDS__CONTROL"] == f"control:{PORTS.control}"
    assert json.loads(env["GIRU_XDS__WORKERS"]) == [
        f"w{i}=worker-{i}:{PORTS.worker}" for i in (1, 2)
    ]
    assert json.loads(env["GIRU_XDS__AUTHZ"]) == [f"worker-{i}:{PORTS.authz}" for i in (1, 2)]
    for i in (1, 2):
        worker = services[f"worker-{i}"]["environment"]
        assert worker["GIRU_WORKER_NAME"] == f"w{i}"
        assert worker["GIRU_XDS__AUTHZ_LISTEN"] == f"{ANY}:{PORTS.authz}"


def test_compose_envoy_bootstrap_is_giru_s_bootstrap_for_the_control_service() -> None:
    written = yaml.safe_load((REPO_ROOT / "deploy" / "compose" / "envoy.yaml").read_text())
    assert written == bootstrap(Address("control", PORTS.xds), Address(ANY, PORTS.admin))


# --- the Helm chart -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chart() -> dict[str, Any]:
    """The production rendering (TLS on, so every control-plane setting is present)."""
    return {f"{o['kind']}/{o['metadata']['name']}": o for o in render_chart(PRODUCTION_VALUES)}


def _container(chart: dict[str, Any], key: str) -> dict[str, Any]:
    [container] = containers(chart[key])
    return container


def _chart_env(container: dict[str, Any]) -> set[str]:
    return _giru_names(IMAGE.env, [e["name"] for e in container["env"]]) - IMAGE_ONLY


def test_the_chart_runs_the_source_commands(chart: dict[str, Any]) -> None:
    control = _container(chart, "Deployment/giru-control")
    assert [*IMAGE.entrypoint, *control["args"]] == control_command(
        f"{ANY}:{PORTS.control}", "/etc/giru/manifests"
    )
    worker = _container(chart, "StatefulSet/giru-worker")
    assert [*IMAGE.entrypoint, *worker["args"]] == worker_command(f"{ANY}:{PORTS.worker}")
    opa = _container(chart, "Deployment/giru-opa")
    assert ["opa", *opa["args"]] == opa_command(f"{ANY}:{PORTS.opa}", "/etc/opa/opa.yaml")
    envoy = _container(chart, "Deployment/giru-envoy")
    assert envoy["command"][: len(envoy_command("x"))] == envoy_command("/etc/envoy/envoy.yaml")


def test_the_chart_gives_each_process_the_source_settings(chart: dict[str, Any]) -> None:
    control = _container(chart, "Deployment/giru-control")
    assert _chart_env(control) == CONTROL
    worker = _container(chart, "StatefulSet/giru-worker")
    assert _chart_env(worker) == WORKER
    secret_refs = {e["name"] for e in worker["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert set(SECRET_ENV) | {"GIRU_DATABASE_URL"} <= secret_refs


def test_the_chart_uses_the_source_ports(chart: dict[str, Any]) -> None:
    def ports(key: str) -> set[int]:
        return {p["containerPort"] for p in _container(chart, key)["ports"]}

    assert ports("Deployment/giru-control") == {PORTS.control, PORTS.xds}
    assert ports("StatefulSet/giru-worker") == {PORTS.worker, PORTS.authz}
    assert ports("Deployment/giru-opa") == {PORTS.opa}
    assert ports("Deployment/giru-envoy") == {PORTS.edge, PORTS.tls, PORTS.admin}
    env = {e["name"]: e.get("value") for e in _container(chart, "Deployment/giru-control")["env"]}
    assert env["GIRU_XDS__LISTEN"] == f"{ANY}:{PORTS.xds}"
    assert env["GIRU_XDS__EDGE_LISTEN"] == f"{ANY}:{PORTS.edge}"
    assert env["GIRU_XDS__TLS_LISTEN"] == f"{ANY}:{PORTS.tls}"
    assert all(w.endswith(f":{PORTS.worker}") for w in json.loads(env["GIRU_XDS__WORKERS"]))
    assert all(a.endswith(f":{PORTS.authz}") for a in json.loads(env["GIRU_XDS__AUTHZ"]))
    worker = {e["name"]: e for e in _container(chart, "StatefulSet/giru-worker")["env"]}
    assert worker["GIRU_XDS__AUTHZ_LISTEN"]["value"] == f"{ANY}:{PORTS.authz}"
    assert worker["GIRU_WORKER_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_the_chart_envoy_bootstrap_is_giru_s_bootstrap_for_the_control_service(
    chart: dict[str, Any],
) -> None:
    written = yaml.safe_load(chart["ConfigMap/giru-envoy"]["data"]["envoy.yaml"])
    control = "giru-control.giru.svc.cluster.local"
    assert written == bootstrap(Address(control, PORTS.xds), Address(ANY, PORTS.admin))
