"""People as principals: a verified access token → a ClientPrincipal with the grants of the
subscriptions naming the person or one of their groups, and the OAuth client as its agent."""

from __future__ import annotations

from typing import Any

from giru.access import ClientDirectory
from giru.identity import AccessToken, Person
from giru.manifests import Config, ServerConfig
from giru.manifests.config import SubscriptionConfig
from giru.manifests.documents import SubscriptionSpec


def subscription(name: str, subject: dict[str, str], **spec: Any) -> SubscriptionConfig:
    fields = {"subject": subject, "server": "ehr", "scopeType": "all", "status": "active"}
    return SubscriptionConfig(name, SubscriptionSpec.model_validate({**fields, **spec}))


def directory(*subs: SubscriptionConfig) -> ClientDirectory:
    config = Config(
        servers={
            "ehr": ServerConfig("ehr", "stdio", command="ehr"),
            "billing": ServerConfig("billing", "stdio", command="billing"),
        },
        subscriptions={s.name: s for s in subs},
    )
    return ClientDirectory.from_config(config)


def token(
    email: str | None = "alice@hospital.example", groups: tuple[str, ...] = ()
) -> AccessToken:
    person = Person("https://idp.example", "sub-1", email, "Alice", groups, ("pwd", "otp"), 1)
    return AccessToken(person, "claude-desktop", frozenset({"mcp"}), ("x",), 2e9, "h" * 64)


def test_a_group_subscription_grants_its_members() -> None:
    people = directory(subscription("nurses-ehr", {"group": "nurses"}))
    nurse = people.person(token(groups=("nurses",)))
    assert nurse.name == "user:alice@hospital.example"
    assert nurse.agent == "claude-desktop"
    assert nurse.person is not None
    assert nurse.person.amr == ("pwd", "otp")
    assert nurse.allows_server("ehr")
    assert nurse.subscription_for("ehr", "read_chart") == "nurses-ehr"
    clerk = people.person(token("bob@hospital.example", groups=("billing",)))
    assert not clerk.allows_server("ehr")
    assert not clerk.allows_tool("ehr", "read_chart")


def test_a_user_subscription_grants_that_person_only() -> None:
    people = directory(
        subscription(
            "alice-billing",
            {"user": "alice@hospital.example"},
            server="billing",
            scopeType="selective",
            scopeTools=["invoice"],
            quotaPerDay=5,
        ),
        subscription("nurses-ehr", {"group": "nurses"}),
    )
    alice = people.person(token(groups=("nurses",)))
    assert alice.allows_tool("billing", "invoice")
    assert not alice.allows_tool("billing", "refund")
    assert alice.allows_server("ehr")
    limits = alice.limits_of("alice-billing")
    assert limits is not None
    assert limits.per_day == 5
    assert not people.person(token("carol@hospital.example")).allows_tool("billing", "invoice")


def test_a_person_without_email_is_named_by_subject() -> None:
    assert directory().person(token(email=None)).name == "user:sub-1"


def test_a_person_seen_before_is_found_by_name_with_the_grants_in_force_now() -> None:
    before = directory()
    before.person(token(groups=("nurses",)))
    after = directory(subscription("nurses-ehr", {"group": "nurses"}))
    assert after.get("user:alice@hospital.example") is None
    after.adopt_people(before)
    again = after.get("user:alice@hospital.example")
    assert again is not None
    assert again.allows_server("ehr")
    assert after.get("user:nobody@hospital.example") is None


def test_a_persons_principal_is_made_once_per_access_token() -> None:
    people = directory(subscription("nurses-ehr", {"group": "nurses"}))
    verified = token(groups=("nurses",))
    first = people.person(verified)
    assert people.person(verified) is first
    assert people.get("user:alice@hospital.example") == first


def test_a_refreshed_token_with_other_groups_gets_the_grants_of_its_groups() -> None:
    people = directory(subscription("nurses-ehr", {"group": "nurses"}))
    assert people.person(token(groups=("nurses",))).allows_server("ehr")
    person = Person("https://idp.example", "sub-1", "alice@hospital.example", "Alice", ("billing",))
    refreshed = AccessToken(person, "claude-desktop", frozenset({"mcp"}), ("x",), 2e9, "r" * 64)
    assert not people.person(refreshed).allows_server("ehr")


def test_a_reload_makes_the_principal_with_the_new_grants() -> None:
    before = directory(subscription("nurses-ehr", {"group": "nurses"}))
    verified = token(groups=("nurses",))
    assert before.person(verified).allows_server("ehr")
    after = directory()
    after.adopt_people(before)
    assert not after.person(verified).allows_server("ehr")


def test_a_person_found_by_name_is_one_principal_until_their_token_changes_their_groups() -> None:
    people = directory(subscription("nurses-ehr", {"group": "nurses"}))
    people.person(token(groups=("nurses",)))
    first = people.get("user:alice@hospital.example")
    assert first is not None
    assert people.get("user:alice@hospital.example") is first
    people.person(token(groups=("billing",)))  # a new token: other groups, other grants
    moved = people.get("user:alice@hospital.example")
    assert moved is not None
    assert not moved.allows_server("ehr")
    assert moved.person is not None
    assert moved.person.groups == ("billing",)
