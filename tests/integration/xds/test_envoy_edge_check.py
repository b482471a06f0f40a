"""The edge's own credential check (`xds.edge_check: keys`, no ext_authz) with a real Envoy 1.40
configured by the control plane of a whole stack: a missing, malformed or unknown key is refused
by Envoy itself with the worker's own answer (the worker never sees the request); a live key
passes, and so does a key made after start once xDS has pushed its identifier, while a revoked
one is refused at the edge again. Where OAuth is accepted, the refusal carries the worker's
`resource_metadata` challenge, a good access token passes and a forged one goes on to the worker
(only it can verify a signature)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from giru.access.apikeys import generate_key, key_id
from tests.e2e.calls import tool_list
from tests.integration.gateway import python_stdio_server, wait_until
from tests.integration.oauth import StaticIssuer, static_issuer, subscription
from tests.stack import Stack, running_stack
from tests.tokens import tamper

pytestmark = pytest.mark.integration

KEY = generate_key()
_CLIENT = """
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: edge}
spec:
  apiKeyEnv: GIRU_EDGE_KEY
  servers: ["*"]
"""
_WORKER_SAW = re.compile(r'^giru_http_requests_total\{kind="mcp"\} ([0-9.e+]+)$', re.MULTILINE)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    manifests = "---".join([python_stdio_server("kit"), _CLIENT])
    root = tmp_path_factory.mktemp("edge-check") / "stack"
    with running_stack(root, manifests, workers=1, env={"GIRU_EDGE_KEY": KEY}, authz=False) as up:
        yield up


def _list(base: str, authorization: str | None) -> httpx.Response:
    body, headers = tool_list("-", 1)
    del headers["authorization"]
    if authorization is not None:
        headers["authorization"] = authorization
    return httpx.post(f"{base}/mcp", content=body, headers=headers, timeout=30)


def _worker_saw(stack: Stack) -> float:
    metrics = httpx.get(f"{stack.worker_url('w1')}/metrics", timeout=10).text
    found = _WORKER_SAW.search(metrics)
    return float(found.group(1)) if found else 0.0


def _admin(stack: Stack) -> dict[str, str]:
    return {"authorization": f"Bearer {stack.admin_token}"}


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic ZWRnZTplZGdl",
        "Bearer",
        "Bearer not-a-giru-key",
        "Bearer " + KEY[:-1],
        "Bearer " + generate_key(),  # the right shape, an identifier no live key has
    ],
    ids=["missing", "other-scheme", "empty", "malformed", "truncated", "unknown-id"],
)
def test_envoy_refuses_bad_credentials_with_the_worker_s_own_answer(
    stack: Stack, authorization: str | None
) -> None:
    worker = _list(stack.worker_url("w1"), authorization)
    before = _worker_saw(stack)
    edge = _list(stack.edge, authorization)
    assert _worker_saw(stack) == before  # refused by Envoy: the worker never saw it
    assert edge.status_code == worker.status_code == 401
    assert edge.headers["www-authenticate"] == worker.headers["www-authenticate"]
    assert edge.headers["content-type"] == worker.headers["content-type"]
    assert edge.content == worker.content
    assert edge.json()["error"]["message"] == "Unauthorized: a valid API key is required"


def test_a_live_key_passes_and_a_wrong_secret_reaches_the_worker(stack: Stack) -> None:
    before = _worker_saw(stack)
    assert _list(stack.edge, f"Bearer {KEY}").status_code == 200
    wrong_secret = KEY[:16] + "_" + generate_key()[17:]
    refused = _list(stack.edge, f"Bearer {wrong_secret}")
    assert refused.status_code == 401  # the worker's refusal: the edge knows no secret
    assert _worker_saw(stack) == before + 2


def test_a_key_made_after_start_passes_once_pushed_and_fails_at_the_edge_once_revoked(
    stack: Stack,
) -> None:
    made = httpx.post(
        f"{stack.control}/api/v1/clients/edge/keys", headers=_admin(stack), timeout=30
    )
    assert made.status_code == 201, made.text
    key = made.json()["apiKey"]
    assert key_id(key) == made.json()["prefix"]
    wait_until(lambda: _list(stack.edge, f"Bearer {key}").status_code == 200, "the new key passes")
    revoked = httpx.delete(
        f"{stack.control}/api/v1/clients/edge/keys/{made.json()['id']}",
        headers=_admin(stack),
        timeout=30,
    )
    assert revoked.status_code == 204, revoked.text

    def refused_at_the_edge() -> bool:
        before = _worker_saw(stack)
        return (
            _list(stack.edge, f"Bearer {key}").status_code == 401 and _worker_saw(stack) == before
        )

    wait_until(refused_at_the_edge, "the revoked key is refused by Envoy")


def test_envoy_config_holds_key_identifiers_but_no_secret(stack: Stack) -> None:
    dump = httpx.get(f"{stack.admin}/config_dump", timeout=10).text
    assert KEY[:16] in dump
    assert KEY[17:] not in dump
    listeners = httpx.get(f"{stack.admin}/config_dump?resource=dynamic_listeners", timeout=10).text
    assert "giru.edge_check" in listeners
    assert "ext_authz.v3.ExtAuthz" not in listeners


@pytest.fixture(scope="module")
def oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, StaticIssuer]]:
    """A stack whose `/mcp` takes API keys and OAuth access tokens from a test issuer."""
    root = tmp_path_factory.mktemp("edge-check-oauth") / "stack"
    with static_issuer() as lab:
        grant = subscription("nurses-kit", "{group: nurses}", server="kit")
        manifests = "---".join([python_stdio_server("kit"), _CLIENT, lab.manifest(), grant])
        env = {"GIRU_EDGE_KEY": KEY}
        with running_stack(
            root, manifests, workers=1, env=env, authz=False, public_at_edge=True
        ) as up:
            yield up, lab


def test_with_oauth_envoy_refuses_a_missing_credential_with_the_metadata_challenge(
    oauth: tuple[Stack, StaticIssuer],
) -> None:
    stack, _ = oauth
    worker = _list(stack.worker_url("w1"), None)
    before = _worker_saw(stack)
    edge = _list(stack.edge, None)
    assert _worker_saw(stack) == before
    assert edge.status_code == worker.status_code == 401
    challenge = edge.headers["www-authenticate"]
    assert challenge == worker.headers["www-authenticate"]
    metadata = f"{stack.edge}/.well-known/oauth-protected-resource/mcp"
    assert challenge.startswith(f'Bearer resource_metadata="{metadata}"')
    assert edge.content == worker.content


def test_with_oauth_a_good_token_passes_and_a_forged_one_is_the_worker_s_to_refuse(
    oauth: tuple[Stack, StaticIssuer],
) -> None:
    stack, lab = oauth
    token = lab.signer.token(f"{stack.edge}/mcp")
    assert _list(stack.edge, f"Bearer {token}").status_code == 200
    before = _worker_saw(stack)
    forged = _list(stack.edge, f"Bearer {tamper(token, sub='mallory')}")
    assert forged.status_code == 401
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]
    assert _worker_saw(stack) == before + 1  # a JWT goes on: only the worker can verify it
    assert _list(stack.edge, f"Bearer {KEY}").status_code == 200
