"""A real OpenID Connect provider for tests: oidc-provider 9 run by tests/idp.mjs under Node 22.

`oidc_provider` (session-scoped) starts it on a free loopback port with the clients, users and
resources below; `IdentityProviderPeer` signs a user in without a browser (the sign-in form is
posted over HTTP), runs the authorization code + PKCE flow, refreshes tokens, moves a user between
groups and reads how often the JWKS was fetched. Why oidc-provider and not Keycloak:
docs/development/peers.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import httpx
import pytest

from tests.peers import (
    LOOPBACK,
    TOOLS,
    PeerProcess,
    free_port,
    node_env,
    require_tools,
    start_peer,
    wait_for_port,
)

__all__ = [
    "CONFIDENTIAL_CLIENT",
    "DEFAULT_USERS",
    "PUBLIC_CLIENT",
    "RESOURCE_SERVER_CLIENT",
    "RESOURCE_SERVER_SECRET",
    "TOKEN_EXCHANGE",
    "IdentityProviderPeer",
    "SignInError",
    "TokenSet",
    "User",
    "idp_config",
    "oidc_provider",
    "pkce_pair",
    "start_identity_provider",
]

SCRIPT = Path(__file__).with_name("idp.mjs")
PACKAGE = "oidc-provider"
REDIRECT_URI = "http://127.0.0.1:1/callback"  # never contacted: the flow stops at the redirect
MAX_REDIRECTS = 20

PUBLIC_CLIENT = "mcp-test-client"  # a public client (PKCE, no secret), like an MCP client
CONFIDENTIAL_CLIENT = "giru"  # a confidential client, like Giru brokering sign-in
CONFIDENTIAL_SECRET = "giru-test-secret"
RESOURCE_SERVER_CLIENT = "giru-resource"  # a resource server: introspects, signs no one in
RESOURCE_SERVER_SECRET = "giru-resource-secret"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
"""RFC 8693, added by tests/idp.mjs; the confidential client may use it."""


@dataclass(frozen=True)
class User:
    login: str
    password: str
    email: str
    name: str
    groups: tuple[str, ...]

    @property
    def sub(self) -> str:
        return f"sub-{self.login}"

    def document(self) -> dict[str, Any]:
        return {
            "password": self.password,
            "sub": self.sub,
            "email": self.email,
            "name": self.name,
            "groups": list(self.groups),
        }


DEFAULT_USERS: tuple[User, ...] = (
    User("alice", "alice-pw", "alice@hospital.example", "Alice Nurse", ("nurses",)),
    User("bob", "bob-pw", "bob@hospital.example", "Bob Clerk", ("billing",)),
    User("carol", "carol-pw", "carol@hospital.example", "Carol Admin", ("admins", "nurses")),
)


@dataclass(frozen=True)
class TokenSet:
    """A token endpoint response."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    refresh_token: str | None
    id_token: str | None

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> TokenSet:
        return cls(
            access_token=body["access_token"],
            token_type=body["token_type"],
            expires_in=int(body["expires_in"]),
            scope=body.get("scope", ""),
            refresh_token=body.get("refresh_token"),
            id_token=body.get("id_token"),
        )


class SignInError(RuntimeError):
    """The IdP refused a sign-in or a token request (the message says why)."""


def pkce_pair() -> tuple[str, str]:
    """A PKCE `code_verifier` and its S256 `code_challenge`."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def idp_config(
    port: int,
    resources: Mapping[str, Mapping[str, Any]],
    users: Sequence[User] = DEFAULT_USERS,
    redirect_uris: Sequence[str] = (),
    token_delays_ms: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The config document of tests/idp.mjs: a public and a confidential client, a resource
    server client (introspection with `client_secret_post`), `users`, and one access-token
    audience per `resources` key (`{"scope": …, "ttl": …, "alg": …, "format": "jwt"|"opaque"}`);
    `token_delays_ms`: how long the token endpoint takes per grant type (a slow AS).
    """
    uris = [REDIRECT_URI, *redirect_uris]
    grants = ["authorization_code", "refresh_token"]
    return {
        "port": port,
        "admin_token": secrets.token_urlsafe(24),
        "clients": [
            {
                "client_id": PUBLIC_CLIENT,
                "token_endpoint_auth_method": "none",
                "redirect_uris": uris,
                "grant_types": grants,
                "response_types": ["code"],
            },
            {
                "client_id": CONFIDENTIAL_CLIENT,
                "client_secret": CONFIDENTIAL_SECRET,
                "token_endpoint_auth_method": "client_secret_basic",
                "redirect_uris": uris,
                "grant_types": [*grants, TOKEN_EXCHANGE],
                "response_types": ["code"],
            },
            {
                "client_id": RESOURCE_SERVER_CLIENT,
                "client_secret": RESOURCE_SERVER_SECRET,
                "token_endpoint_auth_method": "client_secret_post",
                "redirect_uris": [],
                "grant_types": [],
                "response_types": [],
            },
        ],
        "users": {user.login: user.document() for user in users},
        "resources": {url: dict(info) for url, info in resources.items()},
        "token_delays_ms": dict(token_delays_ms or {}),
    }


@dataclass
class IdentityProviderPeer:
    """The running IdP: its issuer, clients and users, and HTTP drives of its flows."""

    issuer: str
    config: dict[str, Any]
    peer: PeerProcess
    users: dict[str, User] = field(default_factory=dict)

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def client_secret(self) -> str:
        return CONFIDENTIAL_SECRET

    def metadata(self) -> dict[str, Any]:
        document = httpx.get(f"{self.issuer}/.well-known/openid-configuration").json()
        assert isinstance(document, dict)
        return document

    def _admin(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.config['admin_token']}"}

    def jwks_fetches(self) -> int:
        """How many times the JWKS was fetched since the IdP started."""
        stats = httpx.get(f"{self.issuer}/_test/stats", headers=self._admin()).json()
        return int(stats["jwks"])

    def token_exchanges(self) -> int:
        """How many token exchange requests (RFC 8693) the IdP answered since it started."""
        stats = httpx.get(f"{self.issuer}/_test/stats", headers=self._admin()).json()
        return int(stats["exchanges"])

    def refuse_exchanges(self, refuse: bool) -> None:
        """From now on, token exchanges fail with `invalid_grant` (`refuse`) or work again."""
        response = httpx.put(
            f"{self.issuer}/_test/exchange", json={"refuse": refuse}, headers=self._admin()
        )
        response.raise_for_status()

    def token_requests(self, grant_type: str) -> int:
        """How many token requests of `grant_type` the IdP received (answered or refused)."""
        stats = httpx.get(f"{self.issuer}/_test/stats", headers=self._admin()).json()
        return int(stats["tokens"].get(grant_type, 0))

    def set_groups(self, login: str, groups: Sequence[str]) -> None:
        """Moves `login` to `groups` at the IdP (tokens minted afterwards carry them)."""
        user = self.users[login]
        moved = User(user.login, user.password, user.email, user.name, tuple(groups))
        response = httpx.put(
            f"{self.issuer}/_test/users/{login}", json=moved.document(), headers=self._admin()
        )
        response.raise_for_status()
        self.users[login] = moved

    def close_account(self, login: str) -> None:
        """`login`'s account is gone at the IdP (its subject no longer exists): its refresh
        tokens are refused from now on."""
        user = self.users[login]
        document = {**user.document(), "sub": f"closed-{user.sub}"}
        response = httpx.put(
            f"{self.issuer}/_test/users/{login}", json=document, headers=self._admin()
        )
        response.raise_for_status()

    def sign_in_at(
        self,
        http: httpx.Client,
        url: str,
        login: str,
        *,
        amr: Sequence[str] = ("pwd",),
        stop_at: str = REDIRECT_URI,
        password: str | None = None,
    ) -> str:
        """Follows redirects from `url` (an authorization request, at the IdP or at a broker in
        front of it), posts the IdP's sign-in form for `login` claiming `amr`, and returns the
        first redirect that starts with `stop_at` (the client's redirect URI with `code`)."""
        secret = password if password is not None else self.users[login].password
        for _ in range(MAX_REDIRECTS):
            if url.startswith(stop_at):
                return url
            response = http.get(url)
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                continue
            path = urlsplit(url).path
            if not (url.startswith(self.issuer) and path.startswith("/interaction/")):
                raise SignInError(f"{url} answered {response.status_code}: {response.text[:500]}")
            form = {"login": login, "password": secret, "amr": " ".join(amr)}
            posted = http.post(f"{self.issuer}{path}/login", data=form)
            if not posted.is_redirect:
                raise SignInError(f"sign-in of {login} refused: {posted.text[:500]}")
            url = urljoin(url, posted.headers["location"])
        raise SignInError(f"more than {MAX_REDIRECTS} redirects from {url}")

    def add_resource(
        self,
        url: str,
        *,
        scope: str = "mcp",
        ttl: int = 300,
        alg: str = "RS256",
        opaque: bool = False,
    ) -> None:
        """Lets the IdP mint access tokens with `aud` = `url` (a resource indicator): JWTs, or
        opaque tokens its introspection endpoint describes."""
        document = {"scope": scope, "ttl": ttl, "alg": alg, "format": "opaque" if opaque else "jwt"}
        response = httpx.put(
            f"{self.issuer}/_test/resources/{quote(url, safe='')}",
            json=document,
            headers=self._admin(),
        )
        response.raise_for_status()

    def authorization_code(
        self,
        http: httpx.Client,
        login: str,
        *,
        resource: str,
        scope: str = "openid email profile groups offline_access mcp",
        client_id: str = PUBLIC_CLIENT,
        amr: Sequence[str] = ("pwd",),
    ) -> tuple[str, str]:
        """Signs `login` in for `resource`: the code and the PKCE verifier to redeem it with."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        query = {
            "client_id": client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "resource": resource,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "prompt": "consent",
        }
        landed = self.sign_in_at(http, f"{self.issuer}/auth?{urlencode(query)}", login, amr=amr)
        params = parse_qs(urlsplit(landed).query)
        if "error" in params:
            raise SignInError(f"authorization refused: {params}")
        if params.get("state") != [state]:
            raise SignInError(f"state mismatch in {landed}")
        return params["code"][0], verifier

    def tokens(
        self,
        login: str,
        *,
        resource: str,
        scope: str = "openid email profile groups offline_access mcp",
        client_id: str = PUBLIC_CLIENT,
        amr: Sequence[str] = ("pwd",),
    ) -> TokenSet:
        """Direct mode end to end: `login` signs in and the client gets tokens for `resource`."""
        with httpx.Client() as http:
            code, verifier = self.authorization_code(
                http, login, resource=resource, scope=scope, client_id=client_id, amr=amr
            )
            form = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
                "resource": resource,
            }
            return self._token(http, form, client_id)

    def refresh(
        self, refresh_token: str, *, resource: str, client_id: str = PUBLIC_CLIENT
    ) -> TokenSet:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "resource": resource}
        with httpx.Client() as http:
            return self._token(http, form, client_id)

    def revoke(self, token: str, *, client_id: str = PUBLIC_CLIENT) -> None:
        """Revokes an access token at the IdP (RFC 7009), as the client it was issued to."""
        form = {"token": token, "token_type_hint": "access_token", "client_id": client_id}
        response = httpx.post(f"{self.issuer}/token/revocation", data=form)
        if response.status_code != 200:
            raise SignInError(f"revocation answered {response.status_code}: {response.text}")

    def introspect(self, token: str) -> dict[str, Any]:
        """What the IdP's introspection endpoint says about `token` (as the resource server)."""
        form = {
            "token": token,
            "client_id": RESOURCE_SERVER_CLIENT,
            "client_secret": RESOURCE_SERVER_SECRET,
        }
        response = httpx.post(f"{self.issuer}/token/introspection", data=form)
        response.raise_for_status()
        answer = response.json()
        assert isinstance(answer, dict)
        return answer

    def _token(self, http: httpx.Client, form: dict[str, str], client_id: str) -> TokenSet:
        url = f"{self.issuer}/token"
        if client_id == CONFIDENTIAL_CLIENT:
            response = http.post(url, data=form, auth=(client_id, CONFIDENTIAL_SECRET))
        else:
            response = http.post(url, data={**form, "client_id": client_id})
        if response.status_code != 200:
            raise SignInError(f"token endpoint answered {response.status_code}: {response.text}")
        return TokenSet.from_response(response.json())


def start_identity_provider(
    directory: Path,
    resources: Mapping[str, Mapping[str, Any]],
    users: Sequence[User] = DEFAULT_USERS,
    redirect_uris: Sequence[str] = (),
    token_delays_ms: Mapping[str, int] | None = None,
) -> IdentityProviderPeer:
    """Starts tests/idp.mjs in `directory` (config and log there); the caller stops `.peer`.
    `token_delays_ms`: how long its token endpoint takes to answer, per grant type."""
    require_tools(TOOLS.node, TOOLS.package(PACKAGE))
    port = free_port()
    config = idp_config(port, resources, users, redirect_uris, token_delays_ms)
    config_path = directory / "idp.json"
    config_path.write_text(json.dumps(config))
    env = node_env({"IDP_NODE_MODULES": str(TOOLS.npm_modules)})
    peer = start_peer(
        "oidc-provider", [str(TOOLS.node), str(SCRIPT), str(config_path)], directory, env
    )
    try:
        wait_for_port(peer, port)
    except BaseException:
        peer.stop()
        raise
    issuer = f"http://{LOOPBACK}:{port}"
    return IdentityProviderPeer(issuer, config, peer, {user.login: user for user in users})


# The resource indicators the session IdP mints JWT access tokens for (tests add their own IdP
# with `start_identity_provider` when they need Giru's real URL as a resource).
SESSION_RESOURCES: Mapping[str, Mapping[str, Any]] = {
    "http://127.0.0.1:1/mcp": {"scope": "mcp", "ttl": 300},
}


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProviderPeer]:
    """The session's OIDC provider (users alice/nurses, bob/billing, carol/admins+nurses)."""
    idp = start_identity_provider(tmp_path_factory.mktemp("oidc-provider"), SESSION_RESOURCES)
    try:
        yield idp
    finally:
        idp.peer.stop()
