"""`POST /api/v1/apply`: all or nothing, dry runs, per-document errors, prune."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from giru.cli.manifests import read_local
from giru.errors import ValidationError
from tests.integration.api.conftest import (
    FakeRuntime,
    client_doc,
    errors_of,
    manifest,
    server_doc,
    subscription_doc,
)

pytestmark = pytest.mark.integration

DOCUMENTS = [
    manifest("Subscription", subscription_doc("ana-files", "ana", "files")),
    manifest("MCPServer", server_doc("files")),
    manifest("Client", client_doc("ana")),
]


def actions(response: httpx.Response) -> list[tuple[str, str, str]]:
    return [(r["kind"], r["name"], r["action"]) for r in response.json()["results"]]


async def names(api: httpx.AsyncClient, path: str) -> list[str]:
    items: list[dict[str, Any]] = (await api.get(path)).json()["items"]
    return [item["metadata"]["name"] for item in items]


async def test_apply_creates_everything_in_dependency_order(
    api: httpx.AsyncClient, runtime: FakeRuntime
) -> None:
    response = await api.post("/api/v1/apply", json={"documents": DOCUMENTS})

    assert response.status_code == 200, response.text
    assert sorted(actions(response)) == [
        ("Client", "ana", "created"),
        ("MCPServer", "files", "created"),
        ("Subscription", "ana-files", "created"),
    ]
    [client] = [r for r in response.json()["results"] if r["kind"] == "Client"]
    assert client["apiKey"].startswith("giru_")
    assert all("apiKey" not in r for r in response.json()["results"] if r["kind"] != "Client")
    assert await names(api, "/api/v1/subscriptions") == ["ana-files"]
    assert runtime.notified == 1


async def test_applying_again_reports_unchanged_and_configured(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/apply", json={"documents": DOCUMENTS})
    changed = [
        *DOCUMENTS[:1],
        manifest("MCPServer", server_doc("files", args=["-v"])),
        DOCUMENTS[2],
    ]

    response = await api.post("/api/v1/apply", json={"documents": changed})

    assert sorted(actions(response)) == [
        ("Client", "ana", "unchanged"),
        ("MCPServer", "files", "configured"),
        ("Subscription", "ana-files", "unchanged"),
    ]


async def test_a_dry_run_reports_and_writes_nothing(
    api: httpx.AsyncClient, runtime: FakeRuntime
) -> None:
    response = await api.post(
        "/api/v1/apply", params={"dryRun": "true"}, json={"documents": DOCUMENTS}
    )

    assert response.status_code == 200
    assert {action for _, _, action in actions(response)} == {"created"}
    assert await names(api, "/api/v1/servers") == []
    assert runtime.notified == 0


async def test_one_invalid_document_fails_the_batch_with_its_index(api: httpx.AsyncClient) -> None:
    bad = manifest("MCPServer", server_doc("web", transport="sse", url="ftp://x", command=None))
    documents = [*DOCUMENTS, bad, {**manifest("Client", client_doc("bob")), "colour": "red"}]

    response = await api.post("/api/v1/apply", json={"documents": documents})

    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert {(e["document"], e["field"]) for e in errors} == {(3, "spec.url"), (4, "colour")}
    assert await names(api, "/api/v1/servers") == []
    assert await names(api, "/api/v1/clients") == []


async def test_a_dry_runs_problems_are_the_ones_giru_apply_prints_for_the_manifest(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    """An invalid field and a rule the valid ones break: the API reports both, in the words of
    `giru apply`'s own check of the same file (what the web UI's server form shows)."""
    bad = manifest(
        "MCPServer",
        server_doc("web", transport="sse", url="ftp://x", command=None, timeouts={"call": "soon"}),
    )
    file = tmp_path / "web.yaml"
    file.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValidationError) as raised:
        read_local([file])
    printed = raised.value.data["problems"]

    response = await api.post("/api/v1/apply", params={"dryRun": "true"}, json={"documents": [bad]})

    assert response.status_code == 422, response.text
    reported = [
        f"{file}:1: MCPServer/web: {e['field']}: {e['reason']}" for e in errors_of(response)
    ]
    assert sorted(reported) == sorted(printed)
    assert {e["field"] for e in errors_of(response)} == {"spec.url", "spec.timeouts.call"}


async def test_unknown_kinds_and_api_versions_are_reported_per_document(
    api: httpx.AsyncClient,
) -> None:
    documents = [
        {**manifest("Client", client_doc("ana")), "kind": "Gadget"},
        {**manifest("Client", client_doc("bob")), "apiVersion": "v2"},
    ]

    response = await api.post("/api/v1/apply", json={"documents": documents})

    assert response.status_code == 422
    assert {(e["document"], e["field"]) for e in response.json()["errors"]} == {
        (0, "kind"),
        (1, "apiVersion"),
    }


async def test_a_dangling_reference_fails_the_whole_batch(api: httpx.AsyncClient) -> None:
    documents = [DOCUMENTS[0], DOCUMENTS[2]]  # the subscription's server is missing

    response = await api.post("/api/v1/apply", json={"documents": documents})

    assert response.status_code == 422
    assert await names(api, "/api/v1/clients") == []


async def test_the_same_object_twice_in_a_batch_is_422(api: httpx.AsyncClient) -> None:
    documents = [DOCUMENTS[1], DOCUMENTS[1]]

    response = await api.post("/api/v1/apply", json={"documents": documents})

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"document": 1, "field": "metadata.name", "reason": "MCPServer/files is also document 0"}
    ]


async def test_prune_deletes_api_objects_missing_from_the_batch(api: httpx.AsyncClient) -> None:
    await api.post("/api/v1/apply", json={"documents": DOCUMENTS})
    extra = await api.post("/api/v1/servers", json=server_doc("extra"))
    assert extra.status_code == 201

    response = await api.post("/api/v1/apply", json={"documents": DOCUMENTS, "prune": True})

    assert ("MCPServer", "extra", "deleted") in actions(response)
    assert await names(api, "/api/v1/servers") == ["files"]


async def test_viewers_may_not_apply(clients: dict[str, httpx.AsyncClient]) -> None:
    response = await clients["viewer"].post(
        "/api/v1/apply", params={"dryRun": "true"}, json={"documents": DOCUMENTS}
    )

    assert response.status_code == 403
