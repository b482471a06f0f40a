"""A Policy that selects a virtual server or an environment applies to the calls on that route.

The binding of such a route differs from its server's own binding, so it must be in the bundle
OPA holds before the first call arrives: a binding made only at call time would be unknown to
OPA, and the call denied as `unknown binding` (fail closed) instead of decided by the packs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from giru.manifests.loader import load
from giru.policy import Call
from tests.integration.policy.conftest import Opa

pytestmark = pytest.mark.integration

MANIFESTS = """
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {name: billing}
spec: {transport: streamable-http, url: "http://127.0.0.1:9/billing", tags: [payment]}
---
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {name: finance}
spec: {servers: [billing]}
---
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: app}
spec: {apiKeyHash: "sha256:%s", servers: ["*"], claims: {mfa: true}}
---
apiVersion: giru.ai/v1alpha1
kind: Subscription
metadata: {name: app-billing-prod}
spec: {client: app, server: billing, environment: prod, scopeType: all}
---
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: pci-on-finance}
spec:
  packs: [core, pci_dss]
  selector: {virtualServers: [finance]}
---
apiVersion: giru.ai/v1alpha1
kind: Policy
metadata: {name: pci-in-prod}
spec:
  packs: [core, pci_dss]
  selector: {environments: [prod]}
""" % ("1" * 64)

PAN = {"card": "4111 1111 1111 1111"}


def call(
    arguments: dict[str, str], *, virtual_server: str | None, subscription: str | None
) -> Call:
    return Call(
        method="tools/call",
        server="billing",
        target="charge",
        arguments=arguments,
        client="app",
        subscription=subscription,
        virtual_server=virtual_server,
        request_id="r-1",
        source_ip="127.0.0.1",
        tls=False,
        time_ns=1_764_115_200_000_000_000,
        protocol_version="2025-06-18",
    )


@pytest.mark.parametrize(
    ("virtual_server", "subscription"),
    [("finance", None), (None, "app-billing-prod")],
    ids=["virtual-server", "environment"],
)
@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "full"])
async def test_a_policy_selecting_the_route_decides_its_calls(
    opa: Opa, tmp_path: Path, virtual_server: str | None, subscription: str | None, fast_path: bool
) -> None:
    (tmp_path / "giru.yaml").write_text(MANIFESTS)
    engine = opa.engine(load(tmp_path), fast_path=fast_path)
    try:
        plain = await engine.decide(
            call({"amount": "12"}, virtual_server=virtual_server, subscription=subscription)
        )
        assert plain.unavailable is None
        assert plain.allow, plain.deny
        card = await engine.decide(
            call(PAN, virtual_server=virtual_server, subscription=subscription)
        )
        assert not card.allow
        assert {rule.get("pack") for rule in card.deny} == {"pci_dss"}, card.deny
    finally:
        assert engine.client is not None
        engine.client.close()


async def test_the_same_server_reached_directly_is_not_under_that_policy(
    opa: Opa, tmp_path: Path
) -> None:
    (tmp_path / "giru.yaml").write_text(MANIFESTS)
    engine = opa.engine(load(tmp_path))
    try:
        decision = await engine.decide(call(PAN, virtual_server=None, subscription=None))
        assert decision.allow, decision.deny
    finally:
        assert engine.client is not None
        engine.client.close()
