"""The control loop's pure parts: store documents compiled into the runtime config."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from giru.api import NoPolicyEngine
from giru.control import compile_documents, tool_labels
from giru.errors import PolicyUnavailableError

SERVER: dict[str, Any] = {
    "transport": "stdio",
    "command": "kit",
    "tags": ["internal"],
    "tools": {"write": {"tags": ["write"], "category": "data"}, "read": {}},
}


def test_store_documents_compile_with_the_stored_keys() -> None:
    documents = [
        ("MCPServer", "kit", SERVER),
        ("Client", "alice", {"servers": ["kit"]}),
        ("Subscription", "s1", {"client": "alice", "server": "kit", "scopeTools": ["read"]}),
    ]
    config, problems = compile_documents(documents, {"alice": ("hmac-sha256:" + "0" * 64,)})
    assert problems == []
    assert set(config.servers) == {"kit"}
    assert config.clients["alice"].key_hashes == ("hmac-sha256:" + "0" * 64,)
    assert config.subscriptions["s1"].spec.scope_tools == ["read"]


def test_an_object_that_does_not_compile_here_is_left_out_and_reported() -> None:
    documents = [
        ("MCPServer", "kit", SERVER),
        (
            "MCPServer",
            "remote",
            {
                "transport": "sse",
                "url": "http://127.0.0.1:9/sse",
                "headers": {"Authorization": "Bearer ${UNSET_TOKEN_VAR}"},
            },
        ),
        ("Client", "ops", {"apiKeyEnv": "UNSET_KEY_VAR", "servers": ["*"]}),
        ("Widget", "w", {}),
    ]
    config, problems = compile_documents(documents, {}, environ={})
    assert set(config.servers) == {"kit"}
    assert config.clients == {}
    assert len(problems) == 3
    assert any("UNSET_TOKEN_VAR" in p for p in problems)
    assert any("store:Widget/w" in p for p in problems)


def test_stored_policies_and_claims_compile_into_the_config() -> None:
    policy = {"packs": ["core", "pci_dss"], "selector": {"servers": ["kit"]}}
    documents = [
        ("MCPServer", "kit", SERVER),
        ("Client", "alice", {"servers": ["kit"], "claims": {"role": "nurse", "mfa": True}}),
        ("Policy", "pci", policy),
    ]
    config, problems = compile_documents(documents, {})
    assert problems == []
    assert config.policies["pci"].spec.packs == ["core", "pci_dss"]
    assert config.policies["pci"].spec.selector.servers == ["kit"]
    assert dict(config.clients["alice"].claims) == {"role": "nurse", "mfa": True}


def test_without_a_policy_engine_nothing_is_decided() -> None:
    engine = NoPolicyEngine()
    with pytest.raises(PolicyUnavailableError, match="no policy engine is attached") as caught:
        asyncio.run(engine.evaluate_policy({"mcp": {}}))
    assert caught.value.code == "policy_unavailable"
    assert engine.policy_status()["active"] is False
    with pytest.raises(PolicyUnavailableError):
        engine.policy_bundle()


def test_tool_labels_join_server_and_tool_tags() -> None:
    config, _ = compile_documents([("MCPServer", "kit", SERVER)], {})
    tags, categories = tool_labels(config, "kit", ["write", "read", "new"])
    assert tags == {"write": ["internal", "write"], "read": ["internal"], "new": ["internal"]}
    assert categories == {"write": "data"}
    assert tool_labels(config, "gone", ["x"]) == ({}, {})
