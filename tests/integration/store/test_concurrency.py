"""Two stores on one database (as two processes would be): writes stay consistent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from giru.errors import ConflictError, PreconditionFailedError, ValidationError
from giru.store import Store
from tests.integration.store.data import ACTOR, PEPPER, http_server, subscription

pytestmark = pytest.mark.integration


@pytest.fixture
async def other(store: Store, database_url: str) -> AsyncIterator[Store]:
    """A second store on the same database, with its own engine and connections."""
    opened = await Store.open(database_url, pepper=PEPPER)
    try:
        yield opened
    finally:
        await opened.aclose()


async def test_concurrent_creates_of_one_name_make_one_object(store: Store, other: Store) -> None:
    revision = await store.revision()
    outcomes = await asyncio.gather(
        *(
            writer.create("MCPServer", "github", http_server(tags=[f"t{i}"]), actor=ACTOR)
            for i, writer in enumerate([store, other] * 4)
        ),
        return_exceptions=True,
    )
    created = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(created) == 1
    assert all(isinstance(o, ConflictError) and o.code == "already_exists" for o in refused)
    assert await other.revision() == revision + 1


async def test_concurrent_replaces_at_one_version_make_one_change(
    store: Store, other: Store
) -> None:
    await store.create("MCPServer", "github", http_server(), actor=ACTOR)
    outcomes = await asyncio.gather(
        *(
            writer.replace(
                "MCPServer", "github", http_server(tags=[f"t{i}"]), actor=ACTOR, expected_version=1
            )
            for i, writer in enumerate([store, other] * 4)
        ),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(o, PreconditionFailedError) for o in outcomes if o not in winners)
    assert (await other.get("MCPServer", "github")).spec == winners[0].spec


async def test_a_reference_and_a_delete_racing_never_leave_a_dangling_reference(
    store: Store, other: Store
) -> None:
    for round_ in range(4):
        await store.create("MCPServer", "github", http_server(), actor=ACTOR)
        deleted, referenced = await asyncio.gather(
            store.delete("MCPServer", "github", actor=ACTOR),
            other.create("VirtualServer", f"vs{round_}", {"servers": ["github"]}, actor=ACTOR),
            return_exceptions=True,
        )
        if deleted is None:
            assert isinstance(referenced, ValidationError)
        else:
            assert isinstance(deleted, ConflictError)
            assert deleted.code == "in_use"
            assert referenced is not None
            assert not isinstance(referenced, BaseException)
            await store.delete("VirtualServer", f"vs{round_}", actor=ACTOR)
            await store.delete("MCPServer", "github", actor=ACTOR)
        assert [r.name for r in (await other.list("VirtualServer")).items] == []
    with pytest.raises(ValidationError):
        await other.create("Subscription", "sub", subscription(), actor=ACTOR)
