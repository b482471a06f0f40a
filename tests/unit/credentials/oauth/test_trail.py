from __future__ import annotations

import pytest

from giru.audit import AuditRecord
from giru.credentials.oauth import TokenEndpointError, TokenSet, TokenTrail


class Sink:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def record(self, record: AuditRecord) -> None:
        self.records.append(record)


async def test_a_token_request_is_audited_without_its_value() -> None:
    sink = Sink()

    async def fetch() -> TokenSet:
        return TokenSet("tok-value", 0.0, 1.0, "refresh-value")

    trail = TokenTrail(sink, node="n1")
    await trail.audited(fetch, actor="giru", server="gh", operation="fetch", grant="cc")
    (record,) = sink.records
    assert (record["action"], record["server"], record["outcome"]) == (
        "credentials/token",
        "gh",
        "allowed",
    )
    assert record["details"] == {"operation": "fetch", "grant": "cc"}
    assert "value" not in repr(record)


async def test_a_refused_token_request_is_audited_with_its_oauth_error() -> None:
    sink = Sink()

    async def fetch() -> TokenSet:
        raise TokenEndpointError("refused: invalid_grant", error="invalid_grant", status=400)

    with pytest.raises(TokenEndpointError):
        await TokenTrail(sink).audited(
            fetch, actor="alice", server="gh", operation="refresh", grant="refresh_token"
        )
    (record,) = sink.records
    assert record["outcome"] == "error"
    assert record["details"]["error"] == "invalid_grant"
    assert record["actor"] == "alice"
