"""Metrics, dashboards and docs against the real production topology (`make stack`: PostgreSQL,
Redis, OPA, the control plane, two workers, Envoy) with calls through it:

- every Giru process's /metrics passes `promtool check metrics`;
- every panel of every dashboard in deploy/grafana/ parses (promtool checks each expression as a
  recording rule) and names only metrics the stack exports: Giru's from the control plane's and
  the workers' /metrics, Envoy's from its own /stats/prometheus;
- docs/observability.md's metrics table lists exactly the metrics Giru exports.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.promtool import promtool
from tests.e2e.calls import tool_call
from tests.integration.gateway import CLIENT, KEY, python_stdio_server
from tests.peers import REPO_ROOT
from tests.stack import Stack, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]  # the stack starts first

DASHBOARDS = sorted((REPO_ROOT / "deploy" / "grafana").glob("*.json"))
DOCS = REPO_ROOT / "docs" / "observability.md"
_FAMILY = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
_NAME = re.compile(r"\b((?:giru|mcp|envoy)_[a-zA-Z0-9_:]+)")
_LABEL_LISTS = re.compile(
    r"\{[^}]*\}|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
)
"""What holds label names, not metric names: matchers and grouping clauses."""
_SUFFIXES = ("_bucket", "_count", "_sum")
_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$server": ".*"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    manifests = "---".join([python_stdio_server("kit"), CLIENT])
    with running_stack(
        tmp_path_factory.mktemp("stack"), manifests, env={"GIRU_E2E_KEY": KEY}
    ) as running:
        for n in range(1, 6):  # traffic through the edge: calls, an unknown tool, a bad key
            for key, tool in ((KEY, "kit__echo"), (KEY, "kit__nope"), ("not-a-key", "kit__echo")):
                body, headers = tool_call(key, tool, {"text": f"hello {n}"}, n)
                httpx.post(running.url("/mcp"), content=body, headers=headers, timeout=30)
        yield running


@pytest.fixture(scope="module")
def giru_scrapes(stack: Stack) -> dict[str, str]:
    """The /metrics body of the control plane and of each worker."""
    urls = {"control": stack.control, **{w: stack.worker_url(w) for w in stack.worker_names}}
    return {name: httpx.get(f"{url}/metrics", timeout=10).text for name, url in urls.items()}


@pytest.fixture(scope="module")
def envoy_scrape(stack: Stack) -> str:
    return httpx.get(f"{stack.admin}/stats/prometheus", timeout=10).text


def _families(*scrapes: str) -> dict[str, str]:
    """Metric family name -> type, from the `# TYPE` lines."""
    return {name: kind for text in scrapes for name, kind in _FAMILY.findall(text)}


def _family_of(name: str, families: dict[str, str]) -> str | None:
    if name in families:
        return name
    for suffix in _SUFFIXES:
        base = name.removesuffix(suffix)
        if base != name and families.get(base) in ("histogram", "summary"):
            return base
    return None


def _expressions(path: Path) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel in a dashboard."""
    doc: dict[str, Any] = json.loads(path.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in doc["panels"]
        for target in panel.get("targets", [])
    ]


def _concrete(expr: str) -> str:
    for variable, value in _GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown dashboard variable in {expr}"
    return expr


def test_every_giru_process_exports_metrics_promtool_accepts(giru_scrapes: dict[str, str]) -> None:
    for name, text in giru_scrapes.items():
        assert "giru_" in text, name
        done = promtool("check", "metrics", stdin=text)
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"


def test_calls_through_the_stack_show_in_the_metrics(giru_scrapes: dict[str, str]) -> None:
    workers = "".join(text for name, text in giru_scrapes.items() if name != "control")
    control = giru_scrapes["control"]
    assert re.search(r'^mcp_server_operation_duration_seconds_count\{.*"tools/call"', workers, re.M)
    assert re.search(
        r'^mcp_client_operation_duration_seconds_count\{.*giru_server="kit"', workers, re.M
    )
    assert re.search(r'^giru_upstream_up\{server="kit"\} 1\.0$', workers, re.M)
    assert _total(workers, r'giru_policy_decisions_total\{outcome="allowed"\}') >= 5
    assert _total(workers, r'giru_edge_authz_checks_total\{outcome="denied"\}') >= 5
    assert _total(control, r'giru_xds_acks_total\{type="Cluster"\}') >= 1
    assert _total(control, r"giru_xds_rejected") == 0
    expiry = _total(control, r'giru_tls_certificate_expiry_timestamp_seconds\{listener="https"\}')
    assert expiry > time.time()


def _total(text: str, series: str) -> float:
    """The sum of the samples of `series` (a regex of name and labels) in `text`."""
    values = re.findall(rf"^{series} (\S+)$", text, re.MULTILINE)
    assert values, f"no {series}"
    return sum(float(value) for value in values)


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda path: path.stem)
def test_every_dashboard_query_parses(dashboard: Path, tmp_path: Path) -> None:
    expressions = _expressions(dashboard)
    assert expressions
    rules = [
        {"record": f"dashboard:panel_{index}", "expr": _concrete(expr)}
        for index, (_, expr) in enumerate(expressions)
    ]
    path = tmp_path / "panels.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": dashboard.stem, "rules": rules}]}))
    done = promtool("check", "rules", path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda path: path.stem)
def test_every_dashboard_names_only_metrics_the_stack_exports(
    dashboard: Path, giru_scrapes: dict[str, str], envoy_scrape: str
) -> None:
    families = _families(*giru_scrapes.values(), envoy_scrape)
    assert any(name.startswith("envoy_") for name in families)
    unknown = [
        (title, name)
        for title, expr in _expressions(dashboard)
        for name in _NAME.findall(_LABEL_LISTS.sub(" ", expr))
        if _family_of(name, families) is None
    ]
    assert unknown == []


def test_the_docs_list_exactly_the_metrics_giru_exports(giru_scrapes: dict[str, str]) -> None:
    exported = {
        name: kind
        for name, kind in _families(*giru_scrapes.values()).items()
        if name.startswith(("giru_", "mcp_")) and not name.endswith("_created")
    }
    table = DOCS.read_text(encoding="utf-8").split("## Metrics", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `((?:giru|mcp)_[a-z0-9_]+)` \| (\w+) \|", table, re.MULTILINE)
    documented = dict(rows)
    assert sorted(exported.keys() - documented.keys()) == []
    assert sorted(documented.keys() - exported.keys()) == []
    assert {name: kind for name, kind in documented.items() if exported[name] != kind} == {}
