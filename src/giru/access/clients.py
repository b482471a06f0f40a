"""The compiled client directory: who a bearer key belongs to and what that client may use.

Built once per `Config` (and again on every reload), then read on the hot path without I/O.
Keys are never logged or kept: env-provided keys are reduced to their SHA-256 digest at compile
time, argon2id hashes are verified through `KeyVerifier`: only the one filed under the presented
key's identifier, or, for a key without one, the hashes stored without one. A key found to belong
to nobody is remembered as such (its digest, briefly, boundedly) so repeating it costs nothing.

A person signed in over OAuth is a principal of the same kind: `person()` turns a verified access
token into a `ClientPrincipal` named `user:<email>` (the subject when there is no email) that
carries the `Person` and the OAuth client acting for them (`agent`), with the grants of the
subscriptions naming that person or one of their groups; it is made once per access token and
kept by the token's hash (revocation and expiry are checked before, on every call).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from giru.access.apikeys import KeyVerifier, hmac_hash, key_id, split_stored
from giru.access.grants import Grants, Rate, SubscriptionLimits, compile_grants
from giru.errors import ConfigError
from giru.identity import AccessToken, Person, PresentedToken
from giru.manifests.config import ClientConfig, Config, split_tool_ref

__all__ = ["MAX_KEY_LENGTH", "PERSON_PREFIX", "ClientDirectory", "ClientPrincipal"]

MAX_KEY_LENGTH = 1024
# RFC 6750 bearer tokens are visible ASCII; refusing the rest early keeps odd input from argon2.
_TOKEN = re.compile(r"[\x21-\x7e]+")
_HMAC_PREFIX = "hmac-sha256:"
PERSON_PREFIX = "user:"
"""How the name of a person's principal starts (Client names cannot contain ':')."""
_PEOPLE_MAX = 10_000
_UNKNOWN_TTL_S = 60.0
_UNKNOWN_MAX = 10_000
_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ClientPrincipal:
    """An authenticated client and its allow-list (absent = nothing: fail closed).

    `servers` and `tools` join the client's standing grants and its live subscriptions;
    `subscriptions` says which subscription grants what (for limits and policy).
    """

    name: str
    all_servers: bool = False
    servers: frozenset[str] = frozenset()
    tools: frozenset[tuple[str, str]] = frozenset()
    subscriptions: Grants = field(default_factory=Grants, compare=False, hash=False)
    rate: Rate | None = None
    """The client's own rate limit over all its calls."""
    person: Person | None = field(default=None, compare=False)
    """The person signed in over OAuth (None: an API-key client)."""
    agent: str | None = None
    """The OAuth client (the MCP client app) acting for `person`."""
    presented: PresentedToken | None = field(default=None, compare=False, repr=False)
    """The access token this request presented (a person's): what a `token-exchange`
    upstream exchanges on their behalf. Never sent upstream itself."""

    def subscription_for(self, server: str, tool: str) -> str | None:
        """The subscription granting `tool` of `server`, or None (a standing grant or none)."""
        grants = self.subscriptions
        return grants.tools.get((server, tool)) or grants.servers.get(server)

    def limits_of(self, subscription: str) -> SubscriptionLimits | None:
        return self.subscriptions.limits.get(subscription)

    def allows_server(self, server: str) -> bool:
        """Whether the whole server (every tool, resource and prompt of it) is allowed."""
        return self.all_servers or server in self.servers

    def allows_tool(self, server: str, tool: str) -> bool:
        """Whether `tool` of `server` (unprefixed upstream name) may be listed and called."""
        return self.all_servers or server in self.servers or (server, tool) in self.tools


class ClientDirectory:
    """Immutable map from API keys to `ClientPrincipal`s, compiled from a `Config`."""

    __slots__ = (
        "_argon2",
        "_by_id",
        "_by_token",
        "_clock",
        "_digests",
        "_grants",
        "_hmacs",
        "_key_ids",
        "_made",
        "_people",
        "_pepper",
        "_principals",
        "_unknown",
        "_verifier",
    )

    def __init__(
        self,
        principals: Mapping[str, ClientPrincipal],
        digests: tuple[tuple[bytes, ClientPrincipal], ...],
        argon2: tuple[tuple[str, ClientPrincipal], ...],
        verifier: KeyVerifier,
        hmacs: Mapping[str, ClientPrincipal] | None = None,
        pepper: bytes = b"",
        grants: Mapping[str, Grants] | None = None,
        clock: Callable[[], float] = time.monotonic,
        key_ids: frozenset[str] | None = None,
    ) -> None:
        """`key_ids`: the public identifiers of every key, None when some key has none."""
        self._key_ids = key_ids
        self._principals = dict(principals)
        self._grants = dict(grants or {})
        self._people: dict[str, tuple[Person, str | None]] = {}
        self._made: dict[str, tuple[tuple[Person, str | None], ClientPrincipal]] = {}
        """A seen person's principal by name, with the `_people` entry it was made from: this
        directory's grants never change, so it holds until that entry is replaced."""
        self._by_token: dict[str, tuple[AccessToken, ClientPrincipal]] = {}
        """A person's principal by the hash of the access token it was made for: the token's
        claims and this directory's grants never change, so its next call reuses it (a new
        token, a refresh with other groups, or a reload's new directory makes a new one)."""
        self._digests = digests
        self._by_id: dict[str, list[tuple[str, ClientPrincipal]]] = {}
        legacy: list[tuple[str, ClientPrincipal]] = []
        for stored, principal in argon2:
            ident, _ = split_stored(stored)
            if ident is None:
                legacy.append((stored, principal))
            else:
                self._by_id.setdefault(ident, []).append((stored, principal))
        self._argon2 = tuple(legacy)
        self._verifier = verifier
        self._hmacs = dict(hmacs or {})
        self._pepper = pepper
        self._clock = clock
        self._unknown: dict[bytes, float] = {}

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        environ: Mapping[str, str] | None = None,
        verifier: KeyVerifier | None = None,
        pepper: bytes = b"",
        now: datetime | None = None,
    ) -> ClientDirectory:
        """Compile the clients of `config` with the subscriptions in force at `now`, reading
        `apiKeyEnv` variables now. `pepper` keys the `hmac-sha256:` hashes of stored keys.

        Pass the previous directory's `verifier` on reload to keep its cache warm.

        Raises:
            ConfigError: an `apiKeyEnv` variable is unset or empty, or two clients share a key.
        """
        env = os.environ if environ is None else environ
        grants = compile_grants(config, now or datetime.now(UTC))
        keys = _Keys()
        principals: dict[str, ClientPrincipal] = {}
        for client in config.clients.values():
            principal = _principal(client, grants.get(client.name, Grants()))
            principals[client.name] = principal
            keys.add(client, principal, env)
        _refuse_shared_digests(keys.digests)
        return cls(
            principals,
            tuple(keys.digests),
            tuple(keys.argon2),
            verifier if verifier is not None else KeyVerifier(),  # an empty one is falsy
            hmacs=keys.hmacs,
            pepper=pepper,
            grants=grants,
            key_ids=None if keys.ids is None else frozenset(keys.ids),
        )

    async def authenticate(self, bearer_token: str) -> ClientPrincipal | None:
        """The client holding `bearer_token`, or None (unknown, malformed or too long)."""
        if len(bearer_token) > MAX_KEY_LENGTH or not _TOKEN.fullmatch(bearer_token):
            return None
        by_hmac = self._hmacs.get(hmac_hash(bearer_token, self._pepper)) if self._hmacs else None
        if by_hmac is not None:
            return by_hmac
        presented = hashlib.sha256(bearer_token.encode()).digest()
        found: ClientPrincipal | None = None
        # Compare against every digest without stopping early: the time taken says nothing about
        # which client (if any) matched. Manifest-defined clients number in the tens.
        for digest, principal in self._digests:
            if hmac.compare_digest(digest, presented) and found is None:
                found = principal
        if found is not None:
            return found
        ident = key_id(bearer_token)
        candidates = self._by_id.get(ident, ()) if ident is not None else self._argon2
        if not candidates or self._known_unknown(presented):
            return None
        for stored, principal in candidates:
            if await self._verifier.verify(bearer_token, stored):
                return principal
        self._remember_unknown(presented)
        return None

    def _known_unknown(self, digest: bytes) -> bool:
        expires = self._unknown.get(digest)
        if expires is None:
            return False
        if expires > self._clock():
            return True
        del self._unknown[digest]
        return False

    def _remember_unknown(self, digest: bytes) -> None:
        """Remember a key no slow hash matched, for `_UNKNOWN_TTL_S`; the oldest entry goes
        when `_UNKNOWN_MAX` are kept. A reload builds a new directory, so a key created since
        is never refused from here."""
        if len(self._unknown) >= _UNKNOWN_MAX:
            del self._unknown[next(iter(self._unknown))]
        self._unknown[digest] = self._clock() + _UNKNOWN_TTL_S

    def get(self, name: str) -> ClientPrincipal | None:
        """The principal of the client named `name` (for auth modes that name the client), or
        of a person seen signed in, with the grants in force now."""
        found = self._principals.get(name)
        if found is not None or not name.startswith(PERSON_PREFIX):
            return found
        seen = self._people.get(name)
        if seen is None:
            return None
        made = self._made.get(name)
        if made is None or made[0] is not seen:
            if len(self._made) >= _PEOPLE_MAX:
                self._made.clear()
            made = self._made[name] = (seen, self._person_principal(*seen))
        return made[1]

    def person(
        self, token: AccessToken, presented: PresentedToken | None = None
    ) -> ClientPrincipal:
        """The principal of the person a verified access token names (`presented`: that
        token itself, for exchanges on the person's behalf)."""
        made_for, known = self._by_token.get(token.token_id, (None, None))
        same = made_for is token or made_for == token
        if known is not None and same and known.presented == presented:
            if known.name not in self._people:  # cleared since (it is bounded)
                self._people[known.name] = (token.person, token.client_id)
            return known
        principal = self._person_principal(token.person, token.client_id, presented)
        if len(self._people) >= _PEOPLE_MAX:
            self._people.clear()
        self._people[principal.name] = (token.person, token.client_id)
        if len(self._by_token) >= _PEOPLE_MAX:
            self._by_token.clear()
        self._by_token[token.token_id] = (token, principal)
        return principal

    def recall(self, principal: object) -> None:
        """A person's principal admitted again without `person` (from the admitted bearers):
        `get` knows them by name again if the bounded list of people seen was cleared since."""
        if not isinstance(principal, ClientPrincipal) or principal.person is None:
            return
        if principal.name not in self._people:
            self._people[principal.name] = (principal.person, principal.agent)

    def adopt_people(self, previous: ClientDirectory) -> None:
        """Keep knowing the people `previous` saw (their sessions outlive a reload)."""
        self._people.update(previous._people)

    def _person_principal(
        self, person: Person, agent: str | None, presented: PresentedToken | None = None
    ) -> ClientPrincipal:
        keys = [f"{PERSON_PREFIX}{person.email}"] if person.email else []
        keys += [f"group:{group}" for group in person.groups]
        grants = _merged([self._grants[k] for k in keys if k in self._grants])
        return ClientPrincipal(
            name=f"{PERSON_PREFIX}{person.label}",
            servers=frozenset(grants.servers),
            tools=frozenset(grants.tools),
            subscriptions=grants,
            person=person,
            agent=agent,
            presented=presented,
        )

    @property
    def key_ids(self) -> frozenset[str] | None:
        """The public identifier (`giru_<id>`) of every key that lets a client in, or None when
        some key has none (a key from before identifiers, or one in another format): what the
        edge may check a presented key's identifier against (giru.xds.keycheck)."""
        return self._key_ids

    @property
    def verifier(self) -> KeyVerifier:
        return self._verifier

    def __len__(self) -> int:
        return len(self._principals)


class _Keys:
    """Every stored key of every client, by how it is checked."""

    def __init__(self) -> None:
        self.digests: list[tuple[bytes, ClientPrincipal]] = []
        self.argon2: list[tuple[str, ClientPrincipal]] = []
        self.hmacs: dict[str, ClientPrincipal] = {}
        self.ids: set[str] | None = set()
        """The public identifiers of every key; None once a key has none (docs/security)."""

    def add(self, client: ClientConfig, principal: ClientPrincipal, env: Mapping[str, str]) -> None:
        hashes = list(client.key_hashes)
        if client.api_key_hash is not None and client.api_key_hash not in hashes:
            hashes.append(client.api_key_hash)
        if client.api_key_env is not None:
            digest, ident = _digest(client, env)
            self.digests.append((digest, principal))
            self._identified(ident)
        for stored in hashes:
            ident, bare = split_stored(stored)
            if bare.startswith("$argon2id$"):
                if ident is None:
                    _log.warning("client_key_without_id", client=client.name)
                self.argon2.append((stored, principal))
            elif bare.startswith(_HMAC_PREFIX):
                self.hmacs[bare] = principal
            elif bare.startswith("sha256:"):
                self.digests.append((bytes.fromhex(bare.removeprefix("sha256:")), principal))
            else:
                _log.warning("client_key_format_unknown", client=client.name)
                continue
            self._identified(ident)

    def _identified(self, ident: str | None) -> None:
        if ident is None:
            self.ids = None
        elif self.ids is not None:
            self.ids.add(ident)


def _principal(client: ClientConfig, grants: Grants) -> ClientPrincipal:
    tools = {parts for ref in client.tools if (parts := split_tool_ref(ref)) is not None}
    servers = {s for s in client.servers if s != "*"}
    rate = (float(client.rate[0]), client.rate[1]) if client.rate else None
    return ClientPrincipal(
        name=client.name,
        all_servers="*" in client.servers,
        servers=frozenset(servers | grants.servers.keys()),
        tools=frozenset(tools | grants.tools.keys()),
        subscriptions=grants,
        rate=rate,
    )


def _merged(grants: list[Grants]) -> Grants:
    """One person's grants from their own and their groups' (the first subscription by key
    order wins a tool granted twice, as for a client)."""
    if len(grants) == 1:
        return grants[0]
    servers: dict[str, str] = {}
    tools: dict[tuple[str, str], str] = {}
    limits: dict[str, SubscriptionLimits] = {}
    for granted in grants:
        for server, sub in granted.servers.items():
            servers.setdefault(server, sub)
        for tool, sub in granted.tools.items():
            tools.setdefault(tool, sub)
        limits.update(granted.limits)
    return Grants(servers, tools, limits)


def _digest(client: ClientConfig, environ: Mapping[str, str]) -> tuple[bytes, str | None]:
    """The SHA-256 digest of the key in the client's `apiKeyEnv` variable, and its identifier."""
    variable = client.api_key_env or ""
    key = environ.get(variable, "")
    if not key:
        message = f"Client/{client.name}: spec.apiKeyEnv: environment variable {variable} is unset"
        raise ConfigError(message, data={"problems": [message]})
    return hashlib.sha256(key.encode()).digest(), key_id(key)


def _refuse_shared_digests(digests: list[tuple[bytes, ClientPrincipal]]) -> None:
    owners: dict[bytes, str] = {}
    problems = [
        f"Client/{principal.name}: same API key as Client/{owners[digest]}"
        for digest, principal in digests
        if owners.setdefault(digest, principal.name) != principal.name
    ]
    if problems:
        raise ConfigError("\n".join(problems), data={"problems": problems})
