"""Generated configurations for the differential tests: servers with tagged and rated tools,
`kind: Policy` objects enabling random packs with random settings, clients with random claims.

Seeded, so a failing seed reproduces. Settings reach every rule the shipped packs have that
depends on a caller, a tool or a binding; tool names include the ones the packs single out.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

from giru.manifests.config import Config
from giru.manifests.loader import load

API = "giru.ai/v1alpha1"
PACKS = ("gdpr", "hipaa", "pci_dss", "soc2")
SERVERS = ("files", "ehr", "pay", "ledger")
NAMES = (
    "read", "write", "lookup", "drop", "patient_lookup", "Medical_Chart", "charge_card",
    "refund", "export", "rotate_keys", "erase_user", "chart",
)  # fmt: skip
TAGS = (
    "phi", "pci", "payment", "cardholder_data", "key_management", "erasure",
    "region:eu-west-1", "region:us-east-1",
)  # fmt: skip
ROLES = ("nurse", "physician", "billing", "dpo", "researcher")
USERS = ("u-1", "u-2", "u-3")


def _some(rng: random.Random, items: tuple[str, ...], most: int) -> list[str]:
    return rng.sample(items, rng.randint(0, most))


def _settings(rng: random.Random, pack: str) -> dict[str, Any]:
    choices: dict[str, dict[str, Any]] = {
        "core": {
            "denied_tools": [rng.choice(NAMES), f"{rng.choice(SERVERS)}/{rng.choice(NAMES)}"],
            "denied_tags": _some(rng, TAGS, 1),
            "max_arguments_bytes": rng.choice([40, 200, 1048576]),
            "pii": {"mask_results": rng.random() < 0.5, "kinds": ["ssn", "email", "phone"]},
        },
        "gdpr": {
            "allowed_regions": _some(rng, ("eu-west-1", "us-east-1"), 1),
            "erasure_roles": _some(rng, ROLES, 2),
            "mask_results": rng.random() < 0.5,
            "pii_kinds": _some(rng, ("email", "phone", "ssn", "pan"), 3),
        },
        "hipaa": {
            "clinical_need_threshold": rng.choice([5, 50]),
            "tool_role_requirements": {rng.choice(NAMES): _some(rng, ROLES, 2)},
            "emergency_access_enabled": rng.random() < 0.5,
            "role_thresholds": {rng.choice(ROLES): rng.choice([1, 100])},
            "access_hours": {rng.choice(ROLES): {"start": 8, "end": 18}},
            "max_session_age_s": rng.choice([0, 60]),
        },
        "pci_dss": {
            "tool_job_requirements": {rng.choice(NAMES): rng.choice(["billing", "ops"])},
            "user_job_functions": {rng.choice(USERS): ["billing"]},
            "key_custodians": _some(rng, USERS, 1),
            "require_explicit_grant": rng.random() < 0.3,
            "cardholder_data_zones": _some(rng, ("secure", "dmz"), 1),
            "require_mfa": rng.random() < 0.7,
        },
        "soc2": {
            "authorized_users": _some(rng, USERS, 3),
            "mfa_required_sensitivities": _some(rng, ("high", "medium"), 2),
            "user_normal_hours": {rng.choice(USERS): [9, 10, 11]},
            "user_certifications": {rng.choice(USERS): {"last_certified": "2025-11-01T00:00:00Z"}},
            "deny_on_anomaly": rng.random() < 0.5,
        },
    }
    chosen = choices[pack]
    return {k: v for k, v in chosen.items() if rng.random() < 0.5}


def documents(rng: random.Random) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for server in SERVERS:
        tools = {
            name: {"tags": _some(rng, TAGS, 2), "sensitivity": rng.choice(["low", "high"])}
            for name in rng.sample(NAMES, rng.randint(3, len(NAMES)))
        }
        spec: dict[str, Any] = {
            "transport": "streamable-http",
            "url": f"http://127.0.0.1:9/{server}",
        }
        spec |= {"tags": _some(rng, TAGS, 1), "tools": tools}
        docs.append({"kind": "MCPServer", "metadata": {"name": server}, "spec": spec})
    for index in range(rng.randint(1, 3)):
        packs = ["core", *_some(rng, PACKS, 4)]
        selector = {"servers": _some(rng, SERVERS, 2)} if index else {}
        data = {pack: found for pack in packs if (found := _settings(rng, pack))}
        policy = {"packs": packs, "selector": selector, "data": data}
        docs.append({"kind": "Policy", "metadata": {"name": f"p{index}"}, "spec": policy})
    for index, user in enumerate(USERS):
        claims: dict[str, Any] = {
            "user_id": user,
            "role": rng.choice(ROLES),
            "mfa": rng.random() < 0.5,
        }
        if rng.random() < 0.5:
            claims["network_zone"] = rng.choice(["secure", "dmz"])
        if rng.random() < 0.5:
            claims["lawful_basis"] = rng.choice(["contract", "hearsay"])
        client = {"apiKeyHash": f"sha256:{index + 1:064x}", "servers": ["*"], "claims": claims}
        docs.append({"kind": "Client", "metadata": {"name": f"c{index}"}, "spec": client})
    return [{"apiVersion": API, **doc} for doc in docs]


def configuration(seed: int, folder: Path) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n---\n".join(orjson.dumps(d).decode() for d in documents(random.Random(seed)))
    (folder / "generated.yaml").write_text(text)
    return load(folder)


def reconfiguration(seed: int, servers: int, clients: int, folder: Path) -> Config:
    """The `kind: Policy` objects of `seed` (so the same bindings and bundle) with the servers
    and tools of `servers` and the clients of `clients`: a new configuration that changes tool
    and server tags, sensitivities or client claims, but not the bundle."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [
        *(d for d in documents(random.Random(servers)) if d["kind"] == "MCPServer"),
        *(d for d in documents(random.Random(seed)) if d["kind"] == "Policy"),
        *(d for d in documents(random.Random(clients)) if d["kind"] == "Client"),
    ]
    text = "\n---\n".join(orjson.dumps(d).decode() for d in chosen)
    (folder / "generated.yaml").write_text(text)
    return load(folder)


def routes(config: Config) -> list[tuple[str, str, str]]:
    """(listed name, server, tool) of every configured tool, plus tools no manifest names (one
    named beyond ASCII: such a tool keeps its server in its class)."""
    listed = [
        (f"{server}__{tool}", server, tool)
        for server, spec in config.servers.items()
        for tool in spec.tools
    ]
    extra = [*(f"extra_{i}" for i in range(3)), "extra_é"]
    return listed + [(f"{s}__{tool}", s, tool) for s in config.servers for tool in extra]


ARGUMENTS: tuple[dict[str, Any], ...] = (
    {},
    {"text": "hello"},
    {"text": "call 555-123-4567"},
    {"card": "4111 1111 1111 1111", "amount": 12.5},
    {"n": 4111111111111111},
    {"to": "jane@example.com"},
    {"record_count": 3, "fields": ["name"]},
    {"record_count": "70"},
    {"fields": "diagnosis"},
    {"blob": "x" * 300},
    {"nested": {"a": [{"ssn": "123-45-6789"}]}},
    {"amount": 12.5, "currency": "EUR", "ok": True},
    {"id": "abc-7"},
    {"note": "order 1042: " + "y" * 9000},
)
"""Arguments of the generated calls: none, harmless ones, personal data of every kind the
packs detect (nested too), the argument names HIPAA reads, a large one, and one over 8 KiB
(Giru leaves its finding to the policy: no `argument_findings`)."""

TWINS: dict[bytes, dict[str, Any]] = {
    orjson.dumps(arguments): twin
    for arguments, twin in (
        ({"text": "call 555-123-4567"}, {"text": "ring 555-987-6543 now"}),
        (
            {"card": "4111 1111 1111 1111", "amount": 12.5},
            {"card": "5500-0000-0000-0004", "amount": 7},
        ),
        ({"n": 4111111111111111}, {"n": 5500000000000004}),
        ({"to": "jane@example.com"}, {"to": "bob.smith@example.org"}),
        ({"nested": {"a": [{"ssn": "123-45-6789"}]}}, {"nested": {"a": [{"ssn": "234-56-7890"}]}}),
        (
            {"record_count": 3, "fields": ["name"]},
            {"fields": ["name"], "record_count": 3, "x": "y"},
        ),
        ({"record_count": "70"}, {"record_count": "70", "text": "hello"}),
        ({"fields": "diagnosis"}, {"text": "other", "fields": "diagnosis"}),
    )
}
"""Other arguments the packs read as they read some of `ARGUMENTS`: other personal data with the
same findings (kinds and paths), other arguments beside the same values of those HIPAA reads."""


ENVIRONMENTS = ("dev", "staging", "prod")


def large_documents(rng: random.Random, tools_per_server: int) -> list[dict[str, Any]]:
    """`documents`, each server with `tools_per_server` configured tools (the names the packs
    single out among many they do not), subscriptions of every client in every environment,
    and policies selected by environment."""
    docs = documents(rng)
    for doc in docs:
        if doc["kind"] != "MCPServer":
            continue
        tools = doc["spec"]["tools"]
        for index in range(tools_per_server - len(tools)):
            base = rng.choice(NAMES) if rng.random() < 0.2 else "op"
            tools[f"{base}_{index:04d}"] = (
                {"tags": _some(rng, TAGS, 1), "sensitivity": rng.choice(["low", "high"])}
                if rng.random() < 0.3
                else {}
            )
    for index, environment in enumerate(ENVIRONMENTS):
        packs = ["core", *_some(rng, PACKS, 4)]
        data = {pack: found for pack in packs if (found := _settings(rng, pack))}
        selector = {"environments": [environment]}
        policy = {"packs": packs, "selector": selector, "data": data}
        docs.append({"kind": "Policy", "metadata": {"name": f"env{index}"}, "spec": policy})
    for index in range(len(USERS)):
        for server in rng.sample(SERVERS, 2):
            spec: dict[str, Any] = {
                "client": f"c{index}",
                "server": server,
                "environment": rng.choice(ENVIRONMENTS),
                "scopeType": "all",
                "status": "active",
            }
            name = f"c{index}-{server}"
            docs.append({"kind": "Subscription", "metadata": {"name": name}, "spec": spec})
    return [{"apiVersion": API, **doc} if "apiVersion" not in doc else doc for doc in docs]


def large_configuration(seed: int, folder: Path, tools_per_server: int) -> Config:
    folder.mkdir(parents=True, exist_ok=True)
    docs = large_documents(random.Random(seed), tools_per_server)
    text = "\n---\n".join(orjson.dumps(d).decode() for d in docs)
    (folder / "generated.yaml").write_text(text)
    return load(folder)
