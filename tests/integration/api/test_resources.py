"""CRUD of the manifest kinds over the REST API: shapes, pages, filters, versions, conflicts."""

from __future__ import annotations

import httpx
import pytest

from giru.store import Store
from tests.integration.api.conftest import (
    FakeRuntime,
    client_doc,
    create_all,
    errors_of,
    fields_of,
    server_doc,
    subscription_doc,
)

pytestmark = pytest.mark.integration

WEB = {"metadata": {"name": "web"}, "spec": {"transport": "sse", "url": "http://127.0.0.1:9/sse"}}


async def test_create_returns_201_with_location_etag_and_canonical_spec(
    api: httpx.AsyncClient, runtime: FakeRuntime
) -> None:
    response = await api.post("/api/v1/servers", json=server_doc("files"))

    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/api/v1/servers/files"
    assert response.headers["etag"] == '"1"'
    body = response.json()
    assert body["apiVersion"] == "giru.ai/v1alpha1"
    assert body["kind"] == "MCPServer"
    assert body["metadata"]["name"] == "files"
    assert body["metadata"]["resourceVersion"] == "1"
    assert body["metadata"]["managedBy"] == "api"
    assert body["spec"]["timeouts"] == {"connect": 10.0, "call": 60.0, "callMax": 600.0}
    assert runtime.notified == 1


async def test_get_returns_the_object_and_its_etag(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])

    response = await api.get("/api/v1/servers/files")

    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    assert response.json()["spec"]["command"] == "echo"


async def test_lists_page_through_every_object_in_name_order(api: httpx.AsyncClient) -> None:
    names = [f"server-{i}" for i in range(7)]
    await create_all(api, "/api/v1/servers", [server_doc(n) for n in reversed(names)])

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/v1/servers", params=params)).json()
        assert len(page["items"]) <= 3
        seen += [item["metadata"]["name"] for item in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == names


async def test_lists_filter_by_name_prefix_and_kind_fields(api: httpx.AsyncClient) -> None:
    await create_all(
        api,
        "/api/v1/servers",
        [server_doc("alpha"), server_doc("beta"), WEB],
    )

    by_prefix = await api.get("/api/v1/servers", params={"name": "al"})
    stdio = await api.get("/api/v1/servers", params={"transport": "stdio"})

    assert [i["metadata"]["name"] for i in by_prefix.json()["items"]] == ["alpha"]
    assert [i["metadata"]["name"] for i in stdio.json()["items"]] == ["alpha", "beta"]


async def test_subscriptions_filter_by_client_and_status(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])
    await create_all(api, "/api/v1/clients", [client_doc("ana"), client_doc("bob")])
    await create_all(
        api,
        "/api/v1/subscriptions",
        [
            subscription_doc("ana-files", "ana", "files"),
            subscription_doc("bob-files", "bob", "files", requiresApproval=True),
        ],
    )

    by_client = await api.get("/api/v1/subscriptions", params={"client": "bob"})
    pending = await api.get("/api/v1/subscriptions", params={"status": "pending"})

    assert [i["metadata"]["name"] for i in by_client.json()["items"]] == ["bob-files"]
    assert [i["metadata"]["name"] for i in pending.json()["items"]] == ["bob-files"]


async def test_put_replaces_the_spec_and_bumps_the_version(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])

    response = await api.put("/api/v1/servers/files", json=server_doc("files", args=["-n"]))

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    assert response.json()["spec"]["args"] == ["-n"]


async def test_put_of_an_unchanged_spec_keeps_the_version(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])

    response = await api.put("/api/v1/servers/files", json=server_doc("files"))

    assert response.headers["etag"] == '"1"'


async def test_stale_if_match_is_refused_with_412(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])
    await api.put("/api/v1/servers/files", json=server_doc("files", args=["-n"]))

    put = await api.put(
        "/api/v1/servers/files", json=server_doc("files"), headers={"If-Match": '"1"'}
    )
    delete = await api.delete("/api/v1/servers/files", headers={"If-Match": '"1"'})
    garbage = await api.delete("/api/v1/servers/files", headers={"If-Match": "soon"})

    assert [put.status_code, delete.status_code, garbage.status_code] == [412, 412, 412]
    assert put.json()["code"] == "precondition_failed"
    assert (await api.get("/api/v1/servers/files")).json()["spec"]["args"] == ["-n"]


async def test_current_if_match_is_accepted(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])

    put = await api.put(
        "/api/v1/servers/files", json=server_doc("files", args=["x"]), headers={"If-Match": '"1"'}
    )
    delete = await api.delete("/api/v1/servers/files", headers={"If-Match": 'W/"2"'})

    assert [put.status_code, delete.status_code] == [200, 204]


async def test_put_with_another_name_in_the_body_is_refused(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])

    response = await api.put("/api/v1/servers/files", json=server_doc("other"))

    assert response.status_code == 422
    assert fields_of(response) == {"metadata.name"}


async def test_put_and_get_of_a_missing_object_are_404(api: httpx.AsyncClient) -> None:
    put = await api.put("/api/v1/servers/nope", json=server_doc("nope"))
    get = await api.get("/api/v1/servers/nope")

    assert [put.status_code, get.status_code] == [404, 404]
    assert get.json()["code"] == "not_found"
    assert get.headers["content-type"] == "application/problem+json"


async def test_duplicate_names_are_409_already_exists(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])

    response = await api.post("/api/v1/servers", json=server_doc("files"))

    assert response.status_code == 409
    assert response.json()["code"] == "already_exists"


async def test_delete_returns_204_and_the_object_is_gone(
    api: httpx.AsyncClient, runtime: FakeRuntime
) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])

    response = await api.delete("/api/v1/servers/files")

    assert response.status_code == 204
    assert (await api.get("/api/v1/servers/files")).status_code == 404
    assert runtime.notified == 2


async def test_deleting_a_referenced_server_is_409_in_use(api: httpx.AsyncClient) -> None:
    await create_all(api, "/api/v1/servers", [server_doc("files")])
    await create_all(api, "/api/v1/clients", [client_doc("ana")])
    await create_all(api, "/api/v1/subscriptions", [subscription_doc("s", "ana", "files")])

    response = await api.delete("/api/v1/servers/files")

    assert response.status_code == 409
    assert response.json()["code"] == "in_use"


async def test_objects_managed_by_a_file_are_read_only(
    api: httpx.AsyncClient, store: Store
) -> None:
    spec = {"transport": "stdio", "command": "echo"}
    await store.apply([("MCPServer", "files", spec)], actor="file", managed_by="file:/etc/x.yaml")

    put = await api.put("/api/v1/servers/files", json=server_doc("files", args=["-n"]))
    delete = await api.delete("/api/v1/servers/files")

    assert [put.status_code, delete.status_code] == [409, 409]
    assert {put.json()["code"], delete.json()["code"]} == {"managed_by_file"}
    assert (await api.get("/api/v1/servers/files")).json()["metadata"]["managedBy"] == (
        "file:/etc/x.yaml"
    )


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (server_doc("files", colour="red"), "spec.colour"),
        ({**server_doc("files"), "extra": 1}, "extra"),
        (server_doc("files", args="not-a-list"), "spec.args"),
        (server_doc("files", timeouts={"call": "soon"}), "spec.timeouts.call"),
        (server_doc("Files"), "metadata.name"),
        ({"metadata": {"name": "files"}}, "spec"),
        ({**server_doc("files"), "kind": "Client"}, "kind"),
        (server_doc("files", command=None), "spec.command"),
    ],
)
async def test_invalid_bodies_are_422_with_field_paths(
    api: httpx.AsyncClient, document: dict[str, object], field: str
) -> None:
    response = await api.post("/api/v1/servers", json=document)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"
    assert field in fields_of(response)
    assert (await api.get("/api/v1/servers")).json()["items"] == []


async def test_list_items_get_camel_case_paths(api: httpx.AsyncClient) -> None:
    document = subscription_doc("s", "ana", "files", scopeType="selective", scopeTools=["bad tool"])

    response = await api.post("/api/v1/subscriptions", json=document)

    assert response.status_code == 422
    assert errors_of(response)[0]["field"] == "spec.scopeTools[0]"
    assert errors_of(response)[0]["reason"].startswith("a tool name is")


async def test_dangling_references_are_422(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/v1/subscriptions", json=subscription_doc("s", "ana", "files"))

    assert response.status_code == 422
    assert {"spec.client", "spec.server"} <= fields_of(response)


async def test_invalid_query_parameters_are_422(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/v1/servers", params={"limit": 0, "transport": "carrier-pigeon"})

    assert response.status_code == 422
    assert fields_of(response) == {"query.limit", "query.transport"}
