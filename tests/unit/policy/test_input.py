"""The decision input for a person signed in over OAuth: `subject`, `client`, and the packs'
`context` from real claims (MFA from `amr`); an API-key client keeps its own shape. A call
denied for want of a decision still carries its input, without argument values, for the audit
log."""

from __future__ import annotations

import dataclasses

from giru.identity import Person
from giru.manifests import ClientConfig, Config
from giru.policy.engine import PolicyEngine
from giru.policy.inputs import Call

NURSE = Person(
    "https://idp.example",
    "sub-alice",
    "alice@hospital.example",
    "Alice",
    ("nurses",),
    ("pwd", "otp"),
    1_764_115_100,
)


def call(client: str, person: Person | None = None, agent: str | None = None) -> Call:
    return Call(
        method="tools/call",
        server="ehr",
        target="read_chart",
        arguments={},
        client=client,
        subscription=None,
        virtual_server=None,
        request_id="r1",
        source_ip="127.0.0.1",
        tls=False,
        time_ns=1_764_115_200_000_000_000,
        protocol_version="2026-07-28",
        person=person,
        agent=agent,
    )


def engine() -> PolicyEngine:
    policy = PolicyEngine(
        [], opa_url="http://127.0.0.1:1", opa_binary=None, bundle_url="", timeout_s=1
    )
    policy.reload(Config(clients={"ci": ClientConfig("ci", claims={"mfa": False})}))
    return policy


def test_a_person_is_the_subject_and_their_oauth_client_the_client() -> None:
    document = engine().input_for(call("user:alice@hospital.example", NURSE, "claude-desktop"))
    assert document["subject"] == {
        "type": "user",
        "id": "sub-alice",
        "issuer": "https://idp.example",
        "email": "alice@hospital.example",
        "name": "Alice",
        "groups": ["nurses"],
        "amr": ["pwd", "otp"],
        "auth_time": 1_764_115_100,
        "mfa": True,
    }
    assert document["client"] == {"name": "claude-desktop", "kind": "oauth"}
    context = document["context"]
    assert context["user_id"] == "alice@hospital.example"
    assert context["mfa_verified"] is True
    assert context["user_authenticated"] is True


def test_a_password_only_sign_in_is_no_mfa() -> None:
    person = Person("https://idp.example", "sub-bob", None, None, (), ("pwd",), None)
    document = engine().input_for(call("user:sub-bob", person, "cursor"))
    assert document["subject"]["mfa"] is False
    assert document["context"]["mfa_verified"] is False
    assert document["context"]["user_id"] == "sub-bob"


def test_an_api_key_client_has_no_subject() -> None:
    document = engine().input_for(call("ci"))
    assert document["subject"] is None
    assert document["client"] == {"name": "ci", "kind": "api_key"}
    assert document["context"]["client"] == "ci"


async def test_a_decision_without_an_answer_still_records_the_input_without_values() -> None:
    asked = dataclasses.replace(call("ci"), arguments={"card": "4111 1111 1111 1111"})
    decision = await engine().decide(asked)  # no pack installed: no decision, fail-closed
    assert (decision.allow, decision.unavailable) == (
        False,
        "policy pack(s) core are not installed",
    )
    assert decision.recorded is not None
    assert decision.recorded["mcp"]["argument_shapes"] == {
        "type": "object",
        "keys": {"card": {"type": "string", "length": 19, "findings": ["pan"]}},
        "size": 1,
    }
    assert "arguments" not in decision.recorded["mcp"]
    assert decision.recorded["request"]["id"] == "r1"
    assert decision.recorded["context"]["client"] == "ci"
