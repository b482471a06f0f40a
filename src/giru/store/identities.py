"""The `IdentityProvider` kind: the company IdP Giru signs people in at or trusts directly.

Nothing references an identity provider by name, and it references nothing: the whole canonical
spec is `config`.
"""

from __future__ import annotations

from typing import Any

from giru.manifests.documents import IdentityProviderSpec
from giru.store.database import Tx
from giru.store.kinds import KindAdapter
from giru.store.models import IdentityProviderRow
from giru.store.specs import dump

__all__ = ["IdentityProviderAdapter"]


class IdentityProviderAdapter(KindAdapter[IdentityProviderRow]):
    kind = "IdentityProvider"
    model = IdentityProviderSpec
    row = IdentityProviderRow

    def spec(self, row: IdentityProviderRow) -> dict[str, Any]:
        return dict(row.config)

    async def assign(
        self,
        tx: Tx,
        row: IdentityProviderRow,
        spec: IdentityProviderSpec,
        previous: dict[str, Any] | None,
    ) -> None:
        row.config = dump(spec)
