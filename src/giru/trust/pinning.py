"""`Pinning`: the data path's side of tool trust. Each freshly fetched catalog is admitted:
its surface is recorded (pins on first use, review entries for changes, audited) and only the
approved tools are served; an approval elsewhere is applied by `reload`, without a fetch.

Each worker keeps the recorded state in memory (bounded by `MAX_TOOLS` per server) and the
last catalog each server listed, so a decision taken on any worker takes effect on all of them
when the config revision it bumps arrives.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import structlog

from giru.audit.records import AuditRecord
from giru.catalog.snapshot import HeldTool, ServerCatalog
from giru.errors import StoreUnavailableError
from giru.store.database import Database
from giru.store.kinds import find_row
from giru.store.models import MCPServerRow
from giru.trust import pins
from giru.trust.plans import Finding, Known, Mode, Offer, Plan, Review, plan, screen
from giru.trust.surface import surface_hash
from giru.trust.trail import TrustTrail

__all__ = ["FIRST_USE", "Checks", "Pinning", "no_findings", "offers_of"]

_log = structlog.get_logger(__name__)
FIRST_USE: Final = "trust-on-first-use"
"""The actor of pins made on a server's first surface under `trust: pin`."""
_AUTO: Final = "auto"


class Checks(Protocol):
    """Poisoning checks (`giru.trust.findings.Scanner.scan`): findings for one server's tools
    not yet approved; `known_tools` names other servers' tools (`server__tool`), and
    `approved_tools` the server's own approved ones, for look-alikes and references."""

    def __call__(
        self,
        server: str,
        tools: Sequence[Mapping[str, Any]],
        *,
        known_tools: Iterable[str] = (),
        approved_tools: Iterable[str] = (),
    ) -> Sequence[Finding]: ...


def no_findings(
    server: str,
    tools: Sequence[Mapping[str, Any]],
    *,
    known_tools: Iterable[str] = (),
    approved_tools: Iterable[str] = (),
) -> Sequence[Finding]:
    """The checks when none are configured."""
    return ()


def offers_of(tools: Sequence[Mapping[str, Any]]) -> tuple[Offer, ...]:
    """Each listed tool with its surface hash (CPU work: call in a thread for big lists)."""
    found: list[Offer] = []
    for tool in tools:
        digest, size = surface_hash(tool)
        found.append(Offer(str(tool["name"]), digest, size, tool))
    return tuple(found)


class Pinning:
    """Admits catalogs against the recorded trust state of `database`'s tenant."""

    def __init__(
        self,
        database: Database,
        tenant_id: str,
        *,
        mode_of: Callable[[str], Mode],
        trail: TrustTrail | None = None,
        scan: Checks = no_findings,
    ) -> None:
        self._database = database
        self._tenant = tenant_id
        self._mode_of = mode_of
        self._trail = trail if trail is not None else TrustTrail(None)
        self.scan = scan
        self._known: dict[str, Known] = {}
        self._listed: dict[str, tuple[ServerCatalog, tuple[Offer, ...]]] = {}
        self._lock = asyncio.Lock()

    async def reload(self) -> dict[str, ServerCatalog]:
        """Reread the recorded state; the catalogs to serve now for every server seen."""
        async with self._lock:
            async with self._database.read() as session:
                self._known = await pins.load(session, self._tenant)
            return {server: self._rescreen(server) for server in self._listed}

    def forget(self, server: str) -> None:
        """A server that left the config: its last listing is dropped."""
        self._listed.pop(server, None)

    async def admit(self, catalog: ServerCatalog) -> ServerCatalog:
        """Record what `catalog` offers and return it with only the approved tools."""
        server = catalog.server
        offers = await asyncio.to_thread(offers_of, catalog.tools)
        mode = self._mode_of(server)
        self._listed[server] = (catalog, offers)
        async with self._lock:
            try:
                decided = await self._record(server, mode, offers)
            except StoreUnavailableError as exc:
                _log.warning("tool_trust_not_recorded", server=server, error=exc.message)
                decided = screen(mode, self._known.get(server, Known()), offers)
        if decided.overflow:
            _log.warning("tool_trust_overflow", server=server, unrecorded=decided.overflow)
        return _screened(catalog, decided)

    async def _record(self, server: str, mode: Mode, offers: Sequence[Offer]) -> Plan:
        remembered = self._known.get(server, Known())
        unpinned = _unpinned(mode, remembered, offers)
        findings = await self._findings(server, unpinned, {}, remembered.pins)
        async with self._database.write(self._tenant, actor="system") as tx:
            row = await find_row(tx.session, self._tenant, MCPServerRow, server)
            if row is None:  # not in the store (yet): serve what is approved, record nothing
                return screen(mode, remembered, offers)
            known = (await pins.load(tx.session, self._tenant, server_id=row.id)).get(
                server, Known()
            )
            missing = [o for o in _unpinned(mode, known, offers) if o.name not in findings]
            findings = await self._findings(server, missing, findings, known.pins)
            decided = plan(mode, known, offers, findings)
            await pins.record(tx, row, decided, _AUTO if mode == _AUTO else FIRST_USE)
        self._known[server] = _after(known, decided)
        await self._audited(server, mode, decided)
        return decided

    async def _findings(
        self,
        server: str,
        offers: Sequence[Offer],
        found: dict[str, list[Finding]],
        approved: Iterable[str],
    ) -> dict[str, list[Finding]]:
        """`found` with the findings of `offers`, checked against other servers' tools and
        `approved` (the names of this server's approved tools: a look-alike of one is held)."""
        if not offers or self.scan is no_findings:
            return found
        definitions = [o.definition for o in offers]
        known = [
            f"{other}__{t['name']}"
            for other, (catalog, _) in self._listed.items()
            if other != server
            for t in catalog.tools
        ]
        try:
            results = await asyncio.to_thread(
                self.scan, server, definitions, known_tools=known, approved_tools=list(approved)
            )
        except Exception:  # noqa: BLE001 - a failing check must not stop the refresh
            _log.exception("tool_trust_scan_failed", server=server)
            return found
        for finding in results:
            found.setdefault(finding.tool, []).append(finding)
        return found

    def _rescreen(self, server: str) -> ServerCatalog:
        catalog, offers = self._listed[server]
        known = self._known.get(server, Known())
        return _screened(catalog, screen(self._mode_of(server), known, offers))

    async def _audited(self, server: str, mode: Mode, decided: Plan) -> None:
        """Audit records of the transitions `decided` made (auto's pins are not audited)."""
        trail = self._trail
        records: list[AuditRecord] = []
        if decided.pins and mode == "pin":
            details = {"tools": len(decided.pins), "mode": mode}
            records.append(
                trail.entry(
                    "pinned",
                    server=server,
                    tool=None,
                    outcome="allowed",
                    actor=FIRST_USE,
                    details=details,
                )
            )
        for detection in decided.detections:
            if not detection.new:
                continue
            offer = detection.offer
            details = {
                "change": detection.change,
                "definitionHash": offer.hash if offer is not None else None,
                "findings": [pins.finding_body(f) for f in detection.findings][:20],
                "mode": mode,
            }
            records.append(
                trail.entry(
                    "detected",
                    server=server,
                    tool=detection.tool,
                    outcome="held",
                    details=details,
                )
            )
        await trail.write_or_log(records)


def _unpinned(mode: Mode, known: Known, offers: Sequence[Offer]) -> list[Offer]:
    """Offers whose definition is not the approved one: the ones worth checking."""
    if mode == "auto":
        return []
    return [o for o in offers if known.pins.get(o.name) != o.hash]


def _after(known: Known, decided: Plan) -> Known:
    """`known` with `decided`'s writes applied."""
    pinned = {**known.pins, **{o.name: o.hash for o in decided.pins}}
    reviews = dict(known.reviews)
    for detection in decided.detections:
        digest = detection.offer.hash if detection.offer is not None else ""
        reviews[detection.tool] = Review("pending", detection.change, digest)
    return Known(known.baseline or decided.baseline, pinned, reviews)


def _screened(catalog: ServerCatalog, decided: Plan) -> ServerCatalog:
    tools = tuple(t for t in catalog.tools if t["name"] in decided.served)
    if len(tools) == len(catalog.tools) and not catalog.held:
        return catalog
    held = {name: HeldTool(hold.change, hold.state) for name, hold in decided.held.items()}
    return dataclasses.replace(catalog, tools=tools, held=held)
