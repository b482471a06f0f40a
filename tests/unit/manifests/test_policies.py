"""Policy documents and client claims: field rules, selector references, `Config.policies`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from giru.errors import ConfigError
from giru.manifests import load
from giru.manifests.documents import ClientSpec, PolicyDocument, PolicySpec

HEADER = "apiVersion: giru.ai/v1alpha1\n"
TARGETS = (
    HEADER + "kind: MCPServer\nmetadata: {name: payments}\nspec: {transport: stdio, command: x}\n"
    "---\n" + HEADER + "kind: VirtualServer\nmetadata: {name: finance}\n"
    "spec: {servers: [payments]}\n"
)


def policy(**spec: Any) -> PolicySpec:
    return PolicySpec.model_validate({"packs": ["core"], **spec})


def test_a_policy_defaults_to_every_server_with_no_data() -> None:
    dumped = policy().model_dump(mode="json", by_alias=True)
    assert dumped == {
        "packs": ["core"],
        "selector": {"servers": [], "virtualServers": [], "environments": []},
        "data": {},
        "description": None,
    }


def test_policy_attributes_are_snake_case_in_python() -> None:
    spec = policy(
        packs=["core", "pci_dss"],
        selector={"servers": ["payments"], "virtualServers": ["finance"], "environments": ["prod"]},
        data={"pci_dss": {"cardholder_data_zones": ["secure-zone-1"]}},
        description="cards",
    )
    assert spec.packs == ["core", "pci_dss"]
    assert spec.selector.servers == ["payments"]
    assert spec.selector.virtual_servers == ["finance"]
    assert spec.selector.environments == ["prod"]
    assert spec.data == {"pci_dss": {"cardholder_data_zones": ["secure-zone-1"]}}
    assert spec.description == "cards"
    assert spec.problems() == []


@pytest.mark.parametrize(
    ("spec", "location"),
    [
        ({"packs": []}, ("packs",)),
        ({"packs": ["PCI"]}, ("packs", 0)),
        ({"packs": ["1core"]}, ("packs", 0)),
        ({"packs": [f"p{i}" for i in range(21)]}, ("packs",)),
        ({"packs": ["core"], "selector": {"servers": ["Bad_Name"]}}, ("selector", "servers", 0)),
        ({"packs": ["core"], "selector": {"clients": ["x"]}}, ("selector", "clients")),
        ({"packs": ["core"], "data": {"core": []}}, ("data", "core")),
        ({"packs": ["core"], "description": "x" * 501}, ("description",)),
        ({"packs": ["core"], "rules": {}}, ("rules",)),
    ],
)
def test_policy_field_rules(spec: dict[str, Any], location: tuple[Any, ...]) -> None:
    document = {
        "apiVersion": "giru.ai/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": "p"},
        "spec": spec,
    }
    with pytest.raises(pydantic.ValidationError) as caught:
        PolicyDocument.model_validate(document)
    first = caught.value.errors()[0]["loc"][1:]
    assert first[: len(location)] == location


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        ({"packs": ["core", "core"]}, [("spec.packs", "lists a pack more than once")]),
        (
            {"packs": ["core"], "data": {"core": {}, "hipaa": {"x": 1}}},
            [("spec.data.hipaa", "pack 'hipaa' is not in spec.packs")],
        ),
        (
            {"selector": {"environments": ["prod", "prod"]}},
            [("spec.selector.environments", "lists a name more than once")],
        ),
        ({"packs": ["core", "hipaa"], "data": {"hipaa": {"x": 1}}}, []),
    ],
)
def test_policy_cross_field_problems(
    fields: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    assert policy(**fields).problems() == problems


def test_policies_compile_into_the_config_by_name(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        TARGETS + "---\n" + HEADER + "kind: Policy\nmetadata: {name: pci}\n"
        "spec: {packs: [core, pci_dss], selector: {servers: [payments],"
        " virtualServers: [finance], environments: [prod]},"
        " data: {pci_dss: {mask_results: false}}}\n"
    )
    config = load(tmp_path, environ={}, cwd=tmp_path)
    assert list(config.policies) == ["pci"]
    pci = config.policies["pci"]
    assert isinstance(pci, PolicyDocument)
    assert pci.spec.packs == ["core", "pci_dss"]
    assert pci.spec.data == {"pci_dss": {"mask_results": False}}


def test_a_policy_naming_what_does_not_exist_is_reported_per_item(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        TARGETS + "---\n" + HEADER + "kind: Policy\nmetadata: {name: pci}\n"
        "spec: {packs: [core], data: {gdpr: {}}, selector: {servers: [payments, x],"
        " virtualServers: [y], environments: [prod, qa]}}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, environ={}, cwd=tmp_path)
    where = f"{tmp_path / 'm.yaml'}:3: Policy/pci"
    assert caught.value.data["problems"] == [
        f"{where}: spec.data.gdpr: pack 'gdpr' is not in spec.packs",
        f"{where}: spec.selector.servers[1]: no MCPServer named 'x'",
        f"{where}: spec.selector.virtualServers[0]: no VirtualServer named 'y'",
        f"{where}: spec.selector.environments[1]: no Environment named 'qa'",
    ]


def test_client_claims_reach_the_compiled_config(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        HEADER + "kind: Client\nmetadata: {name: nurse}\nspec:\n  apiKeyEnv: K\n  claims:\n"
        "    user_id: u-17\n    role: nurse\n    mfa: true\n    clearance: 3\n"
        "    score: 0.5\n    groups: [ward-4, icu]\n"
    )
    config = load(tmp_path, environ={"K": "key"}, cwd=tmp_path)
    assert dict(config.clients["nurse"].claims) == {
        "user_id": "u-17",
        "role": "nurse",
        "mfa": True,
        "clearance": 3,
        "score": 0.5,
        "groups": ["ward-4", "icu"],
    }


def test_claims_keep_their_types_and_default_to_none() -> None:
    assert ClientSpec.model_validate({}).claims == {}
    claims = ClientSpec.model_validate({"claims": {"mfa": False, "n": 1, "x": 1.5}}).claims
    assert [type(v) for v in claims.values()] == [bool, int, float]


@pytest.mark.parametrize(
    "claims",
    [
        {"Role": "x"},
        {"user-id": "x"},
        {"_x": "x"},
        {"a" * 64: "x"},
        {"nested": {"a": 1}},
        {"many": [1, 2]},
        {"long": "x" * 1025},
        {"list": ["x"] * 65},
        {f"k{i}": i for i in range(65)},
        {"nan": float("nan")},
        {"nothing": None},
    ],
)
def test_invalid_claims_are_refused(claims: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        ClientSpec.model_validate({"claims": claims})


@pytest.mark.parametrize(
    ("claims", "problems"),
    [
        ({"mfa": "yes"}, [("spec.claims.mfa", "must be true or false")]),
        ({"mfa": 1}, [("spec.claims.mfa", "must be true or false")]),
        (
            {"role": 7, "user_id": ["a"]},
            [
                ("spec.claims.user_id", "must be a string"),
                ("spec.claims.role", "must be a string"),
            ],
        ),
        ({"mfa": True, "role": "nurse", "lawful_basis": "consent", "extra": 1}, []),
    ],
)
def test_well_known_claims_must_have_the_type_policies_read(
    claims: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    assert ClientSpec.model_validate({"claims": claims}).problems() == problems
