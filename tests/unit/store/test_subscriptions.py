"""The Environment kind as stored: fields removed from the kind are not read back."""

from __future__ import annotations

from giru.manifests.documents import EnvironmentSpec
from giru.store.models import EnvironmentRow
from giru.store.subscriptions import EnvironmentAdapter


def test_an_environment_stored_with_removed_fields_reads_back_valid() -> None:
    # what a store seeded before the removal holds for the built-in `prod` and `dev`
    row = EnvironmentRow(
        config={
            "displayName": "Production",
            "allowAutoApproval": False,
            "allowAutoRenewal": True,
            "requireMfa": True,
            "maxRateLimitRps": None,
        }
    )
    spec = EnvironmentAdapter().spec(row)
    assert spec == {"displayName": "Production", "allowAutoApproval": False}
    assert EnvironmentSpec.model_validate(spec).display_name == "Production"
