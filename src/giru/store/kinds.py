"""How each manifest kind maps to its table: the base of the per-kind adapters, and lookups.

An adapter turns a validated spec into column values and back, checks the spec's references
to other objects, and names the objects that reference a row (so it cannot be deleted).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.base import ExecutableOption

from giru.errors import ValidationError
from giru.manifests.config import split_tool_ref
from giru.store.database import Tx
from giru.store.models import MCPServerRow, ResourceRow
from giru.store.records import Kind
from giru.store.specs import Problem

__all__ = ["KindAdapter", "existing_names", "find_row", "like_prefix", "server_refs", "uses_server"]

R = TypeVar("R", bound=ResourceRow)


class KindAdapter(ABC, Generic[R]):
    """The mapping of one kind: subclasses implement `spec` and `assign`, and override the
    other hooks their kind needs."""

    kind: ClassVar[Kind]
    model: ClassVar[type[BaseModel]]
    row: type[R]
    filter_columns: ClassVar[Mapping[str, InstrumentedAttribute[Any]]] = {}
    extra_filters: ClassVar[tuple[str, ...]] = ()

    def options(self) -> Sequence[ExecutableOption]:
        """Eager loads the rows of this kind need to rebuild their spec."""
        return ()

    @abstractmethod
    def spec(self, row: R) -> dict[str, Any]:
        """The canonical spec a row holds."""

    async def statuses(self, session: AsyncSession, rows: Sequence[R]) -> dict[str, dict[str, Any]]:
        """The read-only status of each row, by row id (absent: `{}`)."""
        return {}

    async def check(self, tx: Tx, name: str, spec: Any) -> list[Problem]:
        """Problems with the references `spec` makes (to objects that do not exist)."""
        return []

    async def prepare(self, tx: Tx, spec: Any, current: R | None) -> Any:
        """The spec to store: state the store decides (a subscription's status) filled in."""
        return spec

    @abstractmethod
    async def assign(self, tx: Tx, row: R, spec: Any, previous: dict[str, Any] | None) -> None:
        """Set the row's columns from `spec` (`previous`: the spec it held, None when new)."""

    async def created(self, tx: Tx, row: R, spec: Any) -> str | None:
        """Work after a row is first written; returns a generated API key, if any."""
        return None

    async def users(self, session: AsyncSession, row: R) -> list[str]:
        """`Kind/name` of every object that references `row`."""
        return []

    def where(self, filters: Mapping[str, str]) -> list[ColumnElement[bool]]:
        """Conditions for a listing's filters; `ValidationError` for one this kind lacks."""
        conditions: list[ColumnElement[bool]] = []
        for key, value in filters.items():
            if key == "name":
                conditions.append(like_prefix(self.row.name, value))
            elif key in self.filter_columns:
                conditions.append(self.filter_columns[key] == value)
            else:
                conditions.append(self.filter(key, value))
        return conditions

    def filter(self, key: str, value: str) -> ColumnElement[bool]:
        """A kind-specific filter that is not a plain column match."""
        known = ", ".join(["name", *self.filter_columns, *self.extra_filters])
        reason = f"unknown filter for {self.kind}; expected one of {known}"
        field = f"filters.{key}"
        raise ValidationError(
            f"{field}: {reason}", data={"errors": [{"field": field, "reason": reason}]}
        )


def like_prefix(column: InstrumentedAttribute[str], prefix: str) -> ColumnElement[bool]:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"{escaped}%", escape="\\")


async def find_row(
    session: AsyncSession,
    tenant_id: str,
    row: type[R],
    name: str,
    options: Sequence[ExecutableOption] = (),
) -> R | None:
    query = select(row).where(row.tenant_id == tenant_id, row.name == name).options(*options)
    return (await session.scalars(query)).one_or_none()


async def existing_names(
    session: AsyncSession, tenant_id: str, row: type[ResourceRow], names: Iterable[str]
) -> set[str]:
    """Which of `names` exist as rows of `row`."""
    wanted = set(names)
    if not wanted:
        return set()
    query = select(row.name).where(row.tenant_id == tenant_id, row.name.in_(wanted))
    return set((await session.scalars(query)).all())


async def server_refs(
    tx: Tx, servers: Sequence[str], tools: Sequence[str], *, wildcard: bool
) -> list[Problem]:
    """Problems with `servers` (names) and `tools` (`server__tool`) references to MCP servers."""
    wanted = [s for s in servers if not (wildcard and s == "*")]
    split = [split_tool_ref(ref) for ref in tools]
    wanted += [parts[0] for parts in split if parts is not None]
    known = await existing_names(tx.session, tx.tenant_id, MCPServerRow, wanted)
    problems: list[Problem] = [
        (f"spec.servers[{i}]", f"no MCPServer named {name!r}")
        for i, name in enumerate(servers)
        if not (wildcard and name == "*") and name not in known
    ]
    for i, (ref, parts) in enumerate(zip(tools, split, strict=True)):
        if parts is None:
            problems.append((f"spec.tools[{i}]", f"{ref!r} is not a server__tool reference"))
        elif parts[0] not in known:
            problems.append((f"spec.tools[{i}]", f"no MCPServer named {parts[0]!r} (in {ref!r})"))
    return problems


def uses_server(config: Mapping[str, Any], server: str) -> bool:
    """Whether a spec with `servers` and `tools` lists (client, virtual server) names `server`."""
    if server in config.get("servers", ()):
        return True
    return any(
        (parts := split_tool_ref(ref)) is not None and parts[0] == server
        for ref in config.get("tools", ())
    )
