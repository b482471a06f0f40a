"""The chart's monitoring objects come from the files in deploy/, never from copies: the
PrometheusRule is deploy/prometheus/alerts.yaml (valid for promtool as rendered), the Grafana
dashboards are deploy/grafana/*.json as ConfigMaps for Grafana's dashboard sidecar; both off by
default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promtool import promtool
from tests.deploy.rendering import CHART, render_chart, schema_errors
from tests.peers import REPO_ROOT

pytestmark = pytest.mark.integration

ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yaml"
DASHBOARDS = REPO_ROOT / "deploy" / "grafana"


def _of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def _dashboards(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in _dashboards_by(objects, "grafana_dashboard")}


def test_the_chart_reads_the_alerts_and_dashboards_of_deploy_itself() -> None:
    files = CHART / "files"
    assert (files / "alerts.yaml").is_symlink()
    assert (files / "alerts.yaml").resolve() == ALERTS.resolve()
    assert (files / "grafana").is_symlink()
    assert (files / "grafana").resolve() == DASHBOARDS.resolve()


def test_monitoring_objects_are_off_by_default() -> None:
    objects = render_chart()
    assert _of_kind(objects, "PrometheusRule") == []
    assert _dashboards(objects) == {}


def test_the_prometheus_rule_is_every_alert_of_deploy_and_promtool_accepts_it(
    tmp_path: Path,
) -> None:
    objects = render_chart(
        metrics__prometheusRule__enabled="true", metrics__prometheusRule__labels__release="kps"
    )
    [rule] = _of_kind(objects, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    groups = rule["spec"]["groups"]
    shipped = yaml.safe_load(ALERTS.read_text())["groups"]
    assert groups[: len(shipped)] == shipped  # the same rules, word for word
    [extra] = groups[len(shipped) :]
    assert [r["alert"] for r in extra["rules"]] == ["GiruWorkerDown"]
    rendered = tmp_path / "rules.yaml"
    rendered.write_text(yaml.safe_dump(rule["spec"]))
    done = promtool("check", "rules", rendered)
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_dashboard_is_a_config_map_for_the_grafana_sidecar() -> None:
    objects = render_chart(
        metrics__dashboards__enabled="true", metrics__dashboards__annotations__grafana_folder="Giru"
    )
    maps = _dashboards(objects)
    files = sorted(DASHBOARDS.glob("*.json"))
    assert len(maps) == len(files) == 4
    by_file = {name: o for o in maps.values() for name in o["data"]}
    for path in files:
        found = by_file[path.name]
        assert found["data"][path.name] == path.read_text()  # the file itself, byte for byte
        json.loads(found["data"][path.name])
        assert found["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert found["metadata"]["annotations"] == {"grafana_folder": "Giru"}
        assert len(found["data"][path.name].encode()) < 1024 * 1024  # a ConfigMap's limit
    assert schema_errors(list(maps.values())) == []


def test_the_sidecar_label_can_be_changed() -> None:
    objects = render_chart(
        metrics__dashboards__enabled="true",
        metrics__dashboards__label="dashboards.example.com/grafana",
        metrics__dashboards__labelValue="giru",
    )
    labels = [o["metadata"]["labels"] for o in _dashboards_by(objects, "dashboards.example.com")]
    assert labels
    assert all(label["dashboards.example.com/grafana"] == "giru" for label in labels)


def _dashboards_by(objects: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [
        o
        for o in _of_kind(objects, "ConfigMap")
        if any(key.startswith(prefix) for key in o["metadata"]["labels"])
    ]
