"""Kustomize overlays (deploy/kustomize/{dev,prod}) with the real kustomize: the base is the Helm
chart rendered (so the chart stays the one source), and each overlay builds into objects valid
for Kubernetes 1.33 whose pods meet the restricted Pod Security Standard."""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml

from tests.deploy.rendering import (
    containers,
    helm,
    kustomize_build,
    pod_security_violations,
    schema_errors,
)
from tests.peers import REPO_ROOT

pytestmark = pytest.mark.integration

KUSTOMIZE = REPO_ROOT / "deploy" / "kustomize"
CHART = REPO_ROOT / "deploy" / "helm" / "giru"
HEADER = (
    "# Generated from the Helm chart; do not edit. Regenerate with\n"
    "#   GIRU_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/deploy/test_kustomize.py\n"
    "# (helm template giru deploy/helm/giru --namespace giru --values base/values.yaml)\n"
)


def _render_base() -> str:
    values = KUSTOMIZE / "base" / "values.yaml"
    rendered = helm("template", "giru", CHART, "--namespace", "giru", "--values", values)
    return HEADER + rendered


def test_the_base_is_the_chart_rendered_with_its_values() -> None:
    path = KUSTOMIZE / "base" / "giru.yaml"
    rendered = _render_base()
    if os.environ.get("GIRU_UPDATE_SNAPSHOTS") == "1":
        path.write_text(rendered)
    assert path.read_text() == rendered, f"{path} differs from the chart: regenerate it"


@pytest.fixture(scope="module", params=["dev", "prod"])
def overlay(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return kustomize_build(KUSTOMIZE / request.param)


def test_each_overlay_builds_valid_kubernetes_1_33(overlay: list[dict[str, Any]]) -> None:
    assert schema_errors(overlay) == []
    assert {obj["metadata"].get("namespace") for obj in overlay} == {"giru"}


def test_each_overlay_meets_the_restricted_pod_security_standard(
    overlay: list[dict[str, Any]],
) -> None:
    assert [v for obj in overlay for v in pod_security_violations(obj)] == []


def test_generated_secrets_and_manifests_are_the_ones_the_pods_reference(
    overlay: list[dict[str, Any]],
) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in overlay}
    control = next(
        o for o in overlay if o["kind"] == "Deployment" and "control" in o["metadata"]["name"]
    )
    [container] = containers(control)
    referenced = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    volumes = control["spec"]["template"]["spec"]["volumes"]
    manifests = next(v["configMap"]["name"] for v in volumes if v["name"] == "manifests")
    assert ("ConfigMap", manifests) in names
    generated = {name for kind, name in names if kind == "Secret"}
    assert not generated or referenced <= generated  # prod: Secrets are yours, made beforehand


def test_the_production_overlay_pins_the_image_and_scales_out() -> None:
    objects = kustomize_build(KUSTOMIZE / "prod")
    images = {c["image"] for o in objects for c in containers(o) if "giru" in c["image"]}
    assert images == {"ghcr.io/giru-ai/giru:0.1.0"}
    hpa = next(o for o in objects if o["kind"] == "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
    assert not [o for o in objects if o["kind"] == "Secret"]
    assert yaml.safe_dump(objects).count("giru-dev") == 0
