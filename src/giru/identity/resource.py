"""The issuers Giru trusts for access tokens, compiled from the IdentityProviders of a config.

In `direct` mode an IdentityProvider's own tokens are accepted (keys from its JWKS); in `broker`
mode the tokens Giru itself issues are (issuer `GIRU_PUBLIC_URL`, keys from the `KeySource`
the authorization server hands in with `trust`). A token is routed to its issuer's verifier by the
`iss` it claims, then verified in full; verified tokens are cached by hash until they expire.
A verified JWT admitted at an endpoint is also kept with that endpoint's paths, so presenting
it there again skips the audience and scope checks until it expires. A token that is not a JWT
goes to the introspection endpoint of the direct-mode issuers that have one
(`giru.identity.introspection`), which keeps its own answers. Every token, cached, introspected
or not, is then checked against the people whose access was revoked
(`Revocations`, shared by the resources a worker builds in turn).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from giru.identity.documents import FormPost, JsonFetch
from giru.identity.introspection import Introspection
from giru.identity.jwks import KeySource, RemoteJwks
from giru.identity.metadata import metadata_url, protected_resource_metadata, resource_url
from giru.identity.revocations import Revocations
from giru.identity.tokens import (
    AccessToken,
    AdmittedTokens,
    TokenCache,
    TokenError,
    TokenVerifier,
    looks_like_jwt,
    token_hash,
    unverified_issuer,
)
from giru.manifests.config import Config, IdentityProviderConfig
from giru.settings import IdentitySettings

__all__ = ["Issuer", "ProtectedResource"]


@dataclass(frozen=True, slots=True)
class Issuer:
    """One trusted issuer: how its tokens are verified and what they must carry."""

    verifier: TokenVerifier
    required_scopes: tuple[str, ...] = ()
    audience: str | None = None
    """A fixed `aud` accepted at every endpoint instead of the endpoint's URL (direct mode)."""
    introspection: Introspection | None = None
    """How this issuer's opaque (non-JWT) access tokens are checked, if they are."""


class ProtectedResource:
    """Giru's endpoints as OAuth protected resources (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        issuers: Mapping[str, Issuer],
        *,
        broker: IdentityProviderConfig | None = None,
        cache_size: int = 10_000,
        revocations: Revocations | None = None,
    ) -> None:
        self.base_url = base_url
        self._issuers = dict(issuers)
        self._broker = broker
        self._cache = TokenCache(cache_size)
        self._admitted = AdmittedTokens(cache_size)
        """Tokens that passed the audience and scope checks of an endpoint, by hash and that
        endpoint's paths: a cached token's next call there costs a lookup and the revocation
        check (this resource's issuers and their scopes are fixed: a reload builds another)."""
        self.revocations = revocations if revocations is not None else Revocations()
        self.local_keys: KeySource | None = None
        """Giru's own signing keys (broker mode), once the authorization server hands them in."""

    @classmethod
    def from_config(
        cls,
        config: Config,
        base_url: str,
        settings: IdentitySettings,
        fetch: JsonFetch,
        previous: ProtectedResource | None = None,
        *,
        post: FormPost | None = None,
        revocations: Revocations | None = None,
    ) -> ProtectedResource:
        """The issuers of `config` (JWKS caches of unchanged issuers kept from `previous`);
        `post` makes introspection requests (without it, opaque tokens are refused); the
        tokens of people in `revocations` are refused."""
        issuers: dict[str, Issuer] = {}
        broker = None
        for idp in config.identity_providers.values():
            if idp.mode == "broker":
                broker = idp
                continue
            keys = previous.keys_of(idp) if previous is not None else None
            if keys is None:
                keys = RemoteJwks(
                    idp.issuer,
                    fetch,
                    jwks_uri=idp.jwks_uri,
                    cache_s=settings.jwks_cache_s,
                    refetch_min_s=settings.jwks_refetch_min_s,
                )
            verifier = TokenVerifier(
                idp.issuer, keys, claims=idp.claims, leeway_s=settings.leeway_s
            )
            introspection = _introspection(idp, settings, (fetch, post), previous)
            issuers[idp.issuer] = Issuer(verifier, idp.required_scopes, idp.audience, introspection)
        resource = cls(
            base_url,
            issuers,
            broker=broker,
            cache_size=settings.token_cache_size,
            revocations=revocations,
        )
        if previous is not None and broker is not None and previous.local_keys is not None:
            resource.trust(previous.local_keys, settings.leeway_s)
        return resource

    def trust(self, keys: KeySource, leeway_s: float = 30.0) -> None:
        """Accept the access tokens Giru issues itself (broker mode), signed with `keys`."""
        if self._broker is None:
            return
        self.local_keys = keys
        verifier = TokenVerifier(self.base_url, keys, leeway_s=leeway_s)
        self._issuers[self.base_url] = Issuer(verifier, self._broker.required_scopes)

    def keys_of(self, idp: IdentityProviderConfig) -> RemoteJwks | None:
        """The JWKS this resource fetches for `idp`, when it is configured the same way."""
        issuer = self._issuers.get(idp.issuer)
        keys = issuer.verifier.keys if issuer is not None else None
        if isinstance(keys, RemoteJwks) and keys.jwks_uri_configured == idp.jwks_uri:
            return keys
        return None

    @property
    def active(self) -> bool:
        """Whether any IdentityProvider is configured (OAuth is offered at all)."""
        return self._broker is not None or bool(self._issuers)

    @property
    def authorization_servers(self) -> list[str]:
        servers = [self.base_url] if self._broker is not None else []
        return servers + [i for i in self._issuers if i != self.base_url]

    @property
    def scopes(self) -> list[str]:
        scopes = list(self._broker.required_scopes) if self._broker is not None else []
        for issuer in self._issuers.values():
            scopes += [s for s in issuer.required_scopes if s not in scopes]
        return scopes

    def metadata(self, path: str) -> dict[str, object]:
        """The protected resource metadata of the endpoint at `path`."""
        return protected_resource_metadata(
            resource_url(self.base_url, path), self.authorization_servers, self.scopes
        )

    def metadata_url(self, path: str) -> str:
        return metadata_url(self.base_url, path)

    def introspection_of(self, idp: IdentityProviderConfig) -> Introspection | None:
        """The introspection this resource does for `idp`, when it is configured the same way."""
        issuer = self._issuers.get(idp.issuer)
        found = issuer.introspection if issuer is not None else None
        if found is None or (found.config, found.claims) != (idp.introspection, idp.claims):
            return None
        return found

    @property
    def introspects(self) -> bool:
        """Whether opaque (non-JWT) access tokens are checked at all."""
        return any(issuer.introspection is not None for issuer in self._issuers.values())

    async def authenticate(self, token: str, paths: Sequence[str]) -> AccessToken:
        """The verified token, valid at the endpoint served at `paths`; `TokenError` (401) or
        `InsufficientScopeError` (403) otherwise (`IntrospectionUnavailableError`, a
        `TokenError`, when an IdP cannot tell whether an opaque token is active; also a
        `TokenError` when the token was issued before an admin revoked its person's access)."""
        token_id = token_hash(token)
        admitted = self._admitted.get(token_id, paths)
        if admitted is not None:  # verified and checked at these paths before, not expired
            self.revocations.check(admitted)
            return admitted
        verified = self._cache.get(token_id)
        issuer = self._issuers.get(verified.person.issuer if verified else "")
        if verified is None or issuer is None:
            issuer, verified = await self._verify(token)
        resources = (
            (issuer.audience,)
            if issuer.audience is not None
            else tuple(resource_url(self.base_url, path) for path in paths)
        )
        self.revocations.check(verified)
        verified.check(resources, issuer.required_scopes)
        if self._cache.get(token_id) is verified:  # a JWT (introspection keeps its own answers)
            self._admitted.put(verified, tuple(paths))
        return verified

    def keeps(self, token: AccessToken) -> bool:
        """Whether `token` is a verified JWT kept until its `exp` (not an introspection answer,
        whose own cache bounds how long it holds): one a caller may keep as long."""
        return self._cache.get(token.token_id) is token

    async def _verify(self, token: str) -> tuple[Issuer, AccessToken]:
        """A token not seen before: a JWT by the issuer it names, else by introspection."""
        claimed = unverified_issuer(token)
        issuer = self._issuers.get(claimed or "")
        if issuer is not None:
            verified = await issuer.verifier.verify(token)
            self._cache.put(verified)
            return issuer, verified
        opaque = claimed is None and not looks_like_jwt(token)
        introspecting = [i for i in self._issuers.values() if i.introspection is not None]
        if not opaque or not introspecting:
            raise TokenError("the token is not from an issuer this gateway trusts")
        refused: TokenError | None = None
        for candidate in introspecting:  # usually one; else the first that knows the token
            assert candidate.introspection is not None
            try:
                return candidate, await candidate.introspection.verify(token)
            except TokenError as exc:
                refused = refused or exc
        assert refused is not None
        raise refused


def _introspection(
    idp: IdentityProviderConfig,
    settings: IdentitySettings,
    http: tuple[JsonFetch, FormPost | None],
    previous: ProtectedResource | None,
) -> Introspection | None:
    fetch, post = http
    if idp.introspection is None or post is None:
        return None
    kept = previous.introspection_of(idp) if previous is not None else None
    if kept is not None:
        return kept
    timing = (
        settings.leeway_s,
        settings.introspection_cache_max_s,
        settings.introspection_negative_cache_s,
    )
    return Introspection(
        idp.issuer,
        idp.introspection,
        (fetch, post),
        claims=idp.claims,
        timing=timing,
        cache_size=settings.token_cache_size,
    )
