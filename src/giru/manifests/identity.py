"""`kind: IdentityProvider`: the company IdP people sign in with (OpenID Connect)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from giru.manifests.fields import Problem, SpecModel
from giru.manifests.urls import issuer_url_problem

_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,200}")  # RFC 6749 scope-token
_SECRET_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_CLAIM_NAME = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")


def _scope(value: str) -> str:
    if not _SCOPE.fullmatch(value):
        raise ValueError("a scope is 1-200 printable characters without spaces, quotes or '\\'")
    return value


def _claim_name(value: str) -> str:
    if not _CLAIM_NAME.fullmatch(value):
        raise ValueError("a claim name is 1-200 characters of letters, digits and _ . : / -")
    return value


Scope = Annotated[str, AfterValidator(_scope)]
ClaimName = Annotated[str, AfterValidator(_claim_name)]


class IdentityClaims(SpecModel):
    """Which claim of the IdP's tokens holds each attribute of a person (OIDC names by default)."""

    subject: ClaimName = "sub"
    email: ClaimName = "email"
    name: ClaimName = "name"
    groups: ClaimName = "groups"


class IntrospectionSpec(SpecModel):
    """Direct mode: how Giru asks the IdP about an opaque (non-JWT) access token (RFC 7662)."""

    endpoint: str | None = None
    """Default: the `introspection_endpoint` of the issuer's discovery document."""
    client_id: str = Field(min_length=1, max_length=500)
    client_secret: str = Field(min_length=1, max_length=4096)
    """As `${VAR}`, like `spec.clientSecret`."""
    auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"


class IdentityProviderSpec(SpecModel):
    """The company IdP (OpenID Connect). `broker`: Giru is the authorization server MCP clients
    see and signs people in at this IdP; `direct`: the IdP itself issues the access tokens MCP
    clients present, and Giru only verifies them."""

    issuer: str
    client_id: str | None = Field(default=None, min_length=1, max_length=500)
    client_secret: str | None = Field(default=None, min_length=1, max_length=4096)
    """Giru's secret at the IdP, as `${VAR}`: the value stays in the environment, out of
    manifests, the store and API answers."""
    scopes: list[Scope] = Field(default_factory=lambda: ["openid", "email", "profile"])
    claims: IdentityClaims = Field(default_factory=IdentityClaims)
    mode: Literal["broker", "direct"] = "broker"
    audience: str | None = Field(default=None, min_length=1, max_length=500)
    """Direct mode: the `aud` this IdP puts in its access tokens when it cannot mint one per
    endpoint; default: a token's `aud` must be the endpoint's own URL (RFC 8707)."""
    jwks_uri: str | None = None
    """Default: the `jwks_uri` of the issuer's discovery document."""
    required_scopes: list[Scope] = Field(default_factory=list, max_length=20)
    """Scopes an access token must carry (else 403 insufficient_scope); advertised to clients."""
    introspection: IntrospectionSpec | None = None
    """Direct mode: opaque access tokens are checked at the IdP's introspection endpoint."""

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        introspection = self.introspection
        endpoint = introspection.endpoint if introspection is not None else None
        introspection_secret = introspection.client_secret if introspection is not None else None
        urls = (("issuer", self.issuer), ("jwksUri", self.jwks_uri))
        for field, url in (*urls, ("introspection.endpoint", endpoint)):
            reason = None if url is None else issuer_url_problem(url)
            if reason is not None:
                found.append((f"spec.{field}", reason))
        if self.mode == "broker":
            if self.client_id is None:
                found.append(("spec.clientId", "required when mode is broker"))
            if "openid" not in self.scopes:
                found.append(("spec.scopes", "must include openid when mode is broker"))
            if self.audience is not None:
                found.append(("spec.audience", "only allowed when mode is direct"))
            if introspection is not None:
                found.append(("spec.introspection", "only allowed when mode is direct"))
        secrets = (
            ("spec.clientSecret", self.client_secret),
            ("spec.introspection.clientSecret", introspection_secret),
        )
        for field, secret in secrets:
            if secret is not None and not _SECRET_REFERENCE.fullmatch(secret):
                reason = "write ${VAR}: a secret in clear is not stored (the variable holds it)"
                found.append((field, reason))
        if len(set(self.scopes)) != len(self.scopes):
            found.append(("spec.scopes", "lists a scope more than once"))
        return found
