"""kubectl-like output: tables, JSON, YAML, describe, and the kinds' names and columns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from giru.cli.kinds import BY_KIND, KINDS, age, resolve_kind
from giru.cli.output import Format, print_objects, print_table, render_describe
from giru.errors import ValidationError


def server(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "giru.ai/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": name, "uid": "u-1", "resourceVersion": "3", "createdAt": None},
        "spec": {"transport": "streamable-http", "url": f"https://{name}.example/mcp", **spec},
        "status": {"health": "healthy", "tools": 12},
    }


def test_table_has_capital_headers_aligned_columns_and_no_trailing_blanks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_table(["NAME", "TRANSPORT"], [["github", "streamable-http"], ["fs", "stdio"]])
    assert capsys.readouterr().out == (
        "NAME     TRANSPORT\ngithub   streamable-http\nfs       stdio\n"
    )


def test_wide_cells_are_never_truncated_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    long = "https://example.com/" + "x" * 300
    print_table(["NAME", "URL"], [["a", long]])
    assert long in capsys.readouterr().out


def test_cells_are_text_not_markup(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(["DESCRIPTION"], [["[bold]not bold[/bold]"]])
    assert "[bold]not bold[/bold]" in capsys.readouterr().out


def test_server_table_shows_the_useful_columns(capsys: pytest.CaptureFixture[str]) -> None:
    info = BY_KIND["MCPServer"]
    print_objects(
        [server("github"), server("weather", enabled=False)],
        Format.table,
        info.columns,
        single=False,
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "NAME",
        "TRANSPORT",
        "ENDPOINT",
        "ENABLED",
        "HEALTH",
        "TOOLS",
        "AGE",
    ]
    assert lines[1].split() == [
        "github",
        "streamable-http",
        "https://github.example/mcp",
        "-",
        "healthy",
        "12",
        "-",
    ]
    assert lines[2].split()[3] == "no"


@pytest.mark.parametrize("fmt", [Format.json, Format.yaml])
def test_one_object_prints_alone_and_a_list_prints_items(
    fmt: Format, capsys: pytest.CaptureFixture[str]
) -> None:
    parse = json.loads if fmt is Format.json else yaml.safe_load
    columns = BY_KIND["MCPServer"].columns
    print_objects([server("a")], fmt, columns, single=True)
    assert parse(capsys.readouterr().out) == server("a")
    print_objects([server("a"), server("b")], fmt, columns, single=False)
    assert parse(capsys.readouterr().out) == {"items": [server("a"), server("b")]}


def test_yaml_keeps_the_api_field_order(capsys: pytest.CaptureFixture[str]) -> None:
    print_objects([server("a")], Format.yaml, (), single=True)
    top = [
        line.split(":")[0] for line in capsys.readouterr().out.splitlines() if line[:1].isalpha()
    ]
    assert top == ["apiVersion", "kind", "metadata", "spec", "status"]


def test_describe_shows_identity_spec_status_and_events() -> None:
    events = [{"at": None, "action": "created", "actor": "bootstrap", "version": 1}]
    text = render_describe(server("github", cwd=None), events)
    assert "cwd" not in text  # unset fields are left out of a description
    lines = text.splitlines()
    assert lines[0] == "Name:         github"
    assert "Kind:         MCPServer" in lines
    assert "  transport: streamable-http" in lines
    assert "  health: healthy" in lines
    assert lines[-2:] == [
        "  AGE   ACTION    ACTOR       VERSION",
        "  -     created   bootstrap   1",
    ]


@pytest.mark.parametrize(
    ("events", "last"),
    [([], "  <none>"), ("permission denied", "  <unavailable: permission denied>")],
)
def test_describe_without_events(events: list[dict[str, Any]] | str, last: str) -> None:
    obj = {**server("a"), "status": {}}
    text = render_describe(obj, events)
    assert "Status:\n  <none>\nEvents:" in text
    assert text.splitlines()[-1] == last


NOW = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2026-05-01T11:59:15Z", "45s"),
        ("2026-05-01T11:48:00Z", "12m"),
        ("2026-05-01T07:00:00+00:00", "5h"),
        ("2026-04-28T12:00:00Z", "3d"),
        ("2026-05-01T12:00:10Z", "0s"),  # clock skew: never negative
        ("yesterday", "-"),
        (None, "-"),
    ],
)
def test_age_is_kubectl_style(timestamp: str | None, expected: str) -> None:
    assert age(timestamp, NOW) == expected


@pytest.mark.parametrize(
    ("alias", "kind"),
    [
        ("servers", "MCPServer"),
        ("server", "MCPServer"),
        ("MCPServer", "MCPServer"),
        ("clients", "Client"),
        ("sub", "Subscription"),
        ("subscriptions", "Subscription"),
        ("vs", "VirtualServer"),
        ("virtualservers", "VirtualServer"),
        ("env", "Environment"),
        ("environments", "Environment"),
        ("policies", "Policy"),
        ("pol", "Policy"),
        ("idp", "IdentityProvider"),
        ("identityproviders", "IdentityProvider"),
    ],
)
def test_kinds_accept_plural_and_short_aliases(alias: str, kind: str) -> None:
    assert resolve_kind(alias).kind == kind


def test_an_unknown_kind_lists_the_accepted_names() -> None:
    with pytest.raises(ValidationError, match="unknown resource type 'gateways'") as caught:
        resolve_kind("gateways")
    assert "vs" in caught.value.message


def test_every_kind_has_an_api_path_and_a_name_column() -> None:
    assert {info.path for info in KINDS} == {
        "servers",
        "virtual-servers",
        "clients",
        "subscriptions",
        "environments",
        "policies",
        "identity-providers",
    }
    assert all(info.columns[0][0] == "NAME" for info in KINDS)


@pytest.mark.parametrize(
    ("selector", "shown"),
    [
        ({}, "*"),
        ({"servers": [], "environments": []}, "*"),
        ({"servers": ["payments", "billing"]}, "servers=payments,billing"),
        (
            {"servers": ["payments"], "virtualServers": [], "environments": ["prod"]},
            "servers=payments;environments=prod",
        ),
    ],
)
def test_a_policy_row_shows_its_packs_and_selector(selector: dict[str, Any], shown: str) -> None:
    columns = dict(BY_KIND["Policy"].columns)
    policy = {
        "metadata": {"name": "pci"},
        "spec": {"packs": ["core", "pci_dss"], "selector": selector},
    }
    assert columns["PACKS"](policy) == "core,pci_dss"
    assert columns["SELECTOR"](policy) == shown
