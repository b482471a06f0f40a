"""BAD-INPUT catalogue (docs/security/bad-input.md) against a real `giru run`, over raw HTTP.

Every case sends one hostile request and asserts the exact HTTP status, the JSON-RPC error code
and the id Giru answers with, then proves that no upstream side effect happened: the `ledger`
upstream appends every `tools/call` it receives to a file, and after each case a sentinel call
(on the same upstream pipe, so in order) must be the only new line.

Which rows are tested where. In production Giru listens behind Envoy; rows that Envoy owns are
tested here only for what Giru itself must still guarantee on its direct listener.

| Row | Owner | Tested here |
|---|---|---|
| H1-H7, H13 | Giru | status, code, no side effect; H13 also: the query token is not logged |
| H8 | Envoy + Giru | a dribbling connection must be closed; abandoned ones leak no FDs |
| H9 | Envoy | smuggling: no request is ever processed twice or smuggled past the first |
| H10 | Envoy; Giru for `Mcp-Param-*` | control characters in `Mcp-Param-*` -> 400 -32020 |
| H11 | Envoy | spoofed identity headers never authenticate a request |
| H12 | Envoy | path tricks never reach an MCP endpoint |
| H14 | Giru | OAuth tokens and scopes: tests/integration/bad_input/test_tokens.py |
| H15 | Envoy | not tested (h2 only; Giru's listener is HTTP/1.1) |
| S1-S15 | Giru | legacy (2025-11-25) and modern (2026-07-28) columns |
| J1-J15 | Giru | HTTP level: status, code, id byte-exact |
| M1-M8, M12, M13 | Giru | M9-M11 are catalogue-time (unit tests) |
| U1, U2 | Giru | through the stdio connector |
"""

from __future__ import annotations

import itertools
import json
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import httpx
import orjson
import pytest

from tests.integration.gateway import (
    CLIENT,
    KEY,
    RunningGiru,
    python_stdio_server,
    run_giru,
    virtual_server,
)

pytestmark = pytest.mark.integration

OTHER_KEY: Final = "other-key-0123456789"
LEGACY: Final = "2025-11-25"
MODERN: Final = "2026-07-28"
META: Final = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
}
BASE: Final = {
    "authorization": f"Bearer {KEY}",
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
}
Era = Literal["legacy", "modern", "none"]


def _ledger_server(name: str, ledger: Path) -> str:
    return python_stdio_server(name, "ledger.py", str(ledger))


OTHER_CLIENT: Final = """
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {name: other}
spec:
  apiKeyEnv: GIRU_OTHER_KEY
  tools: ["ledger__touch"]
"""


@dataclass
class Stack:
    """A running Giru in front of `ledger` (counts calls), `py` (SDK) and `bad` (misbehaving)."""

    giru: RunningGiru
    ledger: Path
    http: httpx.Client
    _sentinels: int = field(default=0)

    @property
    def mcp(self) -> str:
        return self.giru.url("/mcp")

    def calls(self) -> list[str]:
        if not self.ledger.exists():
            return []
        return [json.loads(line)["name"] for line in self.ledger.read_text().splitlines()]

    def post(self, body: bytes, headers: dict[str, Any], path: str = "/mcp") -> httpx.Response:
        """POST `body`; a header whose value is None is removed (httpx adds some by default)."""
        request = self.http.build_request("POST", self.giru.url(path), content=body)
        _apply(request, headers)
        return self.http.send(request)

    def session(self, key: str = KEY, path: str = "/mcp") -> str:
        """A fully initialised 2025-11-25 session."""
        init = rpc("initialize", {"protocolVersion": LEGACY, "capabilities": {}}, id=0)
        auth = {**BASE, "authorization": f"Bearer {key}"}
        response = self.post(init, auth, path)
        assert response.status_code == 200, response.text
        session = response.headers["mcp-session-id"]
        headers = {**auth, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
        done = self.post(rpc("notifications/initialized", id=None), headers, path)
        assert done.status_code == 202
        return session

    def headers(self, era: Era, body: bytes, path: str = "/mcp") -> dict[str, Any]:
        if era == "legacy":
            session = self.session(path=path)
            return {**BASE, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
        if era == "modern":
            return {**BASE, **modern_headers(body)}
        return dict(BASE)

    def assert_no_side_effect(self, before: int, era: Era) -> None:
        """Only the sentinel reached the ledger: nothing the case sent was executed upstream."""
        self._sentinels += 1
        text = f"sentinel-{self._sentinels}"
        sentinel_era: Era = "modern" if era == "modern" else "legacy"
        body = touch(text, id=f"s{self._sentinels}", modern=sentinel_era == "modern")
        response = self.post(body, self.headers(sentinel_era, body))
        assert response.status_code == 200, response.text
        assert self.calls()[before:] == ["touch"], "the rejected request reached the upstream"


def _apply(request: httpx.Request, headers: dict[str, Any]) -> None:
    for name, value in headers.items():
        if value is None:
            request.headers.pop(name, None)
        else:
            request.headers[name] = value


def rpc(method: str, params: dict[str, Any] | None = None, id: Any = 1) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    return orjson.dumps(message)


def touch(text: str = "hi", id: Any = 1, *, modern: bool = False) -> bytes:
    params: dict[str, Any] = {"name": "ledger__touch", "arguments": {"text": text}}
    if modern:
        params["_meta"] = META
    return rpc("tools/call", params, id=id)


def modern_rpc(method: str, params: dict[str, Any] | None = None, id: Any = 1) -> bytes:
    return rpc(method, {**(params or {}), "_meta": META}, id=id)


def modern_headers(body: bytes) -> dict[str, str]:
    """The 2026-07-28 request headers that match `body`."""
    message = orjson.loads(body)
    headers = {"mcp-protocol-version": MODERN}
    if "method" in message:
        headers["mcp-method"] = message["method"]
    params = message.get("params") or {}
    name = params.get("name", params.get("uri"))
    if isinstance(name, str):
        headers["mcp-name"] = name
    return headers


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("bad-input")
    ledger = workdir / "ledger.jsonl"
    manifests = "---".join(
        [
            _ledger_server("ledger", ledger),
            python_stdio_server("py"),
            python_stdio_server("bad", "misbehaving.py"),
            CLIENT,
            OTHER_CLIENT,
            virtual_server("solo", ["ledger"], prefix=False),
        ]
    )
    os.environ["GIRU_OTHER_KEY"] = OTHER_KEY
    try:
        with run_giru(manifests, workdir) as giru, httpx.Client(timeout=30.0) as http:
            yield Stack(giru, ledger, http)
    finally:
        os.environ.pop("GIRU_OTHER_KEY", None)


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    row: str
    what: str
    body: bytes
    status: int
    code: int | None  # None: an accepted notification (empty body)
    era: Era = "legacy"
    headers: dict[str, Any] = field(default_factory=dict)
    id: bytes = b"null"  # the id Giru must answer with, as JSON text (byte-exact)
    data: dict[str, Any] = field(default_factory=dict)  # expected members of error.data
    path: str = "/mcp"
    xfail: str | None = None

    @property
    def param(self) -> Any:
        marks = [pytest.mark.xfail(strict=True, reason=self.xfail)] if self.xfail else []
        return pytest.param(self, id=f"{self.row} {self.what}", marks=marks)


def _modern(body: bytes, **overrides: Any) -> dict[str, Any]:
    return {**modern_headers(body), **overrides}


TOUCH: Final = touch()
MTOUCH: Final = touch(modern=True)
MLIST: Final = modern_rpc("tools/list")
BIG_INT: Final = b"12345678901234567890123"

HTTP_CASES: Final = [
    Case("H1", "foreign Origin", TOUCH, 403, -32600, headers={"origin": "https://evil.example"}),
    Case("H1", "null Origin", TOUCH, 403, -32600, headers={"origin": "null"}),
    Case("H2", "rebinding Host", TOUCH, 403, -32600, headers={"host": "evil.example.com"}),
    Case("H2", "Host with port", TOUCH, 403, -32600, headers={"host": "evil.example.com:80"}),
    Case("H3", "text/plain", TOUCH, 415, -32600, headers={"content-type": "text/plain"}),
    Case(
        "H3",
        "form",
        TOUCH,
        415,
        -32600,
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    Case("H3", "no Content-Type", TOUCH, 415, -32600, headers={"content-type": None}),
    Case("H4", "Accept JSON only", TOUCH, 400, -32600, headers={"accept": "application/json"}),
    Case("H4", "Accept SSE only", TOUCH, 400, -32600, headers={"accept": "text/event-stream"}),
    Case("H4", "no Accept", TOUCH, 400, -32600, headers={"accept": None}),
    Case("H6", "5 MiB body", b" " * (5 << 20) + TOUCH, 413, -32600),
    Case("H7", "empty body", b"", 400, -32700),
    Case(
        "H11",
        "spoofed identity",
        TOUCH,
        401,
        -32600,
        headers={
            "authorization": None,
            "x-authenticated-user": "e2e",
            "x-forwarded-user": "e2e",
        },
    ),
    Case("H13", "no bearer", TOUCH, 401, -32600, headers={"authorization": None}),
    Case("H13", "wrong key", TOUCH, 401, -32600, headers={"authorization": "Bearer nope"}),
    Case("H13", "Basic scheme", TOUCH, 401, -32600, headers={"authorization": f"Basic {KEY}"}),
]

SESSION_CASES: Final = [
    Case("S1", "no Mcp-Session-Id", TOUCH, 400, -32600, headers={"mcp-session-id": None}),
    Case("S2", "forged session", TOUCH, 404, -32600, headers={"mcp-session-id": "forged-1234"}),
    Case("S4", "space in session id", TOUCH, 400, -32600, headers={"mcp-session-id": "a b"}),
    Case("S4", "non-ASCII session id", TOUCH, 400, -32600, headers={"mcp-session-id": "caf\u00e9"}),
    Case("S4", "129-byte session id", TOUCH, 400, -32600, headers={"mcp-session-id": "a" * 129}),
    Case(
        "S5",
        "legacy 1.0.0",
        TOUCH,
        400,
        -32022,
        headers={"mcp-protocol-version": "1.0.0"},
        data={"requested": "1.0.0"},
    ),
    Case(
        "S5",
        "legacy 1900-01-01",
        TOUCH,
        400,
        -32022,
        headers={"mcp-protocol-version": "1900-01-01"},
        data={"requested": "1900-01-01"},
    ),
    Case(
        "S5",
        "modern 1900-01-01",
        rpc(
            "tools/list",
            {"_meta": {**META, "io.modelcontextprotocol/protocolVersion": "1900-01-01"}},
        ),
        400,
        -32022,
        era="modern",
        headers={"mcp-protocol-version": "1900-01-01"},
        id=b"1",
        data={"requested": "1900-01-01"},
    ),
    Case(
        "S7",
        "header differs from _meta",
        MTOUCH,
        400,
        -32020,
        era="modern",
        headers={"mcp-protocol-version": LEGACY},
        id=b"1",
    ),
    Case(
        "S8",
        "no clientCapabilities",
        rpc("tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}),
        400,
        -32602,
        era="modern",
        id=b"1",
    ),
    Case("S8", "no _meta", TOUCH, 400, -32602, era="modern", id=b"1"),
    Case(
        "S9",
        "Mcp-Method missing",
        MTOUCH,
        400,
        -32020,
        era="modern",
        headers={"mcp-method": None},
        id=b"1",
    ),
    Case(
        "S9",
        "Mcp-Method differs",
        MTOUCH,
        400,
        -32020,
        era="modern",
        headers={"mcp-method": "tools/list"},
        id=b"1",
    ),
    Case(
        "S9",
        "Mcp-Method case",
        MLIST,
        400,
        -32020,
        era="modern",
        headers={"mcp-method": "TOOLS/LIST"},
        id=b"1",
    ),
    Case(
        "S9",
        "Mcp-Name missing",
        MTOUCH,
        400,
        -32020,
        era="modern",
        headers={"mcp-name": None},
        id=b"1",
    ),
    Case(
        "S9",
        "bad base64 padding",
        MTOUCH,
        400,
        -32020,
        era="modern",
        headers={"mcp-name": "=?base64?bGVkZ2VyX190b3VjaA?="},
        id=b"1",
    ),
    Case(
        "S9",
        "bad base64 alphabet",
        MTOUCH,
        400,
        -32020,
        era="modern",
        headers={"mcp-name": "=?base64?bGVk*2VyX190b3VjaA==?="},
        id=b"1",
    ),
    Case("S11", "Last-Event-ID on POST", TOUCH, 400, -32600, headers={"last-event-id": "1.1"}),
    Case(
        "H10",
        "raw non-ASCII Mcp-Param",
        MTOUCH,
        400,
        -32020,
        era="modern",
        headers={"mcp-param-region": "us-w\u00e9st"},
        id=b"1",
    ),
    Case(
        "M7",
        "Mcp-Name differs",
        MTOUCH,
        400,
        -32020,
        era="modern",
        headers={"mcp-name": "ledger__hang"},
        id=b"1",
    ),
]

_DEEP: Final = b"[" * 100 + b"]" * 100
JSON_CASES: Final = [
    Case("J1", "truncated", b'{"jsonrpc":"2.0",', 400, -32700),
    Case("J1", "trailing garbage", TOUCH + b"{}", 400, -32700),
    Case("J1", "BOM", b"\xef\xbb\xbf" + TOUCH, 400, -32700),
    Case("J1", "NaN", TOUCH.replace(b'"hi"', b"NaN"), 400, -32700),
    Case("J1", "Infinity", TOUCH.replace(b'"hi"', b"Infinity"), 400, -32700),
    Case("J1", "comment", TOUCH.replace(b'{"jsonrpc"', b'{/*x*/"jsonrpc"'), 400, -32700),
    Case("J1", "single quotes", TOUCH.replace(b'"hi"', b"'hi'"), 400, -32700),
    Case("J2", "invalid UTF-8", TOUCH.replace(b'"hi"', b'"\xff"'), 400, -32700),
    Case("J2", "overlong", TOUCH.replace(b'"hi"', b'"\xc0\xaf"'), 400, -32700),
    Case("J2", "lone surrogate", TOUCH.replace(b'"hi"', b'"\\ud800"'), 400, -32700),
    Case("J3", "no jsonrpc", TOUCH.replace(b'"jsonrpc":"2.0",', b""), 400, -32600, id=b"1"),
    Case("J3", "1.0", TOUCH.replace(b'"2.0"', b'"1.0"'), 400, -32600, id=b"1"),
    Case("J3", "2.00", TOUCH.replace(b'"2.0"', b'"2.00"'), 400, -32600, id=b"1"),
    Case("J3", "number", TOUCH.replace(b'"2.0"', b"2.0"), 400, -32600, id=b"1"),
    Case(
        "J4",
        "null id",
        touch(id=None).replace(b'{"jsonrpc":"2.0",', b'{"jsonrpc":"2.0","id":null,'),
        400,
        -32600,
    ),
    Case("J5", "tools/call as notification", touch(id=None), 202, None),
    Case(
        "J5", "modern tools/call notification", touch(id=None, modern=True), 202, None, era="modern"
    ),
    Case("J6", "object id", touch(id={"a": 1}), 400, -32600),
    Case("J6", "array id", touch(id=[1]), 400, -32600),
    Case("J6", "bool id", touch(id=True), 400, -32600),
    Case("J6", "10 KB string id", touch(id="x" * 10_240), 400, -32600),
    Case("J8", "batch", b"[" + TOUCH + b"," + touch(id=2) + b"]", 400, -32600),
    Case("J8", "empty batch", b"[]", 400, -32600),
    Case(
        "J9", "method twice", TOUCH.replace(b'"method"', b'"method":"ping","method"'), 400, -32600
    ),
    Case(
        "J9",
        "Method",
        TOUCH.replace(b'"method"', b'"Method":"ping","method"'),
        400,
        -32600,
        id=b"1",
    ),
    Case(
        "J9",
        "METHOD",
        TOUCH.replace(b'"method"', b'"METHOD":"ping","method"'),
        400,
        -32600,
        id=b"1",
    ),
    Case(
        "J9",
        "long s",
        TOUCH.replace(b'"method"', '"\u017fethod":"ping","method"'.encode()),
        400,
        -32600,
        id=b"1",
    ),
    Case(
        "J9",
        "NUL-suffixed",
        TOUCH.replace(b'"method"', b'"method\\u0000":"ping","method"'),
        400,
        -32600,
        id=b"1",
    ),
    Case(
        "J9",
        "params.name twice",
        TOUCH.replace(b'"name"', b'"name":"ledger__hang","name"'),
        400,
        -32600,
    ),
    Case("J10", "extra member", TOUCH.replace(b"{", b'{"extra":1,', 1), 400, -32600, id=b"1"),
    Case(
        "J10", "result and error", b'{"jsonrpc":"2.0","id":1,"result":{},"error":{}}', 400, -32600
    ),
    Case(
        "J10", "request and result", TOUCH.replace(b"{", b'{"result":{},', 1), 400, -32600, id=b"1"
    ),
    Case(
        "J11", "unsolicited response", b'{"jsonrpc":"2.0","id":"giru-1","result":{}}', 400, -32600
    ),
    Case(
        "J11",
        "modern response",
        b'{"jsonrpc":"2.0","id":1,"result":{}}',
        400,
        -32600,
        era="modern",
        headers={"mcp-protocol-version": MODERN},
    ),
    Case("J12", "100 levels", TOUCH.replace(b'"hi"', _DEEP), 400, -32600),
    Case("J12", "100000 levels", TOUCH.replace(b'"hi"', b"[" * 100_000), 400, -32700),
    Case(
        "J13",
        "100001 elements",
        TOUCH.replace(b'"hi"', orjson.dumps(list(range(100_001)))),
        400,
        -32602,
    ),
    Case(
        "J13", "10 MB string", TOUCH.replace(b'"hi"', b'"' + b"x" * 10_000_000 + b'"'), 413, -32600
    ),
    Case("J14", "hex", TOUCH.replace(b'"hi"', b"0x10"), 400, -32700),
    Case("J14", "leading zero", TOUCH.replace(b'"hi"', b"007"), 400, -32700),
    Case("J14", "5000 digits", TOUCH.replace(b'"hi"', b"9" * 5000), 400, -32700),
    Case(
        "J15",
        "array params",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["ledger__touch"]}',
        400,
        -32602,
        id=b"1",
    ),
    Case(
        "J15",
        "string params",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}',
        400,
        -32602,
        id=b"1",
    ),
]

METHOD_CASES: Final = [
    Case("M1", "tools/cal", rpc("tools/cal"), 200, -32601, id=b"1"),
    Case("M1", "admin/exec", rpc("admin/exec"), 200, -32601, id=b"1"),
    Case("M1", "rpc.discover", rpc("rpc.discover"), 200, -32601, id=b"1"),
    Case("M1", "empty method", rpc(""), 200, -32601, id=b"1"),
    Case("M1", "modern tools/cal", modern_rpc("tools/cal"), 404, -32601, era="modern", id=b"1"),
    Case("M1", "modern initialize", modern_rpc("initialize"), 404, -32601, era="modern", id=b"1"),
    Case("M1", "modern ping", modern_rpc("ping"), 404, -32601, era="modern", id=b"1"),
    Case(
        "M2",
        "prompts/get, no prompts",
        rpc("prompts/get", {"name": "p"}),
        200,
        -32601,
        id=b"1",
        data={"reason": "the server does not offer prompts"},
        path="/mcp/solo",
    ),
    Case("M4", "unknown tool", rpc("tools/call", {"name": "ledger__nope"}), 200, -32602, id=b"1"),
    Case("M4", "unprefixed tool", rpc("tools/call", {"name": "touch"}), 200, -32602, id=b"1"),
    Case(
        "M4",
        "modern unknown tool",
        modern_rpc("tools/call", {"name": "ledger__nope"}),
        200,
        -32602,
        era="modern",
        id=b"1",
    ),
    Case("M5", "../../etc", rpc("tools/call", {"name": "ledger__../../etc"}), 200, -32602, id=b"1"),
    Case("M5", "%2f", rpc("tools/call", {"name": "ledger__files.read%2f.."}), 200, -32602, id=b"1"),
    Case("M5", "space", rpc("tools/call", {"name": "ledger__with space"}), 200, -32602, id=b"1"),
    Case(
        "M5", "129 chars", rpc("tools/call", {"name": "ledger__" + "x" * 129}), 200, -32602, id=b"1"
    ),
    Case("M5", "empty", rpc("tools/call", {"name": "ledger__"}), 200, -32602, id=b"1"),
    Case("M5", "a/b", rpc("tools/call", {"name": "ledger__a/b"}), 200, -32602, id=b"1"),
    Case("M6", "Cyrillic", rpc("tools/call", {"name": "ledger__s\u0435nd"}), 200, -32602, id=b"1"),
    Case(
        "M6",
        "zero width",
        rpc("tools/call", {"name": "ledger__send\u200bmail"}),
        200,
        -32602,
        id=b"1",
    ),
    Case(
        "M6",
        "bidi override",
        rpc("tools/call", {"name": "ledger__\u202eliame"}),
        200,
        -32602,
        id=b"1",
    ),
    Case("M6", "fullwidth", rpc("tools/call", {"name": "ledger__\uff53end"}), 200, -32602, id=b"1"),
    Case("M6", "case variant", rpc("tools/call", {"name": "ledger__Touch"}), 200, -32602, id=b"1"),
]
SCHEMA_CASES: Final = [
    Case(
        "M8",
        "missing required",
        rpc("tools/call", {"name": "ledger__strict", "arguments": {}}),
        200,
        -32602,
        id=b"1",
    ),
    Case(
        "M8",
        "wrong type",
        rpc("tools/call", {"name": "ledger__strict", "arguments": {"n": "1"}}),
        200,
        -32602,
        id=b"1",
    ),
    Case(
        "M8",
        "extra property",
        rpc("tools/call", {"name": "ledger__strict", "arguments": {"n": 1, "x": 1}}),
        200,
        -32602,
        id=b"1",
    ),
    Case(
        "M8",
        "enum",
        rpc("tools/call", {"name": "ledger__strict", "arguments": {"n": 1, "colour": "pink"}}),
        200,
        -32602,
        id=b"1",
    ),
    Case(
        "M8",
        "maxLength",
        rpc("tools/call", {"name": "ledger__strict", "arguments": {"n": 1, "note": "x" * 9}}),
        200,
        -32602,
        id=b"1",
    ),
]


@pytest.mark.parametrize(
    "case",
    [c.param for c in (*HTTP_CASES, *SESSION_CASES, *JSON_CASES, *METHOD_CASES, *SCHEMA_CASES)],
)
def test_rejected_with_exact_status_code_and_id_and_no_side_effect(
    stack: Stack, case: Case
) -> None:
    before = len(stack.calls())
    headers = {**stack.headers(case.era, case.body, case.path), **case.headers}
    started = time.monotonic()
    response = stack.post(case.body, headers, case.path)
    assert time.monotonic() - started < 5.0, "a bad request must be answered promptly"
    assert response.status_code == case.status, response.text[:300]
    if case.code is None:
        assert response.content == b""
    else:
        error = response.json()["error"]
        assert error["code"] == case.code, error
        assert re.search(rb'"id":' + re.escape(case.id) + rb"[,}]", response.content)
        assert case.data.items() <= (error.get("data") or {}).items()
        assert KEY not in response.text
    stack.assert_no_side_effect(before, case.era)


# -- HTTP layer beyond one POST ------------------------------------------------------------


def test_h5_get_without_sse_accept_is_400_and_modern_get_or_delete_is_405(stack: Stack) -> None:
    session = stack.session()
    legacy = {**BASE, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
    response = stack.http.get(stack.mcp, headers={**legacy, "accept": "application/json"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, -32600)
    modern = {**BASE, "mcp-protocol-version": MODERN}
    for method in ("GET", "DELETE"):
        response = stack.http.request(method, stack.mcp, headers=modern)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert "mcp-session-id" not in response.headers


def test_h6_chunked_body_over_the_limit_is_413(stack: Stack) -> None:
    before = len(stack.calls())
    session = stack.session()
    headers = {**BASE, "mcp-session-id": session, "mcp-protocol-version": LEGACY}

    def chunks() -> Iterator[bytes]:
        yield TOUCH[:-1] + b',"pad":"'
        for _ in range(5 * 16):
            yield b"x" * 65536
        yield b'"}'

    request = stack.http.build_request("POST", stack.mcp, content=chunks(), headers=headers)
    assert "content-length" not in request.headers
    response = stack.http.send(request)
    assert (response.status_code, response.json()["error"]["code"]) == (413, -32600)
    stack.assert_no_side_effect(before, "legacy")


def test_h6_declared_length_over_the_limit_is_refused_before_the_body_arrives(
    stack: Stack,
) -> None:
    head = _head(stack, "POST", "/mcp", [*BASE.items(), ("content-length", str(5 << 20))])
    with _connect(stack) as sock:
        sock.sendall(head)
        answer = _read_response(sock, 5.0)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_h8_slow_headers_are_cut_off(stack: Stack) -> None:
    """A client dribbling its headers must be disconnected (ReadHeaderTimeout, here 5 s)."""
    assert _closed_while_dribbling(stack, seconds=5.0)


def test_h8_abandoned_slow_connections_leak_no_fds_or_tasks(stack: Stack) -> None:
    baseline = _resources(stack)
    sockets = []
    for n in range(20):
        sock = _connect(stack)
        sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * n)
        sockets.append(sock)
    slow_body = _head(stack, "POST", "/mcp", [("content-length", "1000")]) + b'{"jsonrpc"'
    for _ in range(5):
        sock = _connect(stack)
        sock.sendall(slow_body)
        sockets.append(sock)
    _wait_for(lambda: _fd_count(stack) >= baseline[1] + 20, "connections accepted")
    for sock in sockets:
        sock.close()
    _wait_for(lambda: _resources(stack) == baseline, f"back to baseline {baseline}")


SMUGGLED_TEXT: Final = "smuggled"


def _smuggled(stack: Stack, session: str) -> bytes:
    body = touch(SMUGGLED_TEXT, id="smuggled")
    headers = [
        ("authorization", f"Bearer {KEY}"),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-session-id", session),
        ("content-length", str(len(body))),
    ]
    return _head(stack, "POST", "/mcp", headers) + body


def _smuggling(stack: Stack, session: str) -> list[tuple[str, bytes]]:
    inner = _smuggled(stack, session)
    chunked_inner = f"{len(inner):x}\r\n".encode() + inner + b"\r\n0\r\n\r\n"
    cl = [("content-length", str(len(b"0\r\n\r\n" + inner)))]
    return [
        (
            "CL.TE",
            _head(stack, "POST", "/mcp", [*cl, ("transfer-encoding", "chunked")])
            + b"0\r\n\r\n"
            + inner,
        ),
        (
            "TE.CL",
            _head(
                stack, "POST", "/mcp", [("transfer-encoding", "chunked"), ("content-length", "4")]
            )
            + chunked_inner,
        ),
        (
            "TE.TE chunkedx",
            _head(stack, "POST", "/mcp", [*cl, ("transfer-encoding", "chunkedx")])
            + b"0\r\n\r\n"
            + inner,
        ),
        (
            "duplicate Content-Length",
            _head(stack, "POST", "/mcp", [("content-length", "0"), *cl]) + b"0\r\n\r\n" + inner,
        ),
        (
            "obs-fold TE",
            _head(stack, "POST", "/mcp", [*cl, ("transfer-encoding", "\r\n chunked")])
            + b"0\r\n\r\n"
            + inner,
        ),
        (
            "bare LF",
            _head(stack, "POST", "/mcp", cl).replace(b"\r\n", b"\n") + b"0\r\n\r\n" + inner,
        ),
    ]


@pytest.mark.parametrize(
    "attack",
    ["CL.TE", "TE.CL", "TE.TE chunkedx", "duplicate Content-Length", "obs-fold TE", "bare LF"],
)
def test_h9_smuggled_request_is_never_processed(stack: Stack, attack: str) -> None:
    """Envoy normalises these in production; the direct listener must still reject them."""
    session = stack.session()
    before = len(stack.calls())
    payload = dict(_smuggling(stack, session))[attack]
    with _connect(stack) as sock:
        sock.sendall(payload)
        answer = _read_all(sock, 2.0)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert answer.count(b"HTTP/1.1 ") == 1, answer[:500]
    stack.assert_no_side_effect(before, "legacy")
    assert SMUGGLED_TEXT.encode() not in answer


@pytest.mark.parametrize(
    "value", [b"us\x01west", b"us\x00west", b"us\x7fwest"], ids=["SOH", "NUL", "DEL"]
)
def test_h10_control_characters_in_mcp_param_headers_are_400(stack: Stack, value: bytes) -> None:
    before = len(stack.calls())
    body = MTOUCH
    headers = [*modern_headers(body).items(), *BASE.items(), ("content-length", str(len(body)))]
    head = _head(stack, "POST", "/mcp", headers).replace(
        b"\r\n\r\n", b"\r\nMcp-Param-Region: " + value + b"\r\n\r\n"
    )
    with _connect(stack) as sock:
        sock.sendall(head + body)
        answer = _read_response(sock, 5.0)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    stack.assert_no_side_effect(before, "modern")


@pytest.mark.parametrize(
    "path",
    ["/mcp/../admin", "//mcp", "/mcp/%2e%2e/mcp", "/%6Dcp/..%2Fmcp", "/MCP", "/mcp/solo/../../mcp"],
)
def test_h12_path_tricks_reach_no_mcp_endpoint(stack: Stack, path: str) -> None:
    before = len(stack.calls())
    body = TOUCH
    headers = [*BASE.items(), ("content-length", str(len(body))), ("connection", "close")]
    with _connect(stack) as sock:
        sock.sendall(_head(stack, "POST", path, headers) + body)
        answer = _read_all(sock, 5.0)
    assert answer.startswith(b"HTTP/1.1 404 "), answer[:200]
    stack.assert_no_side_effect(before, "legacy")


def test_h13_unauthenticated_is_401_with_www_authenticate(stack: Stack) -> None:
    response = stack.post(TOUCH, {**BASE, "authorization": None})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    sse = stack.http.get(stack.giru.url("/sse"), headers={"accept": "text/event-stream"})
    assert sse.status_code == 401
    assert "www-authenticate" in sse.headers


@pytest.mark.parametrize("param", ["api_key", "access_token"])
def test_h13_token_in_the_query_string_is_rejected_and_not_logged(stack: Stack, param: str) -> None:
    before = len(stack.calls())
    secret = f"query-secret-{param}-9f8e7d"
    response = stack.post(TOUCH, BASE, path=f"/mcp?{param}={secret}")
    assert (response.status_code, response.json()["error"]["code"]) == (400, -32600)
    assert secret not in response.text
    stack.assert_no_side_effect(before, "legacy")
    assert secret not in stack.giru.log.read_text()
    assert KEY not in stack.giru.log.read_text()


# -- sessions --------------------------------------------------------------------------------


def test_s1_s2_modern_requests_ignore_session_ids_and_never_mint_one(stack: Stack) -> None:
    for extra in ({}, {"mcp-session-id": "forged-1234"}, {"mcp-session-id": stack.session()}):
        response = stack.post(MLIST, {**BASE, **modern_headers(MLIST), **extra})
        assert response.status_code == 200, response.text
        assert response.json()["result"]["tools"]
        assert "mcp-session-id" not in response.headers


def test_s2_deleted_session_is_404(stack: Stack) -> None:
    session = stack.session()
    headers = {**BASE, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
    assert stack.http.delete(stack.mcp, headers=headers).status_code == 200
    before = len(stack.calls())
    response = stack.post(TOUCH, headers)
    assert (response.status_code, response.json()["error"]["code"]) == (404, -32600)
    stack.assert_no_side_effect(before, "legacy")


def test_s3_another_clients_session_is_404_never_processed_and_audited(stack: Stack) -> None:
    theirs = stack.session(OTHER_KEY)
    before = len(stack.calls())
    headers = {**BASE, "mcp-session-id": theirs, "mcp-protocol-version": LEGACY}
    response = stack.post(TOUCH, headers)
    assert (response.status_code, response.json()["error"]["code"]) == (404, -32600)
    forged = stack.post(TOUCH, {**headers, "mcp-session-id": "no-such-session"})
    assert forged.json() == response.json(), "an existence oracle"
    stack.assert_no_side_effect(before, "legacy")
    assert '"event":"session_owner_mismatch"' in stack.giru.log.read_text()
    assert theirs not in stack.giru.log.read_text()


def test_s6_initialize_with_an_unsupported_version_gets_the_servers_version(
    stack: Stack,
) -> None:
    body = rpc("initialize", {"protocolVersion": "1900-01-01", "capabilities": {}}, id="i")
    response = stack.post(body, BASE)
    assert response.status_code == 200
    assert response.json()["id"] == "i"
    assert response.json()["result"]["protocolVersion"] == LEGACY


def test_s10_undeclared_capability_is_400_32021(stack: Stack) -> None:
    """A modern client without `elicitation` calls a tool that elicits."""
    body = modern_rpc("tools/call", {"name": "py__ask", "arguments": {}})
    response = stack.post(body, {**BASE, **modern_headers(body)})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == -32021
    assert "elicitation" in error["data"]["requiredCapabilities"]


def test_s11_last_event_id_on_a_modern_post_is_ignored(stack: Stack) -> None:
    response = stack.post(MLIST, {**BASE, **modern_headers(MLIST), "last-event-id": "1.1"})
    assert response.status_code == 200


@pytest.mark.parametrize("last", ["garbage", "1.x", "1.0"], ids=["malformed", "bad seq", "other"])
def test_s12_last_event_id_must_name_a_stream_of_this_session(stack: Stack, last: str) -> None:
    mine = stack.session()
    theirs = stack.session()
    call = stack.post(
        touch(id=1), {**BASE, "mcp-session-id": theirs, "mcp-protocol-version": LEGACY}
    )
    assert call.status_code == 200  # `theirs` now has stream 1; `mine` has none
    headers = {
        **BASE,
        "mcp-session-id": mine,
        "mcp-protocol-version": LEGACY,
        "last-event-id": last,
    }
    response = stack.http.get(stack.mcp, headers={**headers, "accept": "text/event-stream"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, -32600)


def test_s13_one_standalone_stream_per_session_newest_wins(stack: Stack) -> None:
    session = stack.session()
    headers = {
        **BASE,
        "mcp-session-id": session,
        "mcp-protocol-version": LEGACY,
        "accept": "text/event-stream",
    }
    with stack.http.stream("GET", stack.mcp, headers=headers) as first:
        assert first.status_code == 200
        lines = first.iter_lines()
        with stack.http.stream("GET", stack.mcp, headers=headers) as second:
            assert second.status_code == 200
            rest = list(lines)  # the older stream ends once the newer one opens
            assert all(not line.startswith("data: {") for line in rest)


def test_s13_reconnect_storm_is_rate_limited(stack: Stack) -> None:
    session = stack.session()
    headers = {
        **BASE,
        "mcp-session-id": session,
        "mcp-protocol-version": LEGACY,
        "accept": "text/event-stream",
    }
    statuses = set()
    for _ in range(50):
        with stack.http.stream("GET", stack.mcp, headers=headers) as response:
            statuses.add(response.status_code)
    assert 429 in statuses


def test_s14_delete_without_a_session_is_400(stack: Stack) -> None:
    headers = {**BASE, "mcp-protocol-version": LEGACY}
    response = stack.http.delete(stack.mcp, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (400, -32600)


def test_s15_idle_session_expires(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    os.environ["GIRU_SESSIONS__IDLE_TIMEOUT_S"] = "1"
    try:
        with (
            run_giru(_ledger_server("ledger", ledger) + "---" + CLIENT, tmp_path) as giru,
            httpx.Client(timeout=10.0) as http,
        ):
            stack = Stack(giru, ledger, http)
            session = stack.session()
            headers = {**BASE, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
            assert stack.post(TOUCH, headers).status_code == 200
            time.sleep(1.5)  # the input under test: idleness past the configured timeout
            response = stack.post(TOUCH, headers)
            assert (response.status_code, response.json()["error"]["code"]) == (404, -32600)
    finally:
        os.environ.pop("GIRU_SESSIONS__IDLE_TIMEOUT_S", None)


# -- JSON-RPC ids ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_id",
    [b"1.5", b"1e400", b"12345678901234567890", BIG_INT, b"-0", b"9" * 400, b"1.50"],
    ids=["1.5", "1e400", "u64+", "i128", "-0", "400 digits", "1.50"],
)
@pytest.mark.parametrize("method", ["ping", "tools/call"])
def test_j6_j14_ids_are_echoed_byte_exact(stack: Stack, raw_id: bytes, method: str) -> None:
    body = rpc(
        method,
        {"name": "ledger__touch", "arguments": {"text": "id"}} if method != "ping" else None,
        id=0,
    ).replace(b'"id":0', b'"id":' + raw_id)
    response = stack.post(body, stack.headers("legacy", body))
    assert response.status_code == 200, response.text
    assert b'"id":' + raw_id + b"," in response.content
    assert "error" not in response.json()


def test_j7_a_reused_request_id_is_rejected_and_never_cross_wired(stack: Stack) -> None:
    headers = stack.headers("legacy", TOUCH)
    before = len(stack.calls())
    assert (
        stack.post(touch("first", id=7), headers).json()["result"]["content"][0]["text"] == "first"
    )
    again = stack.post(touch("second", id=7), headers)
    assert (again.status_code, again.json()["error"]["code"]) == (400, -32600)
    assert stack.calls()[before:] == ["touch"]


def test_j7_a_concurrent_duplicate_of_an_in_flight_id_is_rejected(stack: Stack) -> None:
    headers = stack.headers("legacy", TOUCH)
    hang = rpc("tools/call", {"name": "ledger__hang", "arguments": {}}, id="dup")
    with ThreadPoolExecutor(1) as pool:
        pending: Future[httpx.Response] = pool.submit(stack.post, hang, headers)
        _wait_for(lambda: stack.calls()[-1:] == ["hang"], "the hang call reached the upstream")
        before = len(stack.calls())
        duplicate = stack.post(touch(id="dup"), headers)
        assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (400, -32600)
        cancel = rpc("notifications/cancelled", {"requestId": "dup"}, id=None)
        assert stack.post(cancel, headers).status_code == 202
        pending.result(timeout=10)
    stack.assert_no_side_effect(before, "legacy")


# -- methods ---------------------------------------------------------------------------------


def test_m3_request_before_initialized_is_rejected(stack: Stack) -> None:
    init = rpc("initialize", {"protocolVersion": LEGACY, "capabilities": {}}, id=0)
    session = stack.post(init, BASE).headers["mcp-session-id"]
    before = len(stack.calls())
    headers = {**BASE, "mcp-session-id": session, "mcp-protocol-version": LEGACY}
    response = stack.post(TOUCH, headers)
    assert response.status_code in (400, 404)
    assert response.json()["error"]["code"] == -32600
    stack.assert_no_side_effect(before, "legacy")


def test_m4_a_hidden_tool_answers_exactly_like_a_missing_one(stack: Stack) -> None:
    session = stack.session(OTHER_KEY)
    headers = {
        **BASE,
        "authorization": f"Bearer {OTHER_KEY}",
        "mcp-session-id": session,
        "mcp-protocol-version": LEGACY,
    }
    listed = stack.post(rpc("tools/list"), headers).json()["result"]["tools"]
    assert [t["name"] for t in listed] == ["ledger__touch"]
    before = len(stack.calls())
    hidden = stack.post(rpc("tools/call", {"name": "ledger__strict"}, id=2), headers).json()
    missing = stack.post(rpc("tools/call", {"name": "ledger__strucT"}, id=3), headers).json()
    assert hidden["error"]["code"] == missing["error"]["code"] == -32602
    assert hidden["error"]["message"] == "Unknown tool: ledger__strict"
    assert missing["error"]["message"] == "Unknown tool: ledger__strucT"
    assert hidden["error"].keys() == missing["error"].keys()
    stack.assert_no_side_effect(before, "legacy")


def _listed(stack: Stack) -> set[str]:
    body = rpc("tools/list")
    return {
        t["name"] for t in stack.post(body, stack.headers("legacy", body)).json()["result"]["tools"]
    }


def test_m5_m6_tool_names_outside_the_allowed_set_are_dropped_at_catalogue_time(
    stack: Stack,
) -> None:
    names = _listed(stack)
    assert {"ledger__touch", "ledger__strict"} <= names
    ledger_tools = {n.removeprefix("ledger__") for n in names if n.startswith("ledger__")}
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name) for name in ledger_tools)
    assert not ledger_tools & {"../../etc", "a/b", "with space", "a,b", "s\u0435nd"}


def test_m6_confusable_tool_names_are_not_both_offered(stack: Stack) -> None:
    listed = _listed(stack)
    assert "ledger__send_email" in listed
    assert "ledger__send_emaiI" not in listed


@pytest.mark.parametrize("tool", ["big", "blocks"], ids=["17 MiB result", "150000 blocks"])
def test_m12_oversized_upstream_result_is_a_gateway_error_for_the_same_id(
    stack: Stack, tool: str
) -> None:
    headers = stack.headers("legacy", TOUCH)
    body = rpc("tools/call", {"name": f"ledger__{tool}", "arguments": {}}, id=f"{tool}-1")
    started = time.monotonic()
    response = stack.post(body, headers)
    assert time.monotonic() - started < 10.0
    assert response.status_code == 200
    assert response.json()["id"] == f"{tool}-1"
    assert response.json()["error"]["code"] == -32603
    assert len(response.content) < 4096, "nothing of the oversized result is forwarded"
    after = stack.post(touch("after", id=2), headers).json()  # the upstream was restarted
    assert after["result"]["content"][0]["text"] == "after"


_COUNTS: Final = itertools.count()


def _cancellations(stack: Stack, headers: dict[str, Any]) -> int:
    count = f"count-{next(_COUNTS)}"
    body = rpc("tools/call", {"name": "py__cancellations", "arguments": {}}, id=count)
    if headers.get("mcp-protocol-version") == MODERN:
        body = modern_rpc("tools/call", {"name": "py__cancellations", "arguments": {}}, id=count)
        headers = {**headers, **modern_headers(body)}
    answer = stack.post(body, headers).json()
    assert "result" in answer, answer
    return int(answer["result"]["content"][0]["text"])


def test_m13_cancelling_a_request_of_another_session_or_an_unknown_id_is_ignored(
    stack: Stack,
) -> None:
    mine = stack.headers("legacy", TOUCH)
    theirs = stack.headers("legacy", TOUCH)
    start = _cancellations(stack, mine)
    hang = rpc("tools/call", {"name": "py__hang", "arguments": {}}, id="h")
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(stack.post, hang, mine)
        _wait_for(lambda: _inflight(stack) >= 1, "the hang call in flight")
        for request_id in ("h", "nope", 0):
            notice = rpc("notifications/cancelled", {"requestId": request_id}, id=None)
            assert stack.post(notice, theirs).status_code == 202
        assert _cancellations(stack, mine) == start
        assert not pending.done()
        notice = rpc("notifications/cancelled", {"requestId": "h"}, id=None)
        assert stack.post(notice, mine).status_code == 202
        pending.result(timeout=10)
    _wait_for(lambda: _cancellations(stack, mine) == start + 1, "the upstream saw the cancel")


def test_m13_modern_closing_the_stream_cancels_the_upstream_call(stack: Stack) -> None:
    headers = {**BASE, "mcp-protocol-version": MODERN}
    start = _cancellations(stack, headers)
    hang = modern_rpc("tools/call", {"name": "py__hang", "arguments": {}}, id="mh")
    with httpx.Client(timeout=httpx.Timeout(10.0, read=1.0)) as short:
        request = short.build_request("POST", stack.mcp, content=hang)
        _apply(request, {**BASE, **modern_headers(hang)})
        with pytest.raises(httpx.ReadTimeout):
            short.send(request)
    _wait_for(lambda: _cancellations(stack, headers) == start + 1, "the upstream saw the cancel")


# -- upstream-originated bad input -----------------------------------------------------------


def test_u1_stray_and_duplicate_upstream_responses_are_dropped(stack: Stack) -> None:
    headers = stack.headers("legacy", TOUCH)
    body = rpc("tools/call", {"name": "ledger__wrong_id", "arguments": {}}, id="w")
    response = stack.post(body, headers).json()
    assert response["id"] == "w"
    assert response["result"]["content"][0]["text"] == "right"
    after = stack.post(touch("next", id="n"), headers).json()
    assert (after["id"], after["result"]["content"][0]["text"]) == ("n", "next")
    assert "dropped upstream response" in stack.giru.log.read_text()


def test_u2_garbage_on_stdout_fails_the_call_and_the_upstream_restarts(stack: Stack) -> None:
    headers = stack.headers("legacy", TOUCH)
    body = rpc("tools/call", {"name": "bad__garbage", "arguments": {}}, id="g")
    response = stack.post(body, headers)
    assert response.status_code == 200
    error = response.json()["error"]
    assert (response.json()["id"], error["code"]) == ("g", -32603)
    assert "this is not json" not in response.text
    echo = rpc("tools/call", {"name": "bad__echo", "arguments": {"text": "back"}}, id="e")
    assert stack.post(echo, headers).json()["result"]["content"][0]["text"] == "back"


# -- raw sockets and measurements ------------------------------------------------------------


def _address(stack: Stack) -> tuple[str, int]:
    host, port = stack.giru.base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def _connect(stack: Stack) -> socket.socket:
    return socket.create_connection(_address(stack), timeout=5.0)


def _head(stack: Stack, method: str, path: str, headers: list[tuple[str, str]]) -> bytes:
    host, port = _address(stack)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _read_response(sock: socket.socket, timeout: float) -> bytes:
    """Bytes until the first response's headers are complete (or the peer closes)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _read_all(sock: socket.socket, idle: float) -> bytes:
    """Bytes until the peer closes or stays silent for `idle` seconds."""
    sock.settimeout(idle)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data
        if not chunk:
            return data
        data += chunk


def _closed_while_dribbling(stack: Stack, seconds: float) -> bool:
    with _connect(stack) as sock:
        sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        deadline = time.monotonic() + seconds
        sock.settimeout(0.25)  # the attack's pace: one byte every 250 ms
        while time.monotonic() < deadline:
            try:
                if sock.recv(1024) == b"":
                    return True
            except TimeoutError:
                pass
            try:
                sock.sendall(b"a")
            except OSError:
                return True
    return False


def _fd_count(stack: Stack) -> int:
    return len(os.listdir(f"/proc/{stack.giru.process.pid}/fd"))


def _metric(stack: Stack, name: str) -> float:
    text = stack.http.get(stack.giru.url("/metrics")).text
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} is not exported"
    return float(match.group(1))


def _inflight(stack: Stack) -> float:
    return _metric(stack, "giru_inflight_requests")


def _resources(stack: Stack) -> tuple[float, int]:
    """(asyncio tasks, open FDs) of the Giru process; the /metrics request itself is one task."""
    return _metric(stack, "giru_asyncio_tasks"), _fd_count(stack)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)
