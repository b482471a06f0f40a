"""Which packs decide a call, with which data: Policy selectors compiled per route."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from giru.policy.bindings import BindingTable, deep_merge

DEFAULTS: dict[str, dict[str, Any]] = {
    "core": {"max_arguments_bytes": 1024},
    "pci_dss": {"mask_results": True, "zones": ["a"]},
    "hipaa": {"clinical_need_threshold": 50, "permitted_fields": {"nurse": ["name"]}},
}


@dataclass(frozen=True)
class Rule:
    name: str
    packs: tuple[str, ...]
    servers: tuple[str, ...] = ()
    virtual_servers: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    data: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def test_a_call_no_policy_selects_is_decided_by_core_with_its_defaults() -> None:
    table = BindingTable.compile([Rule("pay", ("pci_dss",), servers=("payments",))], DEFAULTS, [])
    key = table.key("notes", None, "production")
    assert table.bindings[key] == {"packs": ["core"], "data": {"core": DEFAULTS["core"]}}


def test_selectors_are_anded_and_an_empty_list_matches_anything() -> None:
    rules = [Rule("pay", ("pci_dss",), servers=("payments",), environments=("production",))]
    table = BindingTable.compile(rules, DEFAULTS, [])
    assert table.packs(table.key("payments", None, "production")) == ("core", "pci_dss")
    assert table.packs(table.key("payments", None, "staging")) == ("core",)
    assert table.packs(table.key("payments", "finance", "production")) == ("core", "pci_dss")


def test_the_most_specific_policy_wins_on_the_same_setting() -> None:
    rules = [
        Rule(
            "by-server",
            ("hipaa",),
            servers=("ehr",),
            data={"hipaa": {"clinical_need_threshold": 5}},
        ),
        Rule(
            "by-env",
            ("hipaa",),
            environments=("prod",),
            data={"hipaa": {"clinical_need_threshold": 99}},
        ),
    ]
    table = BindingTable.compile(rules, DEFAULTS, [])
    data = table.bindings[table.key("ehr", None, "prod")]["data"]["hipaa"]
    assert data["clinical_need_threshold"] == 5
    assert data["permitted_fields"] == {"nurse": ["name"]}  # defaults merged underneath


def test_identical_bindings_share_one_key() -> None:
    rules = [Rule("pay", ("pci_dss",), servers=("a", "b"))]
    table = BindingTable.compile(rules, DEFAULTS, [("a", None, None), ("b", None, None)])
    assert table.key("a", None, None) == table.key("b", None, None)
    assert len(table.bindings) == 1


def test_deep_merge_merges_objects_and_replaces_lists() -> None:
    merged = deep_merge({"a": {"x": 1, "y": [1]}, "b": 2}, {"a": {"y": [2]}, "c": 3})
    assert merged == {"a": {"x": 1, "y": [2]}, "b": 2, "c": 3}
