"""A client's compiled view: what tools/list visibility reads of it is made once per view."""

from __future__ import annotations

from typing import Any

from giru.access.clients import ClientPrincipal
from giru.access.grants import Grants
from giru.catalog.snapshot import ServerCatalog
from giru.proxy.endpoints import Endpoint, ViewCache


def tools(*names: str) -> tuple[dict[str, Any], ...]:
    return tuple({"name": name, "inputSchema": {"type": "object"}} for name in names)


CATALOGS = {
    "files": ServerCatalog("files", tools=tools("read", "write")),
    "crm": ServerCatalog("crm", tools=tools("lookup")),
}


def test_a_view_holds_the_subscription_granting_each_listed_tool() -> None:
    grants = Grants(servers={"crm": "crm-monthly"}, tools={("files", "write"): "writers"})
    principal = ClientPrincipal("c", servers=frozenset({"files", "crm"}), subscriptions=grants)
    view = ViewCache().get(Endpoint("", ("files", "crm")), principal, CATALOGS)
    assert [name for name, _, _ in view.tool_route_list] == [
        "files__read",
        "files__write",
        "crm__lookup",
    ]
    assert view.tool_subscriptions == {"files__write": "writers", "crm__lookup": "crm-monthly"}


def test_a_client_without_subscriptions_has_none_in_its_view() -> None:
    principal = ClientPrincipal("c", all_servers=True)
    view = ViewCache().get(Endpoint("", ("files", "crm")), principal, CATALOGS)
    assert len(view.tool_route_list) == 3
    assert view.tool_subscriptions == {}
