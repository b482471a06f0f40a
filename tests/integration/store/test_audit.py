"""Store audit queries on both backends: append, head, known ids, listings, the chain in order,
and the append-only guard (UPDATE and DELETE refused by the database itself)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from giru.audit import ChainedRecord, Head, link, verify
from giru.errors import ConflictError, ValidationError
from giru.store import AuditQuery, Store
from giru.store.models import AuditRow
from tests.unit.audit.data import AT, record

pytestmark = pytest.mark.integration


def chained(
    count: int, node: str = "node-1", after: Head | None = None, **fields: object
) -> list[ChainedRecord]:
    heads = {} if after is None else {node: after}
    made, _ = link([record(node=node, **fields) for _ in range(count)], heads)
    return made


async def execute(store: Store, statement: str) -> None:
    async with store.database.read() as session:
        await session.execute(text(statement))
        await session.commit()


async def test_appended_records_come_back_with_every_field(store: Store) -> None:
    [item] = chained(1, reasons=["PCI DSS Req 3.4"], details={"alerts": [{"severity": "high"}]})
    assert await store.insert_audit([item]) == 1
    assert await store.insert_audit([]) == 0
    [entry] = [e async for e in store.audit_chain()]
    assert entry.fields() == item
    assert entry.stored_at >= AT


async def test_reasons_and_details_of_any_json_come_back_equal_and_the_chain_verifies(
    store: Store,
) -> None:
    details: dict[str, object] = {
        "input": {"text": 'café ☕ \u0000 "quoted" \\', "n": [0, -1, 2**63 - 1, 1.5, 1e-7]},
        "empty": {},
        "nothing": None,
        "flags": [True, False, None, []],
    }
    items = chained(2, reasons=["naïve", "", "a\nb"], details=details)
    assert await store.insert_audit(items) == 2
    entries = [e async for e in store.audit_chain()]
    assert [e.fields() for e in entries] == items
    assert (await verify(store.audit_chain())).ok


async def test_times_and_ids_read_back_through_the_orm(store: Store) -> None:
    """On SQLite the insert binds plain values below the ORM: they must read back like ORM
    rows, and time ranges must compare them in order."""
    at = datetime(2026, 3, 1, 23, 59, 59, 120, tzinfo=UTC)
    whole = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)  # no microseconds: still one format
    items, _ = link([record(at=at), record(at=whole)], {})
    await store.insert_audit(items)
    async with store.database.read() as session:
        rows = (await session.execute(select(AuditRow).order_by(AuditRow.seq))).scalars().all()
        in_march = await session.scalar(
            select(func.count()).where(AuditRow.at >= whole - timedelta(microseconds=1))
        )
    assert [(row.at, row.seq) for row in rows] == [(at, 1), (whole, 2)]
    assert all(row.created_at.tzinfo is UTC and row.created_at == row.updated_at for row in rows)
    assert all(row.id == row.event_id and row.tenant_id == store.tenant_id for row in rows)
    assert in_march == 1
    assert (await verify(store.audit_chain())).ok


async def test_the_head_is_the_newest_record_of_the_node(store: Store) -> None:
    assert await store.audit_head("node-1") is None
    first = chained(3)
    await store.insert_audit(first)
    await store.insert_audit(chained(2, after=Head(3, first[-1]["hash"])))
    await store.insert_audit(chained(1, node="node-2"))
    head = await store.audit_head("node-1")
    assert head is not None
    assert head[0] == 5
    assert await store.count_audit() == 6
    assert await store.count_audit("node-2") == 1


async def test_known_event_ids_are_found(store: Store) -> None:
    made = chained(3)
    await store.insert_audit(made)
    ids = [made[0]["event_id"], "0193-unknown", made[2]["event_id"]]
    assert await store.audit_known(ids) == {made[0]["event_id"], made[2]["event_id"]}
    assert await store.audit_known([]) == set()


async def test_a_taken_event_id_or_sequence_number_inserts_nothing(store: Store) -> None:
    made = chained(2)
    await store.insert_audit(made[:1])
    with pytest.raises(ConflictError) as again:
        await store.insert_audit(made)  # the first is stored already
    assert again.value.code == "audit_conflict"
    other = chained(1)  # another record claiming seq 1
    with pytest.raises(ConflictError):
        await store.insert_audit(other)
    assert await store.count_audit() == 1


async def test_the_chain_comes_in_node_then_seq_order_in_chunks(store: Store) -> None:
    await store.insert_audit(chained(5, node="b"))
    await store.insert_audit(chained(4, node="a"))
    order = [(e.node, e.seq) async for e in store.audit_chain(chunk=2)]
    assert order == [("a", i) for i in range(1, 5)] + [("b", i) for i in range(1, 6)]
    only_b = [e.seq async for e in store.audit_chain(node="b", chunk=5)]
    assert only_b == [1, 2, 3, 4, 5]


async def test_listings_filter_and_page_newest_first(store: Store) -> None:
    records = [
        record(
            node="a", at=AT + timedelta(seconds=i), outcome="allowed" if i % 2 else "policy_denied"
        )
        for i in range(7)
    ]
    made, _ = link(records, {})
    made += chained(1, node="b", actor="bob", server="other", target="add", action="tools/list")
    await store.insert_audit(made)
    first = await store.list_audit(limit=3)
    assert [e.seq for e in first.items] == [7, 6, 5]
    assert first.next_cursor is not None
    rest = await store.list_audit(cursor=first.next_cursor, limit=10)
    assert [(e.node, e.seq) for e in rest.items] == [
        ("a", 4),
        ("a", 3),
        ("a", 2),
        ("b", 1),  # the same time as ("a", 1): by node, then seq
        ("a", 1),
    ]
    assert rest.next_cursor is None
    oldest = await store.list_audit(order="oldest", limit=2)
    assert [(e.node, e.seq) for e in oldest.items] == [("a", 1), ("b", 1)]
    following = await store.list_audit(order="oldest", limit=2, cursor=oldest.next_cursor)
    assert [(e.node, e.seq) for e in following.items] == [("a", 2), ("a", 3)]
    denied = await store.list_audit(AuditQuery(outcome="policy_denied"))
    assert [e.seq for e in denied.items] == [7, 5, 3, 1]
    window = AuditQuery(node="a", since=AT + timedelta(seconds=2), until=AT + timedelta(seconds=4))
    assert [e.seq for e in (await store.list_audit(window)).items] == [4, 3]
    for query in (
        AuditQuery(actor="bob"),
        AuditQuery(server="other"),
        AuditQuery(target="add"),
        AuditQuery(action="tools/list"),
    ):
        assert [e.node for e in (await store.list_audit(query)).items] == ["b"]
    assert (await store.list_audit(AuditQuery(actor="carol"))).items == []


async def test_listings_filter_by_a_control_in_scope_or_cited_by_a_violation(
    store: Store,
) -> None:
    pci = {"pack": "pci_dss", "control": "PCI DSS Req 3.4"}
    details: list[dict[str, object]] = [
        {"policy": {"controls": ["HIPAA 164.312(b)", "PCI DSS Req 3.4"]}, "violations": [pci]},
        {"policy": {"controls": ["HIPAA 164.312(b)"]}},
        {"violations": [{"pack": "pci_dss", "control": "PCI DSS Req 8.3"}, pci]},
        {"policy": {"controls": []}, "violations": "PCI DSS Req 3.4"},  # not the shape: no match
        {"policy": "PCI DSS Req 3.4", "violations": [1, "PCI DSS Req 3.4", {"control": 5}]},
        {"status": 200},
    ]
    made, _ = link(
        [record(at=AT + timedelta(seconds=i), details=d) for i, d in enumerate(details)], {}
    )
    await store.insert_audit(made)

    async def seqs(control: str, outcome: str | None = None) -> list[int]:
        query = AuditQuery(control=control, outcome=outcome)
        page = await store.list_audit(query, order="oldest")
        return [entry.seq for entry in page.items]

    assert await seqs("PCI DSS Req 3.4") == [1, 3]
    assert await seqs("HIPAA 164.312(b)") == [1, 2]
    assert await seqs("PCI DSS Req 8.3") == [3]
    assert await seqs("PCI DSS Req 3.4", outcome="policy_denied") == []
    assert await seqs("PCI DSS") == []  # a whole control, not a prefix
    assert await seqs("'; DROP TABLE audit_records; --") == []
    assert await store.count_audit() == len(details)


@pytest.mark.parametrize("cursor", ["garbage", "WyJ4IiwieSJd", "WyJ4IiwieSIsInoiXQ"])
async def test_a_cursor_this_listing_did_not_hand_out_is_refused(store: Store, cursor: str) -> None:
    with pytest.raises(ValidationError, match="cursor"):
        await store.list_audit(cursor=cursor)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET outcome = 'allowed'",
        "DELETE FROM audit_records",
        "DELETE FROM audit_records WHERE seq = 1",
    ],
)
async def test_the_database_refuses_to_update_or_delete_audit_records(
    store: Store, statement: str
) -> None:
    await store.insert_audit(chained(2, outcome="policy_denied"))
    with pytest.raises(DBAPIError, match="append-only"):
        await execute(store, statement)
    entries = [e async for e in store.audit_chain()]
    assert [(e.seq, e.outcome) for e in entries] == [(1, "policy_denied"), (2, "policy_denied")]


async def test_postgresql_refuses_truncate_and_public_holds_no_update_or_delete(
    store: Store,
) -> None:
    if store.database.dialect != "postgresql":
        pytest.skip("TRUNCATE and privileges are PostgreSQL's")
    await store.insert_audit(chained(1))
    with pytest.raises(DBAPIError, match="append-only"):
        await execute(store, "TRUNCATE audit_records")
    async with store.database.read() as session:
        granted = await session.scalars(
            text(
                "SELECT privilege_type FROM information_schema.role_table_grants "
                "WHERE table_name = 'audit_records' AND grantee = 'PUBLIC'"
            )
        )
        assert set(granted) == set()
    assert await store.count_audit() == 1
