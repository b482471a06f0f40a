"""deploy/prometheus/alerts.yaml: valid for promtool, every alert unit-tested by
deploy/prometheus/tests/*.yaml (firing and quiet cases), every alert with its runbook."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promtool import promtool
from tests.peers import REPO_ROOT

pytestmark = pytest.mark.integration

RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yaml"
TESTS = sorted((REPO_ROOT / "deploy" / "prometheus" / "tests").glob("*.yaml"))


def _alerts() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def _tested(path: Path) -> list[tuple[str, bool]]:
    """(alert name, whether the test expects it to fire) of every alert test in `path`."""
    doc = yaml.safe_load(path.read_text())
    return [
        (case["alertname"], bool(case.get("exp_alerts")))
        for test in doc["tests"]
        for case in test.get("alert_rule_test", [])
    ]


def test_promtool_accepts_the_alert_rules() -> None:
    done = promtool("check", "rules", RULES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_rule_unit_test_passes() -> None:
    assert TESTS
    done = promtool("test", "rules", *TESTS)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_test_that_fires_it_and_one_that_does_not() -> None:
    cases = [case for path in TESTS for case in _tested(path)]
    fired = {name for name, fires in cases if fires}
    quiet = {name for name, fires in cases if not fires}
    alerts = set(_alerts())
    assert len(alerts) >= 10
    assert alerts - fired == set()
    assert alerts - quiet == set()
    assert {name for name, _ in cases} - alerts == set()  # no test of an alert that is gone


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_has_a_severity_a_summary_and_a_runbook(name: str) -> None:
    rule = _alerts()[name]
    assert rule["labels"]["severity"] in ("warning", "critical")
    annotations = rule["annotations"]
    assert {"summary", "description", "runbook"} <= set(annotations)
    assert len(annotations["runbook"]) > 80


def test_the_compose_prometheus_config_loads_the_alert_rules(tmp_path: Path) -> None:
    """As mounted by deploy/compose (the config and alerts.yaml side by side)."""
    config = REPO_ROOT / "deploy" / "compose" / "observability" / "prometheus.yml"
    (tmp_path / "prometheus.yml").write_text(config.read_text())
    (tmp_path / "alerts.yaml").write_text(RULES.read_text())
    done = promtool("check", "config", tmp_path / "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 17 rules found" in done.stdout
