"""Property-based conformance of the REST API to its own OpenAPI document (schemathesis).

Every operation, every default check: no server errors, documented status codes, content types,
headers and response schemas, invalid data rejected, auth not ignored. The OpenAPI document
declares no links, so there is no stateful run: schemathesis' inferred sequences reuse one store
across hypothesis examples, which made replays diverge (FlakyStrategyDefinition) on a loaded
machine; the create → read → replace → delete flows are covered by tests/integration/api.
The API runs over a real SQLite store, opened in the ASGI lifespan on the event loop
schemathesis drives the app from.
"""

from __future__ import annotations

import tempfile
from typing import Any

import aiohttp
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from starlette.types import ASGIApp, Receive, Scope, Send

from giru.api import build_api
from giru.approvals import ApprovalDesk, LocalApprovals
from giru.credentials import DatabaseBackend, Keyring, SecretStore
from giru.credentials.connections import open_connections
from giru.store import Store
from tests.integration.api.conftest import PEPPER, TOKENS, FakeRuntime

pytestmark = pytest.mark.integration

_CONFIG = {
    "headers": {"Authorization": f"Bearer {TOKENS['admin']}"},
    "generation": {"deterministic": True},
    "checks": {
        # A spec can be valid by the JSON schema yet break a cross-field rule (stdio needs a
        # command) or name objects that do not exist (422), or carry a stale If-Match (412).
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "412", "422"]
        },
        # Invalid data may also be refused for its size (over 1 MiB) before it is validated.
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "403", "404", "409", "413", "415", "422"]
        },
    },
}


class _ApiOverStore:
    """The API over a fresh store in a temp dir that lives exactly as long as the ASGI lifespan.

    schemathesis starts the lifespan on its own event loop (a thread) when the schema loads and
    again for each operation's test, and ends it when that test ends.
    """

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif self.app is not None:
            await self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        with tempfile.TemporaryDirectory(prefix="giru-api-") as directory:
            store = await Store.open(f"sqlite+aiosqlite:///{directory}/giru.db", pepper=PEPPER)
            http = aiohttp.ClientSession()  # never used: no server takes connections here
            try:
                await store.ensure_admin_key("schemathesis", TOKENS["admin"], "admin")
                secrets = SecretStore(
                    store,
                    {"database": DatabaseBackend(Keyring.from_text([bytes(range(32)).hex()]))},
                    default="database",
                    max_bytes=64 * 1024,
                )
                connections = open_connections(
                    secrets, http, base_url="http://testserver", specs=dict
                )
                self.app = build_api(
                    store,
                    runtime=FakeRuntime(store),
                    pepper=PEPPER,
                    secrets_store=secrets,
                    connections=connections,
                    approvals=ApprovalDesk(LocalApprovals(), None, node="schemathesis"),
                )
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
            finally:
                self.app = None
                await http.close()
                await store.aclose()
        await send({"type": "lifespan.shutdown.complete"})


schema = schemathesis.openapi.from_asgi(
    "/api/openapi.json", _ApiOverStore(), config=SchemathesisConfig.from_dict(_CONFIG)
)


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_conforms_to_its_openapi_document(
    case: schemathesis.Case[Any],
) -> None:
    case.call_and_validate()
