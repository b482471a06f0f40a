"""Table definitions: UTC timestamps on every backend, named constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import sqlite

from giru.store.models import Base, UTCDateTime

SQLITE = sqlite.dialect()


def test_aware_datetimes_are_stored_in_utc() -> None:
    local = datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=5)))
    stored = UTCDateTime().process_bind_param(local, SQLITE)
    assert stored == local
    assert stored is not None
    assert stored.tzinfo == UTC
    assert stored.hour == 7


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2030, 1, 1), SQLITE)


@pytest.mark.parametrize(
    "loaded",
    [datetime(2030, 1, 1, 7), datetime(2030, 1, 1, 8, tzinfo=timezone(timedelta(hours=1)))],
)
def test_loaded_datetimes_are_aware_utc(loaded: datetime) -> None:
    result = UTCDateTime().process_result_value(loaded, SQLITE)
    assert result == datetime(2030, 1, 1, 7, tzinfo=UTC)
    assert result is not None
    assert result.tzinfo == UTC


def test_none_passes_through() -> None:
    assert UTCDateTime().process_bind_param(None, SQLITE) is None
    assert UTCDateTime().process_result_value(None, SQLITE) is None


def test_every_table_has_the_shared_columns_and_named_constraints() -> None:
    for name, table in Base.metadata.tables.items():
        assert {"id", "created_at", "updated_at"} <= set(table.columns.keys()), name
        if name != "tenants":
            assert "tenant_id" in table.columns, name
        for constraint in table.constraints:
            assert constraint.name, f"{name}: unnamed {constraint!r}"
        assert table.primary_key.name == f"pk_{name}"
