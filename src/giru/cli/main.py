"""The `giru` command line: the gateway itself, and a kubectl-like client of its REST API."""

from __future__ import annotations

import typer

from giru.cli import (
    actions,
    approvals,
    audit,
    connections,
    gateway,
    login,
    policy,
    resources,
    scan,
    secrets,
    trust,
    usage,
    users,
)
from giru.cli.apply import apply, diff
from giru.cli.create import CREATORS
from giru.cli.gateway import EXIT_CONFIG
from giru.cli.kinds import BY_KIND

__all__ = ["EXIT_CONFIG", "app"]

# Plain help (rich_markup_mode=None): rich's help formatter takes longer to import than all the
# rest of `giru --help`, which should start at once (bench/startup.py measures it).
app = typer.Typer(
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    help="Giru, the MCP gateway.",
)

app.command()(gateway.run)
app.command()(gateway.migrate)
app.command()(gateway.version)
app.command()(gateway.validate)
app.command()(login.login)
app.command()(login.whoami)
app.command()(resources.get)
app.command()(apply)
app.command()(diff)
app.add_typer(trust.app, name="tools")
trust.app.command()(scan.scan)  # offline, its own module: no API client
app.command()(usage.usage)
app.command()(connections.connect)
app.command()(connections.connections)
app.add_typer(audit.app, name="audit")
app.add_typer(secrets.app, name="secrets")
app.add_typer(users.app, name="users")
app.add_typer(approvals.app, name="approvals")

_GROUPS = {
    "server": ("MCPServer", "MCP servers"),
    "client": ("Client", "Clients and their API keys"),
    "subscription": ("Subscription", "Subscriptions of clients to servers"),
    "vs": ("VirtualServer", "Virtual servers (named tool bundles)"),
    "env": ("Environment", "Environments (dev, staging, prod, ...)"),
    "policy": ("Policy", "Policies (OPA policy packs and where they apply)"),
    "idp": ("IdentityProvider", "Identity providers (the company IdP people sign in at)"),
}
_groups: dict[str, typer.Typer] = {}
for _command, (_kind, _title) in _GROUPS.items():
    _group = resources.kind_app(BY_KIND[_kind], _title)
    _group.command("create")(CREATORS[_kind])
    app.add_typer(_group, name=_command)
    _groups[_command] = _group

_groups["server"].command("sync")(actions.sync_server)
_groups["client"].command("keys")(actions.client_keys)
_groups["client"].command("rotate")(actions.rotate_key)
_groups["client"].command("revoke")(actions.revoke_key)
_groups["subscription"].command("approve")(actions.approve)
_groups["subscription"].command("reject")(actions.reject)
_groups["subscription"].command("suspend")(actions.suspend)
_groups["subscription"].command("resume")(actions.resume)
policy.add_commands(_groups["policy"])
