"""What a catalog serves of look-alike names (M6): only the first, after tool trust decided."""

from __future__ import annotations

from giru.catalog.snapshot import HeldTool, ServerCatalog, without_lookalikes


def _catalog(*names: str, held: dict[str, HeldTool] | None = None) -> ServerCatalog:
    tools = tuple({"name": n, "inputSchema": {"type": "object"}} for n in names)
    return ServerCatalog(server="files", tools=tools, held=held or {})


def test_of_two_served_look_alikes_only_the_first_is_kept() -> None:
    served = without_lookalikes(_catalog("delete_flie", "read_file", "delete_file"))
    assert [t["name"] for t in served.tools] == ["delete_flie", "read_file"]


def test_a_look_alike_held_by_tool_trust_leaves_the_approved_tool_served() -> None:
    held = {"delete_flie": HeldTool("added", "pending")}
    catalog = _catalog("read_file", "delete_file", held=held)  # what tool trust serves
    assert without_lookalikes(catalog) is catalog


def test_a_catalog_without_look_alikes_is_returned_unchanged() -> None:
    catalog = _catalog("read_file", "write_file")
    assert without_lookalikes(catalog) is catalog
