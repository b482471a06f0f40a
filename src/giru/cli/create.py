"""`giru <kind> create`: from flags for the common fields, or from a manifest file (`-f`).

Either way the document is validated locally with the manifest models before it is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from giru.cli.context import connect
from giru.cli.exits import reported
from giru.cli.kinds import BY_KIND, KindInfo
from giru.cli.manifests import LocalDocument, new_document, read_local
from giru.cli.output import print_api_keys
from giru.errors import ValidationError

__all__ = ["CREATORS"]

NameArg = Annotated[str | None, typer.Argument(help="The object's name (not with -f).")]
FileOption = Annotated[
    Path | None, typer.Option("--filename", "-f", help="Create from a manifest file instead.")
]


def _create(info: KindInfo, name: str | None, spec: dict[str, Any], file: Path | None) -> None:
    with reported():
        documents = _from_file(info, file) if file else [_from_flags(info, name, spec)]
        keys: list[tuple[str, str]] = []
        try:
            with connect() as client:
                for document in documents:
                    created = client.post(f"/{info.path}", document.body())
                    label = f"{info.resource}/{document.name}"
                    typer.echo(f"{label} created")
                    if isinstance(created, dict) and created.get("apiKey"):
                        keys.append((label, str(created["apiKey"])))
        finally:  # a key already generated is shown even if a later document fails
            print_api_keys(keys)


def _from_flags(info: KindInfo, name: str | None, spec: dict[str, Any]) -> LocalDocument:
    if name is None:
        raise ValidationError("give a NAME (with flags for its spec) or -f FILE")
    kept = {key: value for key, value in spec.items() if value is not None and value != []}
    return new_document(info.kind, name, kept)


def _from_file(info: KindInfo, file: Path) -> list[LocalDocument]:
    documents = read_local([file])
    other = [d for d in documents if d.kind != info.kind]
    if other:
        found = ", ".join(f"{d.source}: {d.kind}/{d.name}" for d in other)
        raise ValidationError(f"not {info.kind} documents: {found} (use `giru apply -f`)")
    return documents


def _pairs(values: list[str] | None, flag: str) -> dict[str, str] | None:
    if not values:
        return None
    pairs = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise ValidationError(f"{flag} {value!r}: expected KEY=VALUE")
        pairs[key] = rest
    return pairs


def create_server(
    name: NameArg = None,
    transport: Annotated[
        str | None,
        typer.Option(help="stdio, sse or streamable-http (default: from --url/--command)."),
    ] = None,
    url: Annotated[str | None, typer.Option(help="Upstream URL (sse, streamable-http).")] = None,
    command: Annotated[str | None, typer.Option(help="Program to start (stdio).")] = None,
    arg: Annotated[list[str] | None, typer.Option(help="An argument (stdio), repeatable.")] = None,
    header: Annotated[list[str] | None, typer.Option(help="NAME=VALUE, repeatable.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="A tag, repeatable.")] = None,
    disabled: Annotated[bool, typer.Option(help="Declare it switched off.")] = False,
    file: FileOption = None,
) -> None:
    """Create an MCPServer."""
    with reported():
        spec = {
            "transport": transport or ("stdio" if command else "streamable-http"),
            "url": url,
            "command": command,
            "args": arg,
            "headers": _pairs(header, "--header"),
            "tags": tag,
            "enabled": False if disabled else None,
        }
    _create(BY_KIND["MCPServer"], name, spec, file)


def create_client(
    name: NameArg = None,
    server: Annotated[list[str] | None, typer.Option(help="Server it may use ('*': all).")] = None,
    tool: Annotated[list[str] | None, typer.Option(help="server__tool it may use.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Read its key from this variable of the gateway.")
    ] = None,
    file: FileOption = None,
) -> None:
    """Create a Client; without --api-key-env a key is generated and shown once."""
    spec = {"servers": server, "tools": tool, "apiKeyEnv": api_key_env}
    _create(BY_KIND["Client"], name, spec, file)


def create_subscription(
    name: NameArg = None,
    client: Annotated[str | None, typer.Option(help="The subscribing Client.")] = None,
    server: Annotated[str | None, typer.Option(help="The MCPServer subscribed to.")] = None,
    environment: Annotated[str | None, typer.Option(help="dev, staging, prod, ...")] = None,
    tool: Annotated[list[str] | None, typer.Option(help="A tool of the server.")] = None,
    all_tools: Annotated[bool, typer.Option(help="Every tool of the server.")] = False,
    rate_limit: Annotated[int | None, typer.Option(help="Requests per second.")] = None,
    quota_per_day: Annotated[int | None, typer.Option(help="Calls per day.")] = None,
    expires_at: Annotated[
        str | None, typer.Option(help="RFC 3339, e.g. 2026-12-31T00:00:00Z")
    ] = None,
    requires_approval: Annotated[bool, typer.Option(help="Start pending approval.")] = False,
    file: FileOption = None,
) -> None:
    """Create a Subscription of a client to a server's tools."""
    spec = {
        "client": client,
        "server": server,
        "environment": environment,
        "scopeType": "all" if all_tools else None,
        "scopeTools": tool,
        "rateLimitRps": rate_limit,
        "quotaPerDay": quota_per_day,
        "expiresAt": expires_at,
        "requiresApproval": requires_approval or None,
    }
    _create(BY_KIND["Subscription"], name, spec, file)


def create_virtual_server(
    name: NameArg = None,
    server: Annotated[list[str] | None, typer.Option(help="A whole server.")] = None,
    tool: Annotated[list[str] | None, typer.Option(help="A single server__tool.")] = None,
    prefix: Annotated[bool, typer.Option(help="Keep the server__ prefix.")] = True,
    auth: Annotated[str | None, typer.Option(help="apiKey (default) or none.")] = None,
    file: FileOption = None,
) -> None:
    """Create a VirtualServer (a named bundle of servers and tools)."""
    spec = {"servers": server, "tools": tool, "prefix": prefix, "auth": auth}
    _create(BY_KIND["VirtualServer"], name, spec, file)


def create_environment(
    name: NameArg = None,
    display_name: Annotated[str | None, typer.Option(help="A human name.")] = None,
    auto_approval: Annotated[bool, typer.Option(help="Subscriptions need no approval.")] = False,
    file: FileOption = None,
) -> None:
    """Create an Environment."""
    spec = {"displayName": display_name, "allowAutoApproval": auto_approval}
    _create(BY_KIND["Environment"], name, spec, file)


def create_policy(
    name: NameArg = None,
    pack: Annotated[
        list[str] | None, typer.Option(help="A policy pack (core, pci_dss, ...), repeatable.")
    ] = None,
    server: Annotated[list[str] | None, typer.Option(help="Only for this MCPServer.")] = None,
    virtual_server: Annotated[
        list[str] | None, typer.Option(help="Only on this VirtualServer.")
    ] = None,
    environment: Annotated[list[str] | None, typer.Option(help="Only in this Environment.")] = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    file: FileOption = None,
) -> None:
    """Create a Policy: packs enabled where its selector matches (data: use -f)."""
    selector = {"servers": server, "virtualServers": virtual_server, "environments": environment}
    spec = {
        "packs": pack,
        "selector": {key: value for key, value in selector.items() if value} or None,
        "description": description,
    }
    _create(BY_KIND["Policy"], name, spec, file)


def create_identity_provider(
    name: NameArg = None,
    issuer: Annotated[str | None, typer.Option(help="The IdP's issuer URL (https).")] = None,
    mode: Annotated[
        str | None, typer.Option(help="broker (default: Giru signs people in) or direct.")
    ] = None,
    client_id: Annotated[str | None, typer.Option(help="Giru's client id at the IdP.")] = None,
    client_secret: Annotated[
        str | None, typer.Option(help="Giru's client secret as ${VAR} (the gateway's variable).")
    ] = None,
    scope: Annotated[list[str] | None, typer.Option(help="A scope to ask, repeatable.")] = None,
    audience: Annotated[
        str | None, typer.Option(help="Direct mode: the aud of the IdP's access tokens.")
    ] = None,
    file: FileOption = None,
) -> None:
    """Create an IdentityProvider (claims mapping: use -f)."""
    spec = {
        "issuer": issuer,
        "mode": mode,
        "clientId": client_id,
        "clientSecret": client_secret,
        "scopes": scope,
        "audience": audience,
    }
    _create(BY_KIND["IdentityProvider"], name, spec, file)


CREATORS: dict[str, Callable[..., None]] = {
    "MCPServer": create_server,
    "Client": create_client,
    "Subscription": create_subscription,
    "VirtualServer": create_virtual_server,
    "Environment": create_environment,
    "Policy": create_policy,
    "IdentityProvider": create_identity_provider,
}
