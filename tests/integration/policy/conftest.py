"""A real OPA serving the shipped packs, and policy engines whose bindings it decides with.

One `opa run --server` per session on a unix socket, loaded with the non-test modules of
`policies/`; each engine's configuration is compiled into bindings by Giru and written to
`data.giru` through OPA's data API (what a bundle activation does, without a restart).
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from giru.manifests.config import Config
from giru.policy import PolicyEngine, find_opa
from giru.policy.bundle import read_sources, shipped_policies
from tests.integration.gateway import wait_until


class Opa:
    def __init__(self, socket_path: Path) -> None:
        self.url = f"unix://{socket_path}"
        self.socket_path = socket_path

    def put(self, path: str, document: object) -> None:
        body = orjson.dumps(document)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(self.socket_path))
            head = f"PUT /v1/data/{path} HTTP/1.1\r\nHost: opa\r\nContent-Length: {len(body)}\r\n"
            sock.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 204"), answer[:200]

    def engine(
        self, config: Config, *, fast_path: bool = True, timeout_s: float = 10
    ) -> PolicyEngine:
        """An engine deciding with this OPA, its bindings loaded into it."""
        shipped = shipped_policies()
        assert shipped is not None
        engine = PolicyEngine(
            [shipped],
            opa_url=self.url,
            opa_binary=None,
            bundle_url="",
            timeout_s=timeout_s,
            fast_path=fast_path,
        )
        engine.sources = read_sources(engine.directories)
        engine.reload(config)
        assert engine.bundle is not None
        self.put("giru", {"revision": engine.bundle.revision, "bindings": engine.bindings})
        return engine


def _connectable(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


@pytest.fixture(scope="session")
def opa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opa]:
    workdir = tmp_path_factory.mktemp("opa")
    shipped = shipped_policies()
    assert shipped is not None
    for name, text in read_sources([shipped]).modules.items():
        (workdir / "policies" / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / "policies" / name).write_text(text)
    sock = workdir / "opa.sock"
    argv = [str(find_opa()), "run", "--server", "--addr", f"unix://{sock}"]
    argv += ["--log-level", "error", "--skip-version-check", str(workdir / "policies")]
    log = (workdir / "opa.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_until(lambda: process.poll() is not None or _connectable(sock), "OPA listens", 30)
        assert process.poll() is None, (workdir / "opa.log").read_text()
        yield Opa(sock)
    finally:
        process.terminate()
        process.wait(10)
        log.close()
