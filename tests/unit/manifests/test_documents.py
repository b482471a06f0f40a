"""Subscription and Environment documents: field rules, cross-field problems, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from giru.errors import ConfigError
from giru.manifests import load
from giru.manifests.documents import (
    EnvironmentDocument,
    EnvironmentSpec,
    SubscriptionDocument,
    SubscriptionSpec,
)

BASE: dict[str, Any] = {"client": "ci", "server": "github", "scopeTools": ["search_issues"]}


def subscription(**fields: Any) -> SubscriptionSpec:
    return SubscriptionSpec.model_validate({**BASE, **fields})


def test_subscription_defaults_are_selective_pending_free_and_unlimited() -> None:
    dumped = subscription().model_dump(mode="json", by_alias=True)
    assert dumped == {
        "client": "ci",
        "subject": None,
        "server": "github",
        "environment": None,
        "scopeType": "selective",
        "scopeTools": ["search_issues"],
        "rateLimitRps": None,
        "burst": None,
        "quotaPerDay": None,
        "quotaPerMonth": None,
        "constraints": {},
        "startsAt": None,
        "expiresAt": None,
        "status": None,
        "requiresApproval": False,
    }


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        (
            {"scopeTools": []},
            [("spec.scopeTools", "list at least one tool when scopeType is selective")],
        ),
        ({"scopeType": "all"}, [("spec.scopeTools", "must be empty when scopeType is all")]),
        ({"scopeType": "all", "scopeTools": []}, []),
        ({"scopeTools": ["a", "b", "a"]}, [("spec.scopeTools", "lists a tool more than once")]),
        ({"burst": 10}, [("spec.burst", "needs spec.rateLimitRps")]),
        ({"burst": 10, "rateLimitRps": 5}, []),
        (
            {"startsAt": "2026-06-01T00:00:00Z", "expiresAt": "2026-06-01T00:00:00Z"},
            [("spec.expiresAt", "must be after spec.startsAt")],
        ),
        (
            {"startsAt": "2026-06-01T00:00:00Z", "expiresAt": "2026-06-01T02:00:00+03:00"},
            [("spec.expiresAt", "must be after spec.startsAt")],  # 23:00Z the day before
        ),
        ({"startsAt": "2026-06-01T00:00:00Z", "expiresAt": "2026-06-02T00:00:00Z"}, []),
        ({"expiresAt": "2026-06-02T00:00:00Z"}, []),
    ],
)
def test_subscription_cross_field_rules(
    fields: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    assert subscription(**fields).problems() == problems


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"scopeType": "some"}, "scopeType", "Input should be 'all' or 'selective'"),
        ({"status": "approved"}, "status", "Input should be 'pending', 'active'"),
        ({"rateLimitRps": 0}, "rateLimitRps", "greater than or equal to 1"),
        ({"burst": 1_000_001}, "burst", "less than or equal to 1000000"),
        ({"quotaPerDay": -1}, "quotaPerDay", "greater than or equal to 0"),
        ({"rateLimitRps": "5"}, "rateLimitRps", "valid integer"),  # strict: no coercion
        ({"client": "CI"}, "client", "lowercase letters"),
        ({"scopeTools": ["bad tool"]}, "scopeTools", "a tool name is"),
        ({"requiresApproval": "yes"}, "requiresApproval", "valid boolean"),
        ({"owner": "x"}, "owner", "Extra inputs are not permitted"),
    ],
)
def test_subscription_field_rules(fields: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        subscription(**fields)
    errors = caught.value.errors()
    assert [e["loc"][0] for e in errors] == [field]
    assert message in errors[0]["msg"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-31T23:59:59Z", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("2026-12-31T23:59:59+02:00", datetime(2026, 12, 31, 21, 59, 59, tzinfo=UTC)),
        ("2026-12-31T23:59:59.250-01:00", datetime(2027, 1, 1, 0, 59, 59, 250000, tzinfo=UTC)),
        (
            datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 1, 1, 17, tzinfo=UTC),
        ),
    ],
)
def test_timestamps_are_parsed_and_normalised_to_utc(value: Any, expected: datetime) -> None:
    spec = subscription(expiresAt=value)
    assert spec.expires_at == expected
    assert spec.expires_at is not None
    assert spec.expires_at.tzinfo == UTC


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-12-31T23:59:59", "must include a time zone (Z or +hh:mm)"),
        (datetime(2026, 12, 31), "must include a time zone (Z or +hh:mm)"),
        ("next tuesday", "must be an RFC 3339 timestamp such as 2026-12-31T23:59:59Z"),
        (1767225599, "must be an RFC 3339 timestamp such as 2026-12-31T23:59:59Z"),
    ],
)
def test_timestamps_without_a_zone_or_not_timestamps_are_refused(value: Any, reason: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        subscription(startsAt=value)
    (error,) = caught.value.errors()
    assert error["loc"] == ("startsAt",)
    assert reason in error["msg"]


def test_timestamps_serialise_as_utc_with_z() -> None:
    spec = subscription(startsAt="2026-01-01T01:00:00+01:00", expiresAt="2026-02-01T00:00:00.5Z")
    dumped = spec.model_dump(mode="json", by_alias=True)
    assert (dumped["startsAt"], dumped["expiresAt"]) == (
        "2026-01-01T00:00:00Z",
        "2026-02-01T00:00:00.500000Z",
    )


def test_canonical_form_round_trips_to_an_equal_spec() -> None:
    spec = subscription(expiresAt="2026-12-31T23:59:59+02:00", rateLimitRps=5, burst=10)
    canonical = spec.model_dump(mode="json", by_alias=True)
    again = SubscriptionSpec.model_validate(canonical)
    assert again == spec
    assert again.model_dump(mode="json", by_alias=True) == canonical


def test_yaml_timestamps_parsed_by_the_yaml_loader_are_accepted() -> None:
    raw = yaml.safe_load(
        "apiVersion: giru.ai/v1alpha1\nkind: Subscription\nmetadata: {name: s}\n"
        "spec: {client: ci, server: github, scopeType: all, expiresAt: 2026-12-31T23:59:59Z}\n"
    )
    assert isinstance(raw["spec"]["expiresAt"], datetime)
    document = SubscriptionDocument.model_validate(raw)
    assert document.spec.expires_at == datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_environment_defaults_and_canonical_form() -> None:
    spec = EnvironmentSpec.model_validate({"displayName": "Production"})
    assert spec.problems() == []
    assert spec.model_dump(mode="json", by_alias=True) == {
        "displayName": "Production",
        "allowAutoApproval": False,
    }


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"displayName": "x" * 201}, "displayName"),
        ({"maxRateLimitRps": 50}, "maxRateLimitRps"),  # removed: stored, never enforced
        ({"requireMfa": True}, "requireMfa"),
        ({"allowAutoApproval": "true"}, "allowAutoApproval"),
        ({"approvers": ["a"]}, "approvers"),
    ],
)
def test_environment_field_rules(spec: dict[str, Any], field: str) -> None:
    document = {
        "apiVersion": "giru.ai/v1alpha1",
        "kind": "Environment",
        "metadata": {"name": "prod"},
        "spec": spec,
    }
    with pytest.raises(pydantic.ValidationError) as caught:
        EnvironmentDocument.model_validate(document)
    assert [e["loc"] for e in caught.value.errors()] == [("spec", field)]


HEADER = "apiVersion: giru.ai/v1alpha1\n"
REFERENCED = (
    HEADER + "kind: MCPServer\nmetadata: {name: github}\nspec: {transport: stdio, command: x}\n"
    "---\n" + HEADER + "kind: Client\nmetadata: {name: ci}\nspec: {servers: [github]}\n"
)


def test_subscription_problems_are_reported_with_file_document_and_field(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        REFERENCED + "---\n" + HEADER + "kind: Subscription\nmetadata: {name: s}\n"
        "spec: {client: ci, server: github, burst: 3, environment: qa,"
        " startsAt: '2026-02-01T00:00:00Z', expiresAt: '2026-01-01T00:00:00Z'}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ={}, cwd=tmp_path)
    where = f"{tmp_path / 'm.yaml'}:3: Subscription/s"
    assert caught.value.data["problems"] == [
        f"{where}: spec.scopeTools: list at least one tool when scopeType is selective",
        f"{where}: spec.burst: needs spec.rateLimitRps",
        f"{where}: spec.expiresAt: must be after spec.startsAt",
        f"{where}: spec.environment: no Environment named 'qa'",
    ]


def test_subscription_in_a_default_environment_loads(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        REFERENCED + "---\n" + HEADER + "kind: Subscription\nmetadata: {name: s}\n"
        "spec: {client: ci, server: github, scopeType: all, environment: prod}\n"
        "---\n"
        + HEADER
        + "kind: Environment\nmetadata: {name: qa}\nspec: {allowAutoApproval: true}\n"
    )
    config = load(tmp_path, environ={}, cwd=tmp_path)
    assert config.subscriptions["s"].spec.environment == "prod"
    assert set(config.environments) == {"dev", "staging", "prod", "qa"}
    assert config.environments["qa"].spec.allow_auto_approval


@pytest.mark.parametrize(
    ("tools", "problems"),
    [
        ({"search": {"rps": 2, "burst": 4}}, []),
        ({"search": {"rps": 0.5, "maxSize": 10}}, []),  # other keys are policy's business
        ("search", [("spec.constraints.tools", "must be a map of tool name to {rps, burst}")]),
        (
            {"search": 2},
            [("spec.constraints.tools.search", "must be a map such as {rps: 2, burst: 4}")],
        ),
        (
            {"search": {"rps": 0}},
            [("spec.constraints.tools.search.rps", "must be a number greater than zero")],
        ),
        (
            {"search": {"rps": True}},
            [("spec.constraints.tools.search.rps", "must be a number greater than zero")],
        ),
        (
            {"search": {"rps": 1, "burst": 0}},
            [("spec.constraints.tools.search.burst", "must be an integer of at least 1")],
        ),
    ],
)
def test_per_tool_rate_limits_in_constraints_are_checked(
    tools: Any, problems: list[tuple[str, str]]
) -> None:
    spec = subscription(scopeTools=["search"], constraints={"tools": tools})
    assert spec.problems() == problems
    rates = spec.tool_rates()
    assert rates == (
        {} if problems else {k: (float(v["rps"]), v.get("burst")) for k, v in tools.items()}
    )


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"client": None}, ("spec", "set exactly one of client or subject")),
        ({"subject": {"user": "a@b.example"}}, ("spec", "set exactly one of client or subject")),
        (
            {"client": None, "subject": {"user": "a@b.example", "group": "nurses"}},
            ("spec.subject", "set exactly one of user or group"),
        ),
        (
            {"client": None, "subject": {"user": "nobody"}},
            ("spec.subject.user", "must be an email address"),
        ),
    ],
)
def test_a_subscription_names_a_client_or_people(
    fields: dict[str, Any], problem: tuple[str, str]
) -> None:
    assert problem in subscription(**fields).problems()


def test_a_subscription_of_a_group_grants_to_the_group_key() -> None:
    spec = subscription(client=None, subject={"group": "nurses"})
    assert spec.problems() == []
    assert spec.grantee == "group:nurses"
    assert subscription().grantee == "ci"
