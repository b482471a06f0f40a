"""`POST /api/v1/policy/replay`: what a candidate bundle would decide over the recorded calls
(`giru policy replay --bundle DIR --since 7d`), next to what the active bundle decides; the
candidate runs in a temporary OPA, production is not touched (docs/policies/replay.md)."""

# No `from __future__ import annotations`: FastAPI reads these closures' annotations at runtime.

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from giru.api.auth import Principal
from giru.api.context import ApiContext
from giru.api.problems import problems
from giru.api.resources import API
from giru.errors import ValidationError
from giru.policy.replay import MAX_CALLS, Recorded
from giru.store import AuditQuery

__all__ = ["ReplayOut", "ReplayRequest", "router"]

_DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_PAGE = 500


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    files: dict[
        Annotated[str, Field(max_length=256)], Annotated[str, Field(max_length=1_000_000)]
    ] = Field(
        max_length=500,
        description="the candidate: bundle path (`<pack>/<file>.rego`, `<pack>/data.json`) -> "
        "text, laid over the active sources",
    )
    since: str = Field(
        default="7d",
        max_length=40,
        description="the oldest call replayed: a duration back from now (`30m`, `24h`, `7d`) "
        "or an RFC 3339 time",
    )


class _Out(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )


class ControlChanges(_Out):
    pack: str
    control: str
    newly_denied: int
    newly_allowed: int
    newly_held: int = Field(description="calls the control now holds for a person's approval")


class ReplayedCall(_Out):
    event_id: str
    at: str
    actor: str
    server: str | None
    target: str | None
    change: str = Field(description="`newlyDenied`, `newlyAllowed` or `newlyHeld`")
    controls: list[str] = Field(description="`<pack>/<control>` that made the change")


class ReplayOut(_Out):
    calls: int = Field(description="recorded decisions in the window")
    replayed: int
    skipped: int = Field(description=f"beyond the first {MAX_CALLS}, or recorded without input")
    unreproduced: int = Field(
        description="calls the active bundle now decides otherwise than recorded (rules that "
        "read argument values, or a configuration changed since)"
    )
    newly_denied: int
    newly_allowed: int
    newly_held: int
    controls: list[ControlChanges]
    changes: list[ReplayedCall] = Field(description="the first 100 changed calls, oldest first")


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(prefix=f"{API}/policy", tags=["Policies"])
    operator = ctx.auth.require("operator")

    @api.post(
        "/replay",
        response_model=ReplayOut,
        operation_id="replayPolicy",
        summary="What a candidate bundle would change over the recorded calls (newly denied, "
        "newly allowed, newly held, by control), decided by a temporary OPA",
        responses=problems(401, 403, 413, 415, 422, 503),
    )
    async def replay_policy(
        principal: Annotated[Principal, Depends(operator)], body: ReplayRequest
    ) -> dict[str, Any]:
        calls, missing = await _recorded(ctx, _since(body.since))
        report = await ctx.runtime.replay_policy(body.files, calls)
        return {
            **report,
            "calls": report["calls"] + missing,
            "skipped": report["skipped"] + missing,
        }

    return api


def _since(text: str) -> datetime:
    matched = _DURATION.fullmatch(text)
    if matched is not None:
        return datetime.now(UTC) - timedelta(**{_UNITS[matched[2]]: int(matched[1])})
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"since {text!r}: a duration (7d, 24h, 30m) or a time") from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def _recorded(ctx: ApiContext, since: datetime) -> tuple[list[Recorded], int]:
    """The decisions recorded since `since` with their input, oldest first (and how many
    lacked one: recorded before inputs were kept, or refused before a decision)."""
    found: list[Recorded] = []
    missing, cursor = 0, None
    while len(found) <= MAX_CALLS:
        page = await ctx.store.list_audit(
            AuditQuery(since=since), cursor=cursor, limit=_PAGE, order="oldest"
        )
        for entry in page.items:
            recorded = entry.details.get("input")
            if not isinstance(recorded, dict):
                missing += entry.policy_revision is not None
                continue
            found.append(
                Recorded(
                    entry.event_id,
                    entry.at.isoformat(),
                    entry.actor,
                    entry.server,
                    entry.target,
                    entry.outcome,
                    recorded,
                )
            )
        cursor = page.next_cursor
        if cursor is None:
            break
    return found, missing
