"""Compiling manifest documents into the `Config`: each document checked and expanded
(`${VAR}` references, paths, auth), then the references between documents checked."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from giru.manifests.config import (
    ClientConfig,
    Config,
    EnvironmentConfig,
    IdentityProviderConfig,
    IntrospectionConfig,
    Located,
    ServerConfig,
    SubscriptionConfig,
    ToolMeta,
    VirtualServerConfig,
    default_environments,
    split_tool_ref,
)
from giru.manifests.discovery import search_config
from giru.manifests.documents import (
    AuthorizationCodeAuth,
    ClientDocument,
    EnvironmentDocument,
    IdentityProviderDocument,
    MCPServerDocument,
    PolicyDocument,
    StaticAuth,
    SubscriptionDocument,
    VirtualServerDocument,
)
from giru.manifests.upstream_auth import compile_credential_auth
from giru.upstream.auth import MtlsAuth, OAuthClientAuth
from giru.upstream.base import (
    Timeouts,
    UpstreamAuth,
    UpstreamOAuth,
)

__all__ = ["check_unprefixed_collisions", "compile_config"]

_T = TypeVar("_T")
_REFERENCE = re.compile(r"\$\$|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PREFIX_HINT = "; unprefixed names must be unique (set prefix: true)"


def compile_config(
    entries: list[Located],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    tolerant: bool = False,
) -> tuple[Config, list[str]]:
    """Build the `Config` and every cross-document problem (empty when the config is valid).

    `tolerant` leaves out the objects that have problems instead of the caller refusing the
    whole config (the store's objects were each valid when written; the environment of this
    process may still lack a variable one of them references).
    """
    env = os.environ if environ is None else environ
    base = Path.cwd() if cwd is None else cwd
    compiler = _Compiler(env, base)
    for entry in entries:
        compiler.add(entry)
    compiler.check_references()
    ok = (lambda kind, name: f"{kind}/{name}" not in compiler.broken) if tolerant else None
    config = Config(
        servers=_kept(compiler.servers, "MCPServer", ok),
        virtual_servers=_kept(compiler.virtual_servers, "VirtualServer", ok),
        clients=_kept(compiler.clients, "Client", ok),
        subscriptions=_kept(compiler.subscriptions, "Subscription", ok),
        environments=_kept(compiler.environments, "Environment", ok),
        policies=_kept(compiler.policies, "Policy", ok),
        identity_providers=_kept(compiler.identity_providers, "IdentityProvider", ok),
        documents=tuple(entries),
    )
    return config, compiler.problems


def _kept(
    objects: dict[str, _T], kind: str, ok: Callable[[str, str], bool] | None
) -> Mapping[str, _T]:
    return MappingProxyType({n: o for n, o in objects.items() if ok is None or ok(kind, n)})


class _Compiler:
    def __init__(self, environ: Mapping[str, str], base: Path) -> None:
        self.environ = environ
        self.base = base
        self.servers: dict[str, ServerConfig] = {}
        self.virtual_servers: dict[str, VirtualServerConfig] = {}
        self.clients: dict[str, ClientConfig] = {}
        self.subscriptions: dict[str, SubscriptionConfig] = {}
        self.environments: dict[str, EnvironmentConfig] = default_environments()
        self.policies: dict[str, PolicyDocument] = {}
        self.identity_providers: dict[str, IdentityProviderConfig] = {}
        self.problems: list[str] = []
        self._key_owner: dict[str, str] = {}
        self.broken: set[str] = set()
        self._sources: dict[tuple[str, str], str] = {}

    def report(self, source: str, who: str, path: str, reason: str) -> None:
        self.problems.append(f"{source}: {who}: {path}: {reason}")
        self.broken.add(who)

    def add(self, entry: Located) -> None:
        doc, name = entry.document, entry.document.metadata.name
        first = self._sources.setdefault((doc.kind, name), entry.source)
        if first != entry.source:
            self.report(
                entry.source, f"{doc.kind}/{name}", "metadata.name", f"duplicate of {first}"
            )
            return
        if isinstance(doc, MCPServerDocument):
            self.servers[name] = self._server(entry.source, doc)
        elif isinstance(doc, VirtualServerDocument):
            self.virtual_servers[name] = VirtualServerConfig(
                name=name,
                servers=tuple(doc.spec.servers),
                tools=tuple(doc.spec.tools),
                prefix=doc.spec.prefix,
                auth=doc.spec.auth,
                search=search_config(doc.spec.discovery),
                source=entry.source,
            )
        elif isinstance(doc, ClientDocument):
            self.clients[name] = self._client(entry.source, doc)
        elif isinstance(doc, SubscriptionDocument):
            self.subscriptions[name] = SubscriptionConfig(name, doc.spec, entry.source)
        elif isinstance(doc, EnvironmentDocument):
            self.environments[name] = EnvironmentConfig(name, doc.spec, entry.source)
        elif isinstance(doc, PolicyDocument):
            self.policies[name] = doc
        elif isinstance(doc, IdentityProviderDocument):
            self.identity_providers[name] = self._identity_provider(entry.source, doc)

    def _identity_provider(
        self, source: str, doc: IdentityProviderDocument
    ) -> IdentityProviderConfig:
        spec, who = doc.spec, f"IdentityProvider/{doc.metadata.name}"
        secret = spec.client_secret
        if secret is not None:
            secret = self._expand(secret, source, who, "spec.clientSecret")
        return IdentityProviderConfig(
            name=doc.metadata.name,
            issuer=spec.issuer,
            mode=spec.mode,
            client_id=spec.client_id,
            client_secret=secret,
            scopes=tuple(spec.scopes),
            claims=spec.claims,
            audience=spec.audience,
            jwks_uri=spec.jwks_uri,
            required_scopes=tuple(spec.required_scopes),
            introspection=self._introspection(source, doc),
            source=source,
        )

    def _introspection(
        self, source: str, doc: IdentityProviderDocument
    ) -> IntrospectionConfig | None:
        spec = doc.spec.introspection
        if spec is None:
            return None
        who = f"IdentityProvider/{doc.metadata.name}"
        return IntrospectionConfig(
            client_id=spec.client_id,
            client_secret=self._expand(
                spec.client_secret, source, who, "spec.introspection.clientSecret"
            ),
            endpoint=spec.endpoint,
            auth_method=spec.auth_method,
        )

    def _server(self, source: str, doc: MCPServerDocument) -> ServerConfig:
        spec, who = doc.spec, f"MCPServer/{doc.metadata.name}"
        env = {
            k: self._expand(v, source, who, f"spec.env.{k}") for k, v in (spec.env or {}).items()
        }
        headers = {
            k: self._expand(v, source, who, f"spec.headers.{k}")
            for k, v in (spec.headers or {}).items()
        }
        t = spec.timeouts
        return ServerConfig(
            name=doc.metadata.name,
            transport=spec.transport,
            url=spec.url,
            command=self._path(spec.command, is_command=True),
            args=tuple(spec.args or ()),
            env=MappingProxyType(env),
            cwd=self._path(spec.cwd, is_command=False),
            headers=MappingProxyType(headers),
            timeouts=Timeouts(connect=t.connect, call=t.call, call_max=t.call_max),
            tags=tuple(spec.tags),
            tools=MappingProxyType(
                {
                    k: ToolMeta(tuple(v.tags), v.sensitivity, v.category)
                    for k, v in spec.tools.items()
                }
            ),
            enabled=spec.enabled,
            isolation=spec.isolation,
            era=spec.era,
            auth=_auth(spec.auth, spec.transport),
            keep_stale=spec.catalog.keep_stale,
            trust=spec.trust,
            oauth=_oauth(spec.auth),
            source=source,
        )

    def _path(self, value: str | None, *, is_command: bool) -> str | None:
        # A bare command name (`npx`) is looked up on PATH by the spawner; anything with a `/` is
        # a path, and relative paths mean "relative to where giru was started".
        if value is None or (is_command and "/" not in value) or os.path.isabs(value):
            return value
        return os.path.normpath(self.base / value)

    def _expand(self, value: str, source: str, who: str, path: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "$"
            if not _ENV_NAME.fullmatch(name):
                self.report(source, who, path, f"invalid reference ${{{name}}}")
            elif name not in self.environ:
                self.report(source, who, path, f"environment variable {name} is not set")
            else:
                return self.environ[name]
            return ""

        return _REFERENCE.sub(substitute, value)

    def _client(self, source: str, doc: ClientDocument) -> ClientConfig:
        spec, who = doc.spec, f"Client/{doc.metadata.name}"
        if spec.api_key_env is not None:
            if not self.environ.get(spec.api_key_env):
                reason = f"environment variable {spec.api_key_env} is not set or empty"
                self.report(source, who, "spec.apiKeyEnv", reason)
            self._claim_key(f"env:{spec.api_key_env}", source, who, "spec.apiKeyEnv")
        if spec.api_key_hash is not None:
            self._claim_key(spec.api_key_hash, source, who, "spec.apiKeyHash")
        return ClientConfig(
            name=doc.metadata.name,
            api_key_hash=spec.api_key_hash,
            api_key_env=spec.api_key_env,
            servers=tuple(spec.servers),
            tools=tuple(spec.tools),
            rate=(spec.rate_limit_rps, spec.burst) if spec.rate_limit_rps else None,
            claims=MappingProxyType(dict(spec.claims)),
            source=source,
        )

    def _claim_key(self, key: str, source: str, who: str, path: str) -> None:
        owner = self._key_owner.setdefault(key, who)
        if owner != who:
            self.report(source, who, path, f"same key as {owner}; keys identify one client")

    def check_references(self) -> None:
        for vs in self.virtual_servers.values():
            who = f"VirtualServer/{vs.name}"
            self._check_servers(vs.source, who, vs.servers, wildcard=False)
            self._check_tools(vs.source, who, vs.tools)
            if not vs.prefix:
                self._check_static_collisions(vs)
        for client in self.clients.values():
            who = f"Client/{client.name}"
            self._check_servers(client.source, who, client.servers, wildcard=True)
            self._check_tools(client.source, who, client.tools)
        for sub in self.subscriptions.values():
            self._check_subscription(sub)
        for name, policy in self.policies.items():
            self._check_selector(name, policy)
        self._check_identity_providers()

    def _check_identity_providers(self) -> None:
        """One broker at most (MCP clients see one authorization server); one IdP per issuer."""
        brokers: list[str] = []
        issuers: dict[str, str] = {}
        for idp in self.identity_providers.values():
            who = f"IdentityProvider/{idp.name}"
            if idp.mode == "broker":
                brokers.append(idp.name)
                if len(brokers) > 1:
                    reason = f"only one IdentityProvider may be in broker mode ({brokers[0]!r} is)"
                    self.report(idp.source, who, "spec.mode", reason)
            other = issuers.setdefault(idp.issuer.rstrip("/"), idp.name)
            if other != idp.name:
                reason = f"IdentityProvider/{other} has the same issuer"
                self.report(idp.source, who, "spec.issuer", reason)

    def _check_subscription(self, sub: SubscriptionConfig) -> None:
        who, spec = f"Subscription/{sub.name}", sub.spec
        if spec.client is not None and spec.client not in self.clients:
            self.report(sub.source, who, "spec.client", f"no Client named {spec.client!r}")
        if spec.server not in self.servers:
            self.report(sub.source, who, "spec.server", f"no MCPServer named {spec.server!r}")
        if spec.environment is not None and spec.environment not in self.environments:
            reason = f"no Environment named {spec.environment!r}"
            self.report(sub.source, who, "spec.environment", reason)

    def _check_selector(self, name: str, policy: PolicyDocument) -> None:
        source, selector = self._sources[("Policy", name)], policy.spec.selector
        targets: tuple[tuple[str, list[str], Mapping[str, object], str], ...] = (
            ("servers", selector.servers, self.servers, "MCPServer"),
            ("virtualServers", selector.virtual_servers, self.virtual_servers, "VirtualServer"),
            ("environments", selector.environments, self.environments, "Environment"),
        )
        for field_name, names, known, kind in targets:
            for i, target in enumerate(names):
                if target not in known:
                    path = f"spec.selector.{field_name}[{i}]"
                    self.report(source, f"Policy/{name}", path, f"no {kind} named {target!r}")

    def _check_servers(
        self, source: str, who: str, names: tuple[str, ...], *, wildcard: bool
    ) -> None:
        for i, name in enumerate(names):
            if wildcard and name == "*":
                continue
            if name not in self.servers:
                self.report(source, who, f"spec.servers[{i}]", f"no MCPServer named {name!r}")

    def _check_tools(self, source: str, who: str, refs: tuple[str, ...]) -> None:
        for i, ref in enumerate(refs):
            parts = split_tool_ref(ref)
            if parts is None:
                reason = f"{ref!r} is not a server__tool reference"
                self.report(source, who, f"spec.tools[{i}]", reason)
            elif parts[0] not in self.servers:
                reason = f"no MCPServer named {parts[0]!r} (in {ref!r})"
                self.report(source, who, f"spec.tools[{i}]", reason)

    def _check_static_collisions(self, vs: VirtualServerConfig) -> None:
        seen: dict[str, str] = {}
        for i, ref in enumerate(vs.tools):
            parts = split_tool_ref(ref)
            if parts is None:
                continue
            server, tool = parts
            other = seen.setdefault(tool, server)
            if other != server:
                reason = f"tool {tool!r} is listed from both {other!r} and {server!r}{_PREFIX_HINT}"
                self.report(vs.source, f"VirtualServer/{vs.name}", f"spec.tools[{i}]", reason)


def _auth(auth: object, transport: str) -> UpstreamAuth | OAuthClientAuth | MtlsAuth | None:
    if not isinstance(auth, StaticAuth):
        return compile_credential_auth(auth)
    header = None if transport == "stdio" else auth.header or "Authorization"
    return UpstreamAuth(
        secret=auth.secret_ref.name,
        key=auth.secret_ref.key,
        header=header,
        env=auth.env,
        prefix=auth.prefix,
    )


def _oauth(auth: object) -> UpstreamOAuth | None:
    if not isinstance(auth, AuthorizationCodeAuth):
        return None
    secret = auth.client_secret
    return UpstreamOAuth(
        connection=auth.connection,
        client_id=auth.client_id,
        client_secret=None if secret is None else (secret.secret_ref.name, secret.secret_ref.key),
        scopes=tuple(auth.scopes),
    )


def check_unprefixed_collisions(vs_name: str, tools_by_server: dict[str, list[str]]) -> list[str]:
    """Problems with exposing these tools unprefixed on virtual server `vs_name`.

    Called by the gateway once upstream catalogs are known, with the tools the virtual server
    exposes from each server. Empty when every tool name is unique across servers.
    """
    offered: dict[str, list[str]] = {}
    for server in sorted(tools_by_server):
        for tool in dict.fromkeys(tools_by_server[server]):
            offered.setdefault(tool, []).append(server)
    return [
        f"VirtualServer/{vs_name}: tool {tool!r} is offered by {', '.join(servers)}{_PREFIX_HINT}"
        for tool, servers in sorted(offered.items())
        if len(servers) > 1
    ]
