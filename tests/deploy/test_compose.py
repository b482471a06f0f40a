"""deploy/compose/compose.yaml with compose-go v2 (the loader `docker compose` uses): it loads,
interpolates, validates and normalizes, with and without the observability profile; health
checks gate the start order and secrets are Compose secrets, never environment values."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from giru.deployment import SECRET_ENV
from tests.deploy.rendering import COMPOSE, compose_project

pytestmark = pytest.mark.integration

GIRU = ("control", "worker-1", "worker-2")


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return compose_project()


def test_the_compose_file_loads_and_normalizes_with_compose_go(project: dict[str, Any]) -> None:
    assert set(project["services"]) == {
        *("postgres", "redis", "opa", "control", "worker-1", "worker-2", "envoy", "everything"),
    }


def test_the_observability_profile_adds_prometheus_and_grafana() -> None:
    services = compose_project("observability")["services"]
    assert {"prometheus", "grafana"} <= set(services)


def test_giru_starts_after_healthy_databases_and_envoy_after_healthy_giru(
    project: dict[str, Any],
) -> None:
    services = project["services"]
    for name in ("postgres", "redis", *GIRU):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert {name: dep["condition"] for name, dep in services["control"]["depends_on"].items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
    }
    assert services["worker-1"]["depends_on"]["control"]["condition"] == "service_healthy"
    assert {dep["condition"] for dep in services["envoy"]["depends_on"].values()} == {
        "service_healthy"
    }


def test_secrets_are_compose_secrets_never_environment_literals(project: dict[str, Any]) -> None:
    for name in GIRU:
        service = project["services"][name]
        assert not set(service.get("environment") or {}) & set(SECRET_ENV), name
        targets = {secret["target"].rsplit("/", 1)[-1] for secret in service["secrets"]}
        assert set(SECRET_ENV) | {"GIRU_DATABASE_URL"} <= targets, name
    assert "POSTGRES_PASSWORD" not in project["services"]["postgres"]["environment"]
    raw = yaml.safe_load(COMPOSE.read_text())
    assert all(set(body) == {"file"} for body in raw["secrets"].values())


def test_giru_containers_run_with_a_read_only_root_filesystem(project: dict[str, Any]) -> None:
    for name in GIRU:
        assert project["services"][name]["read_only"] is True
        assert "/tmp" in project["services"][name]["tmpfs"]
