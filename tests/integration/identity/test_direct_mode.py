"""Direct mode against a real IdP and a real `giru run`: Giru as an OAuth protected resource."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.idp import IdentityProviderPeer
from tests.integration.gateway import ADMIN_TOKEN, KEY, wait_until
from tests.integration.oauth import DirectGiru, direct_giru, mcp

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def direct(
    oidc_provider: IdentityProviderPeer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DirectGiru]:
    with direct_giru(oidc_provider, tmp_path_factory.mktemp("direct")) as running:
        yield running


@pytest.mark.parametrize(
    ("metadata", "resource"),
    [
        ("/.well-known/oauth-protected-resource", "/mcp"),
        ("/.well-known/oauth-protected-resource/mcp", "/mcp"),
        ("/.well-known/oauth-protected-resource/mcp/ward", "/mcp/ward"),
        ("/.well-known/oauth-protected-resource/sse", "/sse"),
        ("/.well-known/oauth-protected-resource/mcp/ward/sse", "/mcp/ward/sse"),
    ],
)
def test_each_endpoint_publishes_its_protected_resource_metadata(
    direct: DirectGiru, metadata: str, resource: str
) -> None:
    response = httpx.get(direct.giru.url(metadata))
    assert response.status_code == 200
    assert response.json() == {
        "resource": direct.giru.url(resource),
        "authorization_servers": [direct.idp.issuer],
        "bearer_methods_supported": ["header"],
        "resource_name": "Giru MCP gateway",
        "scopes_supported": ["mcp"],
    }


@pytest.mark.parametrize(
    "metadata",
    [
        "/.well-known/oauth-protected-resource/mcp/keysonly",
        "/.well-known/oauth-protected-resource/mcp/nothing",
        "/.well-known/oauth-protected-resource/mcp/ward/messages",
    ],
)
def test_an_endpoint_without_oauth_has_no_metadata(direct: DirectGiru, metadata: str) -> None:
    assert httpx.get(direct.giru.url(metadata)).status_code == 404


@pytest.mark.parametrize("path", ["/mcp", "/mcp/ward"])
def test_no_credentials_get_a_challenge_naming_the_metadata(direct: DirectGiru, path: str) -> None:
    response = mcp(direct.giru, "tools/list", token=None, path=path)
    assert response.status_code == 401
    metadata = direct.giru.url(f"/.well-known/oauth-protected-resource{path}")
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{metadata}", scope="mcp"'
    )


def tool_names(direct: DirectGiru, token: str, path: str = "/mcp") -> set[str]:
    response = mcp(direct.giru, "tools/list", token=token, path=path)
    assert response.status_code == 200, response.text
    return {tool["name"] for tool in response.json()["result"]["tools"]}


def test_a_person_calls_a_tool_their_group_is_subscribed_to(direct: DirectGiru) -> None:
    token = direct.token("alice")
    assert "clinic__echo" in tool_names(direct, token)
    params = {"name": "clinic__echo", "arguments": {"text": "vitals"}}
    response = mcp(direct.giru, "tools/call", params, token=token)
    assert response.status_code == 200, response.text
    assert "vitals" in response.text
    records: list[dict[str, object]] = []

    def audited() -> bool:
        response = httpx.get(
            direct.giru.url("/api/v1/audit"),
            params={"actor": "user:alice@hospital.example", "action": "tools/call"},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        records[:] = response.json()["items"]
        return bool(records)

    wait_until(audited, "the audit record of alice's call")
    details = records[0]["details"]
    assert isinstance(details, dict)
    assert details["client"] == "mcp-test-client"
    assert details["subject"]["email"] == "alice@hospital.example"
    assert details["subject"]["groups"] == ["nurses"]
    assert token.rsplit(".", 1)[-1] not in str(records)
    usage: list[dict[str, object]] = []

    def metered() -> bool:  # the usage record names the person and the agent apart
        response = httpx.get(
            direct.giru.url("/api/v1/usage"),
            params={"groupBy": "agent", "person": "alice@hospital.example"},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        usage[:] = response.json()["items"]
        return bool(usage)

    wait_until(metered, "the usage record of alice's call")
    assert [item["key"] for item in usage] == ["mcp-test-client"]
    ward = direct.token("alice", path="/mcp/ward")
    assert "clinic__echo" in tool_names(direct, ward, "/mcp/ward")


def test_a_person_outside_the_group_sees_no_tool_and_cannot_call_one(direct: DirectGiru) -> None:
    token = direct.token("bob")
    assert tool_names(direct, token) == set()
    params = {"name": "clinic__echo", "arguments": {"text": "x"}}
    response = mcp(direct.giru, "tools/call", params, token=token)
    assert "error" in response.json()


def test_a_person_moved_into_the_group_gets_its_tools_at_the_next_refresh(
    direct: DirectGiru,
) -> None:
    resource = direct.resource()
    tokens = direct.idp.tokens("bob", resource=resource)
    assert tokens.refresh_token is not None
    assert tool_names(direct, tokens.access_token) == set()
    direct.idp.set_groups("bob", ["billing", "nurses"])
    try:
        refreshed = direct.idp.refresh(tokens.refresh_token, resource=resource)
        assert "clinic__echo" in tool_names(direct, refreshed.access_token)
    finally:
        direct.idp.set_groups("bob", ["billing"])


def test_a_virtual_server_takes_only_tokens_minted_for_it(direct: DirectGiru) -> None:
    ward = direct.token("alice", path="/mcp/ward")
    assert mcp(direct.giru, "tools/list", token=ward, path="/mcp/ward").status_code == 200
    response = mcp(direct.giru, "tools/list", token=ward, path="/mcp")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "another resource" in response.json()["error"]["message"]


def test_api_keys_keep_working_where_oauth_is_also_accepted(direct: DirectGiru) -> None:
    assert mcp(direct.giru, "tools/list", token=KEY).status_code == 200
    assert mcp(direct.giru, "tools/list", token=KEY, path="/mcp/keysonly").status_code == 200
    refused = mcp(direct.giru, "tools/list", token=KEY, path="/mcp/ward")
    assert refused.status_code == 401


def test_an_api_key_only_endpoint_refuses_tokens(direct: DirectGiru) -> None:
    token = direct.token("alice", path="/mcp/keysonly")
    response = mcp(direct.giru, "tools/list", token=token, path="/mcp/keysonly")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="giru"'


def test_a_token_lacking_a_required_scope_gets_403_insufficient_scope_and_is_audited(
    direct: DirectGiru,
) -> None:
    path = "/mcp/ward"
    lacking = direct.token("alice", path=path, scope="openid email profile groups")
    response = mcp(direct.giru, "tools/list", token=lacking, path=path)
    assert response.status_code == 403
    metadata = direct.giru.url(f"/.well-known/oauth-protected-resource{path}")
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{metadata}", scope="mcp", error="insufficient_scope", '
        'error_description="the token lacks a required scope"'
    )
    assert "lacks a required scope" in response.json()["error"]["message"]
    records: list[dict[str, object]] = []

    def audited() -> bool:
        found = httpx.get(
            direct.giru.url("/api/v1/audit"),
            params={"outcome": "forbidden", "action": "http POST"},
            headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        records[:] = [r for r in found.json()["items"] if "scope" in str(r["reasons"])]
        return bool(records)

    wait_until(audited, "the audit record of the refused token")
    assert lacking.rsplit(".", 1)[-1] not in str(records)
    granted = direct.token("alice", path=path)
    assert mcp(direct.giru, "tools/list", token=granted, path=path).status_code == 200
