"""FAULTS section 4.1 (docs/operations/faults.md: upstream MCP servers) through a real `giru run`.

Each fault is injected into one upstream while a client calls it. The client must get a JSON-RPC
error for the same id within the configured `timeouts.call` (2 s here), the other upstreams must
keep working in the same client session, and afterwards Giru must be back to its baseline:
asyncio tasks (`giru_asyncio_tasks`), in-flight requests (`giru_inflight_requests`), open FDs
(/proc/<pid>/fd, less the sockets of its OPA child: the other ends of Giru's pooled decision
connections) and child processes (none of them zombies).

Upstreams: `ledger` (stdio, records calls, has `hang`), `bad` (stdio, misbehaving.py: garbage,
exit, flood) and `web` (HTTP, faulty_http.py: hang, html, not_json, wrong_id) on a listening
socket this module owns, so the test can kill the process and start another on the same port.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import pytest

from tests.integration.gateway import (
    CLIENT,
    KEY,
    SERVERS,
    RestartableServer,
    RunningGiru,
    http_server,
    python_stdio_server,
    run_giru,
)

pytestmark = pytest.mark.integration

CALL_TIMEOUT_S: Final = 2.0
SLACK_S: Final = 1.5  # scheduling on a loaded 2-core machine
LEGACY: Final = "2025-11-25"
BASE: Final = {
    "authorization": f"Bearer {KEY}",
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
}
_TIMEOUTS: Final = "{call: 2s, callMax: 4s, connect: 10s}"


def _stdio(name: str, script: str, *args: str) -> str:
    return python_stdio_server(name, script, *args, timeouts=_TIMEOUTS)


def _http(name: str, url: str) -> str:
    return http_server(name, "streamable-http", url, timeouts=_TIMEOUTS)


class WebUpstream(RestartableServer):
    """faulty_http.py on a port that outlives the process serving it; it records calls in
    `ledger`."""

    def __init__(self, ledger: Path) -> None:
        self.ledger = ledger
        script = str(SERVERS / "faulty_http.py")
        super().__init__(lambda fd: [sys.executable, script, str(fd), str(ledger)])


@dataclass(frozen=True)
class Baseline:
    tasks: float
    inflight: float
    fds: int
    """Giru's open FDs less the sockets its OPA child holds (see `_opa_sockets`)."""
    children: int
    # What each FD is (a path, `socket:[inode]`, `pipe:[inode]`), to name a leak; not compared.
    fd_targets: tuple[str, ...] = field(default=(), compare=False, repr=False)


@dataclass
class Stack:
    giru: RunningGiru
    http: httpx.Client
    web: WebUpstream
    stdio_ledger: Path
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def session(self) -> dict[str, str]:
        init = _rpc("initialize", {"protocolVersion": LEGACY, "capabilities": {}}, id=0)
        response = self.http.post(self.giru.url("/mcp"), content=init, headers=BASE)
        assert response.status_code == 200, response.text
        headers = {
            **BASE,
            "mcp-session-id": response.headers["mcp-session-id"],
            "mcp-protocol-version": LEGACY,
        }
        notice = _rpc("notifications/initialized", None, id=None)
        assert (
            self.http.post(self.giru.url("/mcp"), content=notice, headers=headers).status_code
            == 202
        )
        return headers

    def call(
        self, headers: dict[str, str], tool: str, arguments: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any], float]:
        """(our id, the response, seconds it took) for one tools/call."""
        request_id = f"call-{next(self._ids)}"
        body = _rpc("tools/call", {"name": tool, "arguments": arguments or {}}, id=request_id)
        started = time.monotonic()
        response = self.http.post(self.giru.url("/mcp"), content=body, headers=headers)
        elapsed = time.monotonic() - started
        assert response.status_code == 200, response.text
        return request_id, _answer(response), elapsed

    def text(self, headers: dict[str, str], tool: str, arguments: dict[str, Any]) -> str:
        _, response, _ = self.call(headers, tool, arguments)
        assert "result" in response, response
        return str(response["result"]["content"][0]["text"])

    def metric(self, name: str) -> float:
        text = self.http.get(self.giru.url("/metrics")).text
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        assert match, f"{name} is not exported"
        return float(match.group(1))

    def baseline(self) -> Baseline:
        pid = self.giru.process.pid
        children = _children(pid)
        assert not [c for c, state in children if state == "Z"], "a zombie child"
        targets = _fd_targets(pid)
        return Baseline(
            tasks=self.metric("giru_asyncio_tasks"),
            inflight=self.metric("giru_inflight_requests"),
            fds=len(targets) - _opa_sockets(pid),
            children=len(children),
            fd_targets=tuple(sorted(targets)),
        )

    def warm(self, headers: dict[str, str]) -> None:
        """Every upstream connected (stdio children running), so counts are comparable."""
        assert self.text(headers, "ledger__touch", {"text": "warm"}) == "warm"
        assert self.text(headers, "bad__echo", {"text": "warm"}) == "warm"
        _wait_for(lambda: self._web_answers(headers), "the web upstream answers")

    def _web_answers(self, headers: dict[str, str]) -> bool:
        _, response, _ = self.call(headers, "web__echo", {"text": "warm"})
        return "result" in response


def _rpc(method: str, params: dict[str, Any] | None, id: Any) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    return orjson.dumps(message)


def _answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC response, whether sent as JSON or as the last SSE `data:` line."""
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        messages = [json.loads(d) for d in data if d.strip()]
        return [m for m in messages if "id" in m][-1]  # type: ignore[no-any-return]
    return response.json()  # type: ignore[no-any-return]


def _fd_targets(pid: int) -> list[str]:
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed between the listing and the read
            continue
    return targets


def _opa_sockets(pid: int) -> int:
    """The sockets Giru's OPA child holds: each is the other end of one of Giru's (its pool of
    keep-alive decision connections, which grows by one when two decisions overlap, and OPA's
    bundle polling), so Giru's FDs less these count only what is not a connection to OPA."""
    for child, _ in _children(pid):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "opa":
                return sum(t.startswith("socket:") for t in _fd_targets(child))
        except OSError:
            continue
    return 0


def _described(pid: int, target: str) -> str:
    """`target` and, for a socket, its line in /proc/<pid>/net/{tcp,tcp6,unix}."""
    inode = target.removeprefix("socket:[").removesuffix("]")
    if inode == target:
        return target
    for table in ("tcp", "tcp6", "unix"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            if inode in line.split():
                return f"{target} {table}: {' '.join(line.split())}"
    return target


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, state) of every child of `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append((int(entry.name), fields[0]))
    return found


def _child_running(pid: int, script: str) -> int:
    for child, _ in _children(pid):
        try:
            if script in Path(f"/proc/{child}/cmdline").read_bytes().decode(errors="replace"):
                return child
        except OSError:
            continue
    raise AssertionError(f"no child runs {script}")


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


def _ledger_names(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["name"] for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("faults")
    web = WebUpstream(workdir / "web.jsonl")
    stdio_ledger = workdir / "ledger.jsonl"
    manifests = "---".join(
        [
            _stdio("ledger", "ledger.py", str(stdio_ledger)),
            _stdio("bad", "misbehaving.py", "stdio"),
            _http("web", web.url),
            CLIENT,
        ]
    )
    try:
        with run_giru(manifests, workdir) as giru, httpx.Client(timeout=30.0) as http:
            yield Stack(giru, http, web, stdio_ledger)
    finally:
        web.close()


@pytest.fixture
def session(stack: Stack) -> Iterator[dict[str, str]]:
    """A warm client session; the test must leave Giru as it found it."""
    headers = stack.session()
    stack.warm(headers)
    before = _steady(stack)
    assert before.inflight == 0
    yield headers
    stack.warm(headers)  # a retired upstream comes back on its next use

    def settled() -> bool:
        # FDs may only shrink: the upstream HTTP pool can keep fewer idle connections (those to
        # OPA are not counted: one more after two decisions overlapped is not a leak).
        # Tasks too: the usage spool's commit and drain tasks come and go with traffic.
        now = stack.baseline()
        return (
            (now.inflight, now.children) == (0, before.children)
            and now.tasks <= before.tasks
            and now.fds <= before.fds
        )

    try:
        _wait_for(settled, "tasks, FDs and children back to baseline")
    except AssertionError:
        now = stack.baseline()
        pid = stack.giru.process.pid
        opened = [_described(pid, t) for t in sorted(set(now.fd_targets) - set(before.fd_targets))]
        closed = [_described(pid, t) for t in sorted(set(before.fd_targets) - set(now.fd_targets))]
        raise AssertionError(
            f"{now} != baseline {before}; FDs opened since: {opened}; closed since: {closed}"
        ) from None


def _steady(stack: Stack) -> Baseline:
    """A baseline that holds still for a moment (work the warm-up started has finished)."""
    previous = stack.baseline()
    for _ in range(50):
        time.sleep(0.1)
        now = stack.baseline()
        if now == previous:
            return now
        previous = now
    return previous


def _assert_gateway_error(request_id: str, response: dict[str, Any], elapsed: float) -> None:
    assert response["id"] == request_id
    assert response["error"]["code"] == -32603, response
    assert response["error"]["data"]["reason"]
    assert elapsed < CALL_TIMEOUT_S + SLACK_S, f"answered after {elapsed:.1f}s"


def _others_still_work(stack: Stack, headers: dict[str, str], *, skip: str) -> None:
    for tool in ("ledger__touch", "bad__echo", "web__echo"):
        if not tool.startswith(skip):
            assert stack.text(headers, tool, {"text": "still here"}) == "still here"


# -- crashes mid-call ------------------------------------------------------------------------


def _call_in_background(
    pool: ThreadPoolExecutor, stack: Stack, headers: dict[str, str], tool: str
) -> Future[tuple[str, dict[str, Any], float]]:
    return pool.submit(stack.call, headers, tool)


def test_http_upstream_killed_mid_call(stack: Stack, session: dict[str, str]) -> None:
    with ThreadPoolExecutor(1) as pool:
        pending = _call_in_background(pool, stack, session, "web__hang")
        _wait_for(lambda: _ledger_names(stack.web.ledger)[-1:] == ["hang"], "the call arrived")
        killed_at = time.monotonic()
        stack.web.stop()
        request_id, response, _ = pending.result(timeout=30)
    _assert_gateway_error(request_id, response, time.monotonic() - killed_at)
    _others_still_work(stack, session, skip="web")
    _, down, _ = stack.call(session, "web__echo", {"text": "x"})
    assert down["error"]["code"] == -32603  # the upstream is gone: a clean error, no hang
    stack.web.restart()


def test_stdio_upstream_killed_mid_call(stack: Stack, session: dict[str, str]) -> None:
    with ThreadPoolExecutor(1) as pool:
        pending = _call_in_background(pool, stack, session, "ledger__hang")
        _wait_for(lambda: _ledger_names(stack.stdio_ledger)[-1:] == ["hang"], "the call arrived")
        child = _child_running(stack.giru.process.pid, "ledger.py")
        killed_at = time.monotonic()
        os.kill(child, signal.SIGKILL)
        request_id, response, _ = pending.result(timeout=30)
    _assert_gateway_error(request_id, response, time.monotonic() - killed_at)
    _others_still_work(stack, session, skip="ledger")
    hung = _ledger_names(stack.stdio_ledger).count("hang")
    assert stack.text(session, "ledger__touch", {"text": "restarted"}) == "restarted"
    assert _ledger_names(stack.stdio_ledger).count("hang") == hung, "the call was re-sent"


@pytest.mark.parametrize("code", [0, 3])
def test_stdio_upstream_exits_mid_call(stack: Stack, session: dict[str, str], code: int) -> None:
    request_id, response, elapsed = stack.call(session, "bad__exit", {"code": code})
    _assert_gateway_error(request_id, response, elapsed)
    _others_still_work(stack, session, skip="bad")


# -- hangs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["ledger__hang", "web__hang"], ids=["stdio", "http"])
def test_hung_upstream_is_answered_within_the_call_timeout(
    stack: Stack, session: dict[str, str], tool: str
) -> None:
    request_id, response, elapsed = stack.call(session, tool)
    _assert_gateway_error(request_id, response, elapsed)
    assert elapsed >= CALL_TIMEOUT_S * 0.9, "answered before the deadline: not a timeout"
    assert response["error"]["data"]["reason"] == "upstream_timeout"
    _others_still_work(stack, session, skip="")


# -- garbage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["bad__garbage", "web__html", "web__not_json", "web__wrong_id"])
def test_garbage_from_the_upstream_is_an_error_for_the_same_id(
    stack: Stack, session: dict[str, str], tool: str
) -> None:
    request_id, response, elapsed = stack.call(session, tool)
    _assert_gateway_error(request_id, response, elapsed)
    text = json.dumps(response)
    assert "<html>" not in text, "unparsed bytes forwarded"
    assert "this is not json" not in text, "unparsed bytes forwarded"
    _others_still_work(stack, session, skip="")


# -- stderr ----------------------------------------------------------------------------------


def test_stdio_stderr_flood_is_not_an_error(stack: Stack, session: dict[str, str]) -> None:
    for _ in range(3):
        assert stack.text(session, "bad__flood", {}) == "flooded"
    _others_still_work(stack, session, skip="")
