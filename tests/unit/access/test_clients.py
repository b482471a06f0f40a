"""The client directory: bearer key → principal, and what the principal may use."""

from __future__ import annotations

import pytest

from giru.access import ClientDirectory, ClientPrincipal, hash_key, sha256_hash
from giru.access.apikeys import generate_key, hmac_hash, key_id
from giru.errors import ConfigError
from giru.manifests import ClientConfig, Config

ENV_KEY = "giru-demo-key"
SHA_KEY = "giru_sha-client-key"
ARGON_KEY = "giru_argon-client-key"
ARGON_HASH = hash_key(ARGON_KEY)


def config(*clients: ClientConfig) -> Config:
    return Config(clients={c.name: c for c in clients})


@pytest.fixture
def directory() -> ClientDirectory:
    return ClientDirectory.from_config(
        config(
            ClientConfig("demo", api_key_env="GIRU_DEMO_KEY", servers=("*",)),
            ClientConfig("ci", api_key_hash=sha256_hash(SHA_KEY), servers=("github",)),
            ClientConfig("analyst", api_key_hash=ARGON_HASH, tools=("github__search",)),
        ),
        environ={"GIRU_DEMO_KEY": ENV_KEY},
    )


@pytest.mark.parametrize(
    ("token", "client"),
    [
        (ENV_KEY, "demo"),
        (SHA_KEY, "ci"),
        (ARGON_KEY, "analyst"),
        (ENV_KEY + "x", None),
        ("", None),
        ("giru_unknown", None),
        (f"{ENV_KEY} ", None),  # not a bearer token character
        ("giru_clé", None),
        ("x" * 1025, None),
    ],
)
async def test_authenticate_finds_the_key_holder(
    directory: ClientDirectory, token: str, client: str | None
) -> None:
    principal = await directory.authenticate(token)
    assert (principal.name if principal else None) == client


async def test_principals_are_reachable_by_name(directory: ClientDirectory) -> None:
    assert len(directory) == 3
    assert directory.get("ci") == ClientPrincipal("ci", servers=frozenset({"github"}))
    assert directory.get("nobody") is None


def test_unset_key_variable_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"Client/demo: spec\.apiKeyEnv: environment variable"):
        ClientDirectory.from_config(
            config(ClientConfig("demo", api_key_env="GIRU_DEMO_KEY")), environ={}
        )


def test_two_clients_with_the_same_key_are_refused() -> None:
    clients = config(
        ClientConfig("a", api_key_env="KEY_A"),
        ClientConfig("b", api_key_hash=sha256_hash("same")),
    )
    with pytest.raises(ConfigError, match="Client/b: same API key as Client/a"):
        ClientDirectory.from_config(clients, environ={"KEY_A": "same"})


@pytest.mark.parametrize(
    ("servers", "tools", "server", "tool", "tool_allowed", "server_allowed"),
    [
        (("*",), (), "any", "thing", True, True),
        (("github",), (), "github", "search", True, True),
        (("github",), (), "jira", "search", False, False),
        ((), ("github__search",), "github", "search", True, False),
        ((), ("github__search",), "github", "delete_repo", False, False),
        ((), ("github__search",), "jira", "search", False, False),
        ((), (), "github", "search", False, False),  # absent lists allow nothing
    ],
)
def test_allow_lists(
    servers: tuple[str, ...],
    tools: tuple[str, ...],
    server: str,
    tool: str,
    tool_allowed: bool,
    server_allowed: bool,
) -> None:
    directory = ClientDirectory.from_config(
        config(ClientConfig("c", api_key_env="K", servers=servers, tools=tools)),
        environ={"K": "key"},
    )
    principal = directory.get("c")
    assert principal is not None
    assert principal.allows_tool(server, tool) is tool_allowed
    assert principal.allows_server(server) is server_allowed


async def test_reload_can_reuse_the_verifier_cache(directory: ClientDirectory) -> None:
    assert await directory.authenticate(ARGON_KEY) is not None
    again = ClientDirectory.from_config(
        config(ClientConfig("analyst", api_key_hash=ARGON_HASH)), verifier=directory.verifier
    )
    assert len(again.verifier) == 1
    principal = await again.authenticate(ARGON_KEY)
    assert principal is not None
    assert principal.name == "analyst"


def test_the_directory_knows_every_live_key_s_identifier_when_each_has_one() -> None:
    env_key, stored_key = generate_key(), generate_key()
    filed = f"{key_id(stored_key)}:{hmac_hash(stored_key, b'pepper')}"
    directory = ClientDirectory.from_config(
        config(
            ClientConfig("env", api_key_env="KEY", servers=("*",)),
            ClientConfig("stored", key_hashes=(filed,), servers=("*",)),
        ),
        environ={"KEY": env_key},
        pepper=b"pepper",
    )
    assert directory.key_ids == frozenset({env_key[:16], stored_key[:16]})


async def test_a_stored_hash_filed_under_its_identifier_still_lets_its_key_in() -> None:
    key = generate_key()
    filed = f"{key_id(key)}:{hmac_hash(key, b'pepper')}"
    directory = ClientDirectory.from_config(
        config(ClientConfig("stored", key_hashes=(filed,), servers=("*",))), pepper=b"pepper"
    )
    found = await directory.authenticate(key)
    assert found is not None
    assert found.name == "stored"


@pytest.mark.parametrize(
    "client",
    [
        ClientConfig("legacy", api_key_hash=sha256_hash("giru_sha-client-key")),
        ClientConfig("argon", api_key_hash=hash_key("giru_argon-client-key")),
        ClientConfig("env", api_key_env="KEY"),
    ],
    ids=["sha256", "argon2-without-id", "env-of-another-format"],
)
def test_a_key_without_identifier_leaves_the_identifiers_unknown(client: ClientConfig) -> None:
    directory = ClientDirectory.from_config(
        config(client, ClientConfig("new", api_key_hash=hash_key(generate_key()))),
        environ={"KEY": "giru-demo-key"},
    )
    assert directory.key_ids is None
