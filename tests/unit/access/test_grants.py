"""Subscriptions compiled into grants: the seed's resolve-tool-subscription rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from giru.access import ClientDirectory
from giru.access.apikeys import hmac_hash
from giru.access.grants import compile_grants, next_change
from giru.manifests import ClientConfig, Config, ServerConfig
from giru.manifests.config import SubscriptionConfig
from giru.manifests.documents import SubscriptionSpec

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PEPPER = b"unit-test-pepper-0123456789"


def subscription(name: str, **spec: Any) -> SubscriptionConfig:
    fields = {"client": "alice", "server": "kit", "scopeTools": ["echo"], "status": "active"}
    return SubscriptionConfig(name, SubscriptionSpec.model_validate({**fields, **spec}))


def config(*subs: SubscriptionConfig, enabled: bool = True) -> Config:
    return Config(
        servers={
            "kit": ServerConfig("kit", "stdio", command="kit", enabled=enabled),
            "other": ServerConfig("other", "stdio", command="other"),
        },
        clients={
            "alice": ClientConfig("alice", key_hashes=(hmac_hash("giru_alice-key", PEPPER),)),
            "bob": ClientConfig("bob", key_hashes=(hmac_hash("giru_bob-key", PEPPER),)),
        },
        subscriptions={s.name: s for s in subs},
    )


@pytest.mark.parametrize(
    ("spec", "granted"),
    [
        ({}, True),
        ({"status": "pending"}, False),
        ({"status": "suspended"}, False),
        ({"status": "expired"}, False),
        ({"startsAt": "2026-11-25T12:00:01Z"}, False),
        ({"startsAt": "2026-11-25T12:00:00Z"}, True),
        ({"expiresAt": "2026-11-25T12:00:00Z"}, False),
        ({"expiresAt": "2026-11-25T12:00:01+00:00"}, True),
        ({"scopeTools": ["slow"]}, False),
        ({"scopeType": "all", "scopeTools": []}, True),
        ({"server": "other"}, False),
    ],
)
def test_a_subscription_grants_its_tools_only_while_in_force(
    spec: dict[str, Any], granted: bool
) -> None:
    grants = compile_grants(config(subscription("s1", **spec)), NOW)
    alice = grants.get("alice")
    found = alice is not None and (("kit", "echo") in alice.tools or "kit" in alice.servers)
    assert found is granted


def test_a_disabled_server_grants_nothing() -> None:
    assert compile_grants(config(subscription("s1"), enabled=False), NOW) == {}


def test_the_first_subscription_by_name_is_the_one_recorded() -> None:
    grants = compile_grants(config(subscription("b-sub"), subscription("a-sub")), NOW)
    assert grants["alice"].tools == {("kit", "echo"): "a-sub"}


def test_next_change_is_the_nearest_future_start_or_expiry() -> None:
    soon, later = NOW + timedelta(minutes=5), NOW + timedelta(hours=1)
    subs = (
        subscription("s1", expiresAt=later.isoformat()),
        subscription("s2", startsAt=soon.isoformat()),
        subscription("s3", status="suspended", startsAt=(NOW + timedelta(seconds=1)).isoformat()),
    )
    assert next_change(config(*subs), NOW) == soon
    assert next_change(config(subscription("s1")), NOW) is None


async def test_the_directory_knows_each_clients_subscriptions() -> None:
    directory = ClientDirectory.from_config(config(subscription("s1")), pepper=PEPPER, now=NOW)
    alice = await directory.authenticate("giru_alice-key")
    bob = await directory.authenticate("giru_bob-key")
    assert alice is not None
    assert bob is not None
    assert alice.allows_tool("kit", "echo")
    assert not alice.allows_tool("kit", "slow")
    assert alice.subscription_for("kit", "echo") == "s1"
    assert not bob.allows_tool("kit", "echo")
    assert await directory.authenticate("giru_carol-key") is None


async def test_hmac_keys_need_the_same_pepper() -> None:
    directory = ClientDirectory.from_config(config(), pepper=b"another-pepper-0123456789")
    assert await directory.authenticate("giru_alice-key") is None
