"""The Helm chart (deploy/helm/giru) with the real helm: `helm lint --strict`, `helm template`
for the default and the production values, every object checked against Kubernetes 1.33's
schemas and every pod against the restricted Pod Security Standard."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from typing import Any

import pytest
import yaml

from tests.deploy.rendering import (
    CHART,
    PRODUCTION_VALUES,
    containers,
    helm,
    pod_security_violations,
    pod_spec,
    render_chart,
    schema_errors,
    tool,
)

pytestmark = pytest.mark.integration

VALUES = {"default": (), "production": (PRODUCTION_VALUES,)}


@pytest.fixture(scope="module", params=sorted(VALUES))
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render_chart(*VALUES[request.param])


def _kinds(objects: list[dict[str, Any]]) -> Counter[str]:
    return Counter(obj["kind"] for obj in objects)


def _named(objects: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    return found


@pytest.mark.parametrize("values", sorted(VALUES))
def test_helm_lint_strict_passes(values: str) -> None:
    files = [arg for path in VALUES[values] for arg in ("--values", str(path))]
    output = helm("lint", "--strict", CHART, *files)
    assert "0 chart(s) failed" in output


def test_every_rendered_object_is_valid_kubernetes_1_33(rendered: list[dict[str, Any]]) -> None:
    assert schema_errors(rendered) == []


def test_every_pod_meets_the_restricted_pod_security_standard(
    rendered: list[dict[str, Any]],
) -> None:
    assert [v for obj in rendered for v in pod_security_violations(obj)] == []
    assert any(containers(obj) for obj in rendered)


def test_every_container_is_probed_and_bounded_except_the_migration_job(
    rendered: list[dict[str, Any]],
) -> None:
    for obj in rendered:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in containers(obj):
            assert "readinessProbe" in container, obj["metadata"]["name"]
            if container["name"] in ("control", "worker"):
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
                assert container["resources"]["limits"]["memory"]


def test_the_default_values_install_the_topology_with_managed_databases(
    rendered: list[dict[str, Any]],
) -> None:
    kinds = _kinds(rendered)
    assert kinds["StatefulSet"] == 1  # the workers; no bundled PostgreSQL
    assert {o["metadata"]["name"] for o in rendered if o["kind"] == "Deployment"} == {
        "giru-control",
        "giru-envoy",
        "giru-opa",
    }
    assert kinds["PodDisruptionBudget"] == 3  # workers, Envoy, OPA
    assert kinds["NetworkPolicy"] == 4
    assert kinds["Job"] == 1
    assert not [o for o in rendered if o["kind"] in ("Role", "ClusterRole", "RoleBinding")]


def test_only_envoy_may_reach_the_workers(rendered: list[dict[str, Any]]) -> None:
    policy = _named(rendered, "NetworkPolicy", "-worker")
    [from_envoy, *others] = policy["spec"]["ingress"]
    assert from_envoy["from"] == [
        {"podSelector": {"matchLabels": _selector("envoy")}},
    ]
    assert {p["port"] for p in from_envoy["ports"]} == {8081, 9001}
    assert all({p["port"] for p in rule["ports"]} == {8081} for rule in others)  # metrics only


def test_only_workers_and_the_control_plane_may_reach_opa(rendered: list[dict[str, Any]]) -> None:
    policy = _named(rendered, "NetworkPolicy", "-opa")
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": _selector("worker")}},
        {"podSelector": {"matchLabels": _selector("control")}},
    ]


def _selector(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "giru",
        "app.kubernetes.io/instance": "giru",
        "app.kubernetes.io/component": component,
    }


def test_production_values_add_tls_autoscaling_and_prometheus_objects() -> None:
    objects = render_chart(PRODUCTION_VALUES)
    kinds = _kinds(objects)
    assert kinds["HorizontalPodAutoscaler"] == 1
    assert kinds["ServiceMonitor"] == 1
    assert kinds["PrometheusRule"] == 1
    assert kinds["Certificate"] == 1
    assert kinds["Secret"] == 0  # existingSecret: nothing generated
    control = _named(objects, "Deployment", "-control")
    [container] = containers(control)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GIRU_XDS__TLS_CERT"] == "/etc/giru/tls/tls.crt"
    workers = json.loads(env["GIRU_XDS__WORKERS"])
    assert len(workers) == 20  # every ordinal the autoscaler may reach
    assert workers[19] == (
        "giru-worker-19=giru-worker-19.giru-worker-headless.giru.svc.cluster.local:8081"
    )


def test_bundled_postgresql_and_redis_are_off_by_default_and_restricted_when_on() -> None:
    objects = render_chart(postgresql__enabled="true", redis__enabled="true")
    names = {o["metadata"]["name"] for o in objects}
    assert {"giru-postgresql", "giru-redis"} <= names
    assert schema_errors(objects) == []
    assert [v for obj in objects for v in pod_security_violations(obj)] == []
    job = _named(objects, "Job", "-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"


def test_the_migration_job_runs_before_every_install_and_upgrade() -> None:
    job = _named(render_chart(), "Job", "-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    [container] = containers(job)
    assert container["args"] == ["migrate"]


def test_a_long_release_name_still_gives_workers_valid_giru_worker_names() -> None:
    text = helm("template", "a-very-long-release-name-for-giru", CHART, "--namespace", "giru")
    objects = [doc for doc in yaml.safe_load_all(text) if doc]
    statefulset = next(o for o in objects if o["kind"] == "StatefulSet")
    assert len(statefulset["metadata"]["name"]) + len("-199") <= 31  # GIRU_WORKER_NAME's limit


def test_a_bad_value_is_refused_by_the_values_schema() -> None:
    done = subprocess.run(
        [str(tool("helm")), "template", "giru", str(CHART), "--set", "worker.replicas=0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "replicas" in done.stderr


def _env(obj: dict[str, Any]) -> dict[str, str | None]:
    [container] = containers(obj)
    return {e["name"]: e.get("value") for e in container["env"]}


def _tracing_env(env: dict[str, str | None]) -> dict[str, str | None]:
    return {k: v for k, v in env.items() if k.startswith(("OTEL_", "GIRU_OTEL__"))}


def test_tracing_is_off_by_default_no_pod_gets_an_otel_variable(
    rendered: list[dict[str, Any]],
) -> None:
    pods = [obj for obj in rendered if pod_spec(obj) is not None]
    assert pods
    assert [
        name
        for obj in pods
        for c in containers(obj)
        for name in _tracing_env({e["name"]: e.get("value") for e in c.get("env", [])})
    ] == []


def test_tracing_values_give_the_workers_and_the_control_plane_the_otel_variables() -> None:
    objects = render_chart(
        tracing__enabled="true",
        tracing__endpoint="http://otel-collector.observability:4318",
        tracing__serviceName="giru-prod",
        tracing__traceUrl="http://jaeger.observability:16686/trace/{trace_id}",
    )
    expected = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.01",
        "OTEL_SERVICE_NAME": "giru-prod",
        "GIRU_OTEL__TRACE_URL": "http://jaeger.observability:16686/trace/{trace_id}",
    }
    assert _tracing_env(_env(_named(objects, "StatefulSet", "-worker"))) == expected
    assert _tracing_env(_env(_named(objects, "Deployment", "-control"))) == expected
    assert schema_errors(objects) == []
    output = helm(
        "lint",
        "--strict",
        CHART,
        "--set",
        "tracing.enabled=true",
        "--set",
        "tracing.endpoint=http://otel:4317",
        "--set",
        "tracing.protocol=grpc",
    )
    assert "0 chart(s) failed" in output


def test_tracing_without_edge_leaves_the_control_plane_and_so_envoy_untraced() -> None:
    objects = render_chart(
        tracing__enabled="true", tracing__endpoint="http://otel:4318", tracing__edge="false"
    )
    worker = _tracing_env(_env(_named(objects, "StatefulSet", "-worker")))
    assert worker["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel:4318"
    assert _tracing_env(_env(_named(objects, "Deployment", "-control"))) == {}


@pytest.mark.parametrize(
    ("sets", "named"),
    [
        (["tracing.enabled=true"], "tracing.endpoint"),
        (
            ["tracing.enabled=true", "tracing.endpoint=http://o:4318", "tracing.protocol=thrift"],
            "protocol",
        ),
        (["tracing.sampler=sometimes"], "sampler"),
    ],
)
def test_a_tracing_value_that_cannot_work_is_refused_by_name(sets: list[str], named: str) -> None:
    argv = [str(tool("helm")), "template", "giru", str(CHART)]
    argv += [arg for each in sets for arg in ("--set", each)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert named in done.stderr


def test_the_checks_themselves_catch_a_bad_pod_and_a_bad_field() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad"},
        "spec": {
            "hostNetwork": True,
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
            "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}],
        },
    }
    found = pod_security_violations(pod)
    for violation in ("hostNetwork", "hostPath", "privileged", "allowPrivilegeEscalation"):
        assert any(violation in line for line in found), violation
    assert any("runAsNonRoot" in line for line in found)
    assert any("seccompProfile" in line for line in found)
    misspelt = {**pod, "spec": {"containers": [{"name": "c", "image": "x", "imagePolicy": "x"}]}}
    assert schema_errors([misspelt]) != []
