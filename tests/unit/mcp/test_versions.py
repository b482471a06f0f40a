"""Versions, eras, negotiation, the `_meta` envelope and the per-request era decision."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from giru.mcp.jsonrpc import INVALID_PARAMS, INVALID_REQUEST, JsonRpcError, parse_message
from giru.mcp.versions import (
    HEADER_MISMATCH,
    LATEST_LEGACY_VERSION,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_LOG_LEVEL,
    META_PROTOCOL_VERSION,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    UNSUPPORTED_PROTOCOL_VERSION,
    Era,
    RequestEnvelope,
    era_of,
    legacy_version,
    negotiate,
    read_envelope,
    request_era,
    require_client_capabilities,
    unsupported_version_error,
)

MODERN_META = {META_PROTOCOL_VERSION: "2026-07-28", META_CLIENT_CAPABILITIES: {}}


def message(method: str | None = "tools/list", *, id: Any = 1, **params: Any) -> Any:
    body: dict[str, Any] = {"jsonrpc": "2.0"}
    if method is None:
        body["result"] = {}
    else:
        body["method"] = method
    if id is not None:
        body["id"] = id
    if params:
        body["params"] = params
    return parse_message(orjson.dumps(body))


@pytest.mark.parametrize(
    ("version", "era"),
    [("2024-11-05", "legacy"), ("2025-11-25", "legacy"), ("2026-07-28", "modern"), ("1.0", None)],
)
def test_era_of_known_and_unknown_versions(version: str, era: Era | None) -> None:
    assert era_of(version) == era


@pytest.mark.parametrize(
    ("requested", "answered"),
    [
        ("2025-06-18", "2025-06-18"),
        ("2024-11-05", "2024-11-05"),
        ("1900-01-01", LATEST_LEGACY_VERSION),
        ("2026-07-28", LATEST_LEGACY_VERSION),
    ],
)
def test_initialize_answers_requested_version_or_latest(requested: str, answered: str) -> None:
    assert negotiate(requested) == answered


def test_unsupported_version_error_lists_the_modern_versions_discover_lists() -> None:
    error = unsupported_version_error("1900-01-01", id=3)
    assert (error.code, error.http_status, error.id) == (UNSUPPORTED_PROTOCOL_VERSION, 400, 3)
    assert error.data == {
        "supported": ["2026-07-28"],  # what server/discover lists (legacy is reached by initialize)
        "requested": "1900-01-01",
    }


def test_read_envelope_returns_fields() -> None:
    meta = {**MODERN_META, META_CLIENT_INFO: {"name": "c", "version": "1"}, META_LOG_LEVEL: "info"}
    envelope = read_envelope(message(_meta=meta))
    assert envelope == RequestEnvelope("2026-07-28", {}, {"name": "c", "version": "1"}, "info")


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({}, ["_meta"]),
        ({"_meta": []}, ["_meta"]),
        ({"_meta": {}}, [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES]),
        ({"_meta": {META_PROTOCOL_VERSION: "2026-07-28"}}, [META_CLIENT_CAPABILITIES]),
        ({"_meta": {**MODERN_META, META_PROTOCOL_VERSION: 20260728}}, None),
        ({"_meta": {**MODERN_META, META_CLIENT_CAPABILITIES: []}}, None),
        ({"_meta": {**MODERN_META, META_CLIENT_INFO: "me"}}, None),
        ({"_meta": {**MODERN_META, META_LOG_LEVEL: "loud"}}, None),
    ],
)
def test_bad_envelope_is_invalid_params_400(params: dict[str, Any], missing: Any) -> None:
    with pytest.raises(JsonRpcError) as caught:
        read_envelope(message(**params) if params else message())
    error = caught.value
    assert (error.code, error.http_status, error.id) == (INVALID_PARAMS, 400, 1)
    assert error.data == ({"missing": missing} if missing else None)


def test_missing_client_capability_names_what_is_required() -> None:
    envelope = RequestEnvelope("2026-07-28", {"sampling": {}})
    require_client_capabilities(envelope, {"sampling": {}})
    with pytest.raises(JsonRpcError) as caught:
        require_client_capabilities(envelope, {"sampling": {}, "elicitation": {}}, id=4)
    error = caught.value
    assert (error.code, error.http_status, error.id) == (MISSING_REQUIRED_CLIENT_CAPABILITY, 400, 4)
    assert error.data == {"requiredCapabilities": {"elicitation": {}}}


@pytest.mark.parametrize(
    ("http_method", "header", "msg", "era"),
    [
        ("GET", None, None, "legacy"),
        ("DELETE", "2026-07-28", None, "legacy"),
        ("POST", None, None, "legacy"),
        ("POST", None, message("initialize", protocolVersion="2025-11-25"), "legacy"),
        ("POST", "2025-11-25", message("tools/list"), "legacy"),
        ("POST", None, message("tools/list"), "legacy"),
        ("POST", "1900-01-01", message("tools/list"), "legacy"),
        ("POST", "2026-07-28", message("tools/list", _meta=MODERN_META), "modern"),
        ("POST", None, message("tools/list", _meta=MODERN_META), "modern"),
        ("POST", "2026-07-28", message("initialize", _meta=MODERN_META), "modern"),
        ("post", "x", message("tools/list", _meta={**MODERN_META, "k": 1}), "modern"),
        ("POST", None, message("notifications/initialized", id=None), "legacy"),
        ("POST", "2026-07-28", message("notifications/cancelled", id=None), "modern"),
        ("POST", None, message("n", id=None, _meta=MODERN_META), "modern"),
        ("POST", "2025-11-25", message(None), "legacy"),
    ],
)
def test_request_era_is_decided_by_the_body_first(
    http_method: str, header: str | None, msg: Any, era: Era
) -> None:
    assert request_era(http_method, header, msg) == era


@pytest.mark.parametrize(
    ("msg", "code"),
    [
        (message(None), INVALID_REQUEST),
        (message("initialize", protocolVersion="2025-11-25"), HEADER_MISMATCH),
        (message("tools/list"), INVALID_PARAMS),
        (message("tools/list", _meta={"progressToken": 1}), INVALID_PARAMS),
    ],
)
def test_modern_header_on_unclaimed_traffic_is_rejected(msg: Any, code: int) -> None:
    with pytest.raises(JsonRpcError) as caught:
        request_era("POST", "2026-07-28", msg)
    assert (caught.value.code, caught.value.http_status) == (code, 400)


def test_legacy_version_defaults_and_rejects_unsupported() -> None:
    assert legacy_version(None) == "2025-03-26"
    assert legacy_version("2025-06-18") == "2025-06-18"
    for bad in ("1.0.0", "2026-07-28"):
        with pytest.raises(JsonRpcError) as caught:
            legacy_version(bad, id=1)
        assert (caught.value.code, caught.value.http_status) == (UNSUPPORTED_PROTOCOL_VERSION, 400)
