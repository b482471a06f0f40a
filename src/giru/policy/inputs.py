"""The decision input document of docs/policies/input.md: what a call is (`Call`), what the
configuration says about it, precomputed (`Facts`), and the document built from both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from giru.identity.people import Person
from giru.manifests.config import ClientConfig, Config
from giru.manifests.documents import PolicyDocument, SubscriptionSpec
from giru.policy.bindings import BindingTable, PolicyRule, call_routes
from giru.policy.bundle import PolicySources
from giru.policy.findings import ARGUMENTS_BYTES_AT_MOST, argument_findings

__all__ = ["Call", "Facts", "compile_facts", "person_document"]

_CLAIM_FIELDS: Final = {
    "user_id": "user_id",
    "role": "user_role",
    "mfa": "mfa_verified",
    "network_zone": "network_zone",
    "purpose_of_use": "purpose_of_use",
}


@dataclass(frozen=True, slots=True)
class Call:
    """What is being asked, by whom, over which request (the facts of one input document)."""

    method: str
    server: str
    target: str
    arguments: Mapping[str, Any]
    client: str
    subscription: str | None
    virtual_server: str | None
    request_id: str
    source_ip: str | None
    tls: bool
    time_ns: int
    protocol_version: str
    person: Person | None = None
    """The person signed in over OAuth (None: an API-key client or anonymous)."""
    agent: str | None = None
    """The OAuth client acting for `person`."""


@dataclass(frozen=True, slots=True)
class _Rule:
    """A `kind: Policy` as the binding table reads it."""

    name: str
    packs: tuple[str, ...]
    servers: tuple[str, ...]
    virtual_servers: tuple[str, ...]
    environments: tuple[str, ...]
    data: Mapping[str, Mapping[str, Any]]


@dataclass(slots=True)
class Facts:
    """What decisions need from one configuration, precomputed."""

    table: BindingTable
    tools: dict[tuple[str, str], dict[str, Any]]
    tool_keys: dict[tuple[str, str], tuple[tuple[str, ...], str]]
    """The tags and sensitivity of each configured tool, comparable (visibility classes)."""
    server_tags: dict[str, tuple[str, ...]]
    server_keys: dict[str, tuple[tuple[str, ...], str]]
    """`tool_keys` of each configured server's tools that have no configuration of their own."""
    contexts: dict[str, dict[str, Any]]
    subscriptions: dict[str, tuple[dict[str, Any], str | None]]

    def input_for(self, call: Call) -> dict[str, Any]:
        """The decision input document for `call` (docs/policies/input.md)."""
        subscription, environment = (
            self.subscriptions.get(call.subscription, (None, None))
            if call.subscription
            else (None, None)
        )
        arguments_bytes = len(orjson.dumps(call.arguments)) if call.arguments else 0
        mcp: dict[str, Any] = {
            "method": call.method,
            "server": call.server,
            "virtual_server": call.virtual_server,
            "tool": self.tool(call.server, call.target),
            "arguments": call.arguments,
            "arguments_bytes": arguments_bytes,
        }
        findings = _findings(call.arguments, arguments_bytes)
        if findings is not None:
            mcp["argument_findings"] = findings
        return {
            "mcp": mcp,
            "context": self.context(call.client, environment, call.person),
            "subject": person_document(call.person),
            "client": {
                "name": call.agent if call.person is not None else call.client,
                "kind": "oauth" if call.person is not None else "api_key",
            },
            "request": _request(call),
            "subscription": subscription,
            "binding": self.table.key(call.server, call.virtual_server, environment),
        }

    def listing(self, call: Call) -> dict[str, Any]:
        """The caller's part of the `visible` input (the same facts a decision gets)."""
        return {
            "context": self.context(call.client, None, call.person),
            "subject": person_document(call.person),
            "client": {
                "name": call.agent if call.person is not None else call.client,
                "kind": "oauth" if call.person is not None else "api_key",
            },
            "request": _request(call),
            "subscription": None,
        }

    def tool(self, server: str, tool: str) -> dict[str, Any]:
        found = self.tools.get((server, tool))
        if found is not None:
            return found
        tags = list(self.server_tags.get(server, ()))
        return {"name": tool, "tags": tags, "sensitivity": "low"}

    def context(
        self, client: str, environment: str | None, person: Person | None = None
    ) -> dict[str, Any]:
        if person is not None:
            return {**_person_context(client, person), "environment": environment}
        base = self.contexts.get(client)
        if base is None:
            anonymous = client in ("anonymous", "")
            base = {"client": client, "tenant": "default", "user_authenticated": not anonymous}
            base["claims"] = {}
        return {**base, "environment": environment}


def compile_facts(config: Config, sources: PolicySources) -> Facts:
    rules = [_rule(name, policy) for name, policy in config.policies.items()]
    table = BindingTable.compile(rules, sources.defaults, call_routes(config))
    tools: dict[tuple[str, str], dict[str, Any]] = {}
    server_tags = {name: tuple(server.tags) for name, server in config.servers.items()}
    for name, server in config.servers.items():
        for tool, meta in server.tools.items():
            tags = list(dict.fromkeys([*server.tags, *meta.tags]))
            tools[(name, tool)] = {
                "name": tool,
                "tags": tags,
                "sensitivity": meta.sensitivity or "low",
            }
    contexts = {name: _client_context(name, client) for name, client in config.clients.items()}
    subscriptions = {
        name: (_subscription(name, sub.spec), sub.spec.environment)
        for name, sub in config.subscriptions.items()
    }
    keys = {route: (tuple(tool["tags"]), tool["sensitivity"]) for route, tool in tools.items()}
    server_keys = {name: (tags, "low") for name, tags in server_tags.items()}
    return Facts(table, tools, keys, server_tags, server_keys, contexts, subscriptions)


def _rule(name: str, policy: PolicyDocument) -> PolicyRule:
    spec = policy.spec
    selector = spec.selector
    return _Rule(
        name=name,
        packs=tuple(spec.packs),
        servers=tuple(selector.servers),
        virtual_servers=tuple(selector.virtual_servers),
        environments=tuple(selector.environments),
        data={pack: dict(values) for pack, values in spec.data.items()},
    )


def _client_context(name: str, client: ClientConfig) -> dict[str, Any]:
    claims = client.claims
    context: dict[str, Any] = {"client": name, "tenant": "default", "user_authenticated": True}
    for claim, key in _CLAIM_FIELDS.items():
        if claim in claims:
            context[key] = claims[claim]
    context["claims"] = dict(claims)
    return context


_MFA_METHODS: Final = frozenset({"mfa", "otp", "hwk", "swk", "sms", "fpt", "face", "iris", "sc"})
"""RFC 8176 `amr` values that mean a second factor (or a factor beyond a password)."""


def person_document(person: Person | None) -> dict[str, Any] | None:
    """`input.subject`: the person behind the call, from their verified access token."""
    if person is None:
        return None
    return {
        "type": "user",
        "id": person.subject,
        "issuer": person.issuer,
        "email": person.email,
        "name": person.name,
        "groups": list(person.groups),
        "amr": list(person.amr),
        "auth_time": person.auth_time,
        "mfa": bool(_MFA_METHODS.intersection(person.amr)),
    }


def _person_context(client: str, person: Person) -> dict[str, Any]:
    """The packs' `context` for a person: their email as `user_id`, MFA from `amr`."""
    return {
        "client": client,
        "tenant": "default",
        "user_authenticated": True,
        "user_id": person.email or person.subject,
        "mfa_verified": bool(_MFA_METHODS.intersection(person.amr)),
        "claims": {"groups": list(person.groups)},
    }


def _subscription(name: str, spec: SubscriptionSpec) -> dict[str, Any]:
    return {
        "name": name,
        "scope": spec.scope_type,
        "tools": list(spec.scope_tools),
        "constraints": dict(spec.constraints),
        "starts_at": spec.starts_at.isoformat() if spec.starts_at else None,
        "expires_at": spec.expires_at.isoformat() if spec.expires_at else None,
    }


def _findings(arguments: Mapping[str, Any], size: int) -> list[dict[str, str]] | None:
    """`mcp.argument_findings`; None (the field left out: the policy detects) for arguments
    above ARGUMENTS_BYTES_AT_MOST or too costly to scan here."""
    if not arguments:
        return []
    return argument_findings(arguments) if size <= ARGUMENTS_BYTES_AT_MOST else None


def _request(call: Call) -> dict[str, Any]:
    address = call.source_ip
    return {
        "id": call.request_id,
        "tls": call.tls,
        "loopback": address is not None and (address.startswith("127.") or address == "::1"),
        "source_ip": address,
        "time_ns": call.time_ns,
        "protocol_version": call.protocol_version,
    }
