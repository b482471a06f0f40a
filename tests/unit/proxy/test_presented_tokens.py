"""The access token a person's request presented travels with the call (for token exchanges),
into a legacy session's context only when it is the session owner's, and is never shown."""

from __future__ import annotations

from giru.access.clients import ClientPrincipal
from giru.egress import UPSTREAMS
from giru.egress.lean import LeanClient
from giru.errors import ConnectionRequiredError
from giru.identity import Person, PresentedToken
from giru.proxy.connections import caller_of, with_presented
from giru.proxy.upstreams import UpstreamPool
from giru.telemetry.metrics import Metrics
from giru.upstream.auth import OAuthClientAuth, SecretEntry
from giru.upstream.base import ServerSpec, UpstreamOAuth

TOKEN = PresentedToken("eyJ.the-token.sig", "ab" * 32, 2_000_000_000.0)
ALICE = Person("https://idp.example", "sub-alice", "alice@example.com")


def _alice(presented: PresentedToken | None = None) -> ClientPrincipal:
    return ClientPrincipal(name="user:alice@example.com", person=ALICE, presented=presented)


def test_a_persons_call_carries_the_token_they_presented() -> None:
    caller = caller_of(_alice(TOKEN))
    assert caller is not None
    assert caller.token is TOKEN
    assert caller_of(ClientPrincipal(name="agent")) is None


def test_a_legacy_session_context_gets_the_token_of_the_owners_own_request() -> None:
    current = _alice()
    assert with_presented(current, _alice(TOKEN)) == current
    assert with_presented(current, _alice(TOKEN)).presented is TOKEN  # type: ignore[attr-defined]
    assert with_presented(current, None) is current


def test_another_principals_token_never_enters_the_session_context() -> None:
    bob = ClientPrincipal(name="user:bob@example.com", presented=TOKEN)
    assert with_presented(_alice(), bob).presented is None  # type: ignore[attr-defined]


def test_the_token_text_is_never_in_a_repr() -> None:
    shown = repr(_alice(TOKEN)) + repr(caller_of(_alice(TOKEN))) + repr(TOKEN)
    assert "the-token" not in shown


async def test_a_caller_who_is_no_person_is_refused_by_per_person_servers_never_served() -> None:
    exchange = OAuthClientAuth(
        "token_exchange", "giru", "client_secret_basic", SecretEntry("idp"), "https://idp/t"
    )
    specs = {
        "crm": ServerSpec("crm", "streamable-http", url="https://crm/mcp", auth=exchange),
        "files": ServerSpec(
            "files",
            "streamable-http",
            url="https://files/mcp",
            oauth=UpstreamOAuth(connection="perUser"),
        ),
    }
    async with LeanClient(UPSTREAMS) as http:
        pool = UpstreamPool(specs, http=http, metrics=Metrics(), on_list_changed=_nothing)
        assert pool.per_person("crm")
        assert pool.per_person("files")
        refused = pool.without_person("crm")
        assert refused.code == "credentials_unavailable"
        assert "presented none" in refused.message
        assert isinstance(pool.without_person("files"), ConnectionRequiredError)


async def _nothing(server: str, method: str) -> None:
    return None
