"""The control loop's pure parts: store documents compiled into the runtime config."""

from __future__ import annotations

from typing import Any

from giru.control import compile_documents, tool_labels

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


def test_tool_labels_join_server_and_tool_tags() -> None:
    config, _ = compile_documents([("MCPServer", "kit", SERVER)], {})
    tags, categories = tool_labels(config, "kit", ["write", "read", "new"])
    assert tags == {"write": ["internal", "write"], "read": ["internal"], "new": ["internal"]}
    assert categories == {"write": "data"}
    assert tool_labels(config, "gone", ["x"]) == ({}, {})
