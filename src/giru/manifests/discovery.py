"""`VirtualServer.spec.discovery`: how a virtual server's tools reach a client's `tools/list`.

`list` (the default) lists every tool. `search` lists a few (`alwaysList`) and Giru's own
`search_tools`, which finds the others by what they do (progressive disclosure for large
catalogs). `discovery: search` is the short form of `discovery: {mode: search}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from giru.manifests.fields import Problem, SpecModel, ToolName

__all__ = [
    "SEARCH_LIMIT_MAX",
    "SHORT_FORMS",
    "Discovery",
    "DiscoverySpec",
    "SearchConfig",
    "search_config",
    "short_form",
]

SEARCH_LIMIT_MAX = 50
_ALWAYS_LIST_MAX = 100


class DiscoverySpec(SpecModel):
    mode: Literal["list", "search"] = "list"
    always_list: list[ToolName] = Field(default_factory=list, max_length=_ALWAYS_LIST_MAX)
    """Tools listed besides `search_tools`, by the names this virtual server lists them under."""
    limit: int = Field(default=8, ge=1, le=SEARCH_LIMIT_MAX)
    """How many tools one search answers with when the caller gives no `limit`."""

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.mode == "list" and self.always_list:
            found.append(("spec.discovery.alwaysList", "only with mode: search"))
        if len(set(self.always_list)) != len(self.always_list):
            found.append(("spec.discovery.alwaysList", "names a tool twice"))
        return found


SHORT_FORMS = ("list", "search")


def short_form(value: Any) -> Any:
    """`discovery: search` is `discovery: {mode: search}` (stored in the long form)."""
    return {"mode": value} if isinstance(value, str) else value


Discovery = Annotated[DiscoverySpec, BeforeValidator(short_form)]


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """A virtual server in `search` mode, compiled."""

    always_list: frozenset[str] = frozenset()
    limit: int = 8


def search_config(spec: DiscoverySpec) -> SearchConfig | None:
    """None when every tool is listed."""
    if spec.mode != "search":
        return None
    return SearchConfig(always_list=frozenset(spec.always_list), limit=spec.limit)
