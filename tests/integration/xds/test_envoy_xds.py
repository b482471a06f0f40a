"""A real Envoy 1.40 configured by Giru's ADS server and nothing else: it accepts every resource
type (no NACK), serves a new virtual server's route within a second, keeps serving the last
config while the control plane is away, and takes a rotated certificate over SDS without a
restart."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from giru.settings import Settings, XdsSettings
from giru.xds.bootstrap import bootstrap
from giru.xds.edge import EdgeControl
from giru.xds.resources import TYPE_ORDER
from giru.xds.topology import Address
from tests.peers import LOOPBACK, REPO_ROOT, free_port
from tests.stack import envoy_binary

pytestmark = pytest.mark.integration


class Edge:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.xds, self.admin, self.http, self.https = (free_port() for _ in range(4))
        self.tls = root / "tls"
        subprocess.run(
            ["bash", str(REPO_ROOT / "scripts" / "dev-ca.sh"), str(self.tls)], check=True
        )
        self.settings = Settings(
            listen=f"{LOOPBACK}:{free_port()}",
            xds=XdsSettings.model_validate(
                {
                    "listen": f"{LOOPBACK}:{self.xds}",
                    "workers": [f"w1={LOOPBACK}:{free_port()}"],
                    "edge_listen": f"{LOOPBACK}:{self.http}",
                    "tls_listen": f"{LOOPBACK}:{self.https}",
                    "tls_cert": str(self.tls / "edge.pem"),
                    "tls_key": str(self.tls / "edge.key"),
                    "access_log": str(root / "access.log"),
                }
            ),
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start_envoy(self) -> None:
        config = self.root / "envoy.yaml"
        config.write_text(
            yaml.safe_dump(bootstrap(Address(LOOPBACK, self.xds), Address(LOOPBACK, self.admin)))
        )
        with (self.root / "envoy.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(envoy_binary()),
                    "-c",
                    str(config),
                    "--disable-hot-restart",
                    "--concurrency",
                    "1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop_envoy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def config_dump(self) -> dict[str, Any]:
        answer = httpx.get(f"http://{LOOPBACK}:{self.admin}/config_dump", timeout=5)
        answer.raise_for_status()
        dump: dict[str, Any] = answer.json()
        return dump

    def route_paths(self) -> set[str]:
        paths: set[str] = set()
        for config in self.config_dump()["configs"]:
            for dynamic in config.get("dynamic_route_configs", []):
                for host in dynamic["route_config"]["virtual_hosts"]:
                    paths |= {r["match"].get("path", "") for r in host["routes"]}
        return paths

    def peer_serial(self) -> int:
        context = ssl.create_default_context(cafile=str(self.tls / "ca.pem"))
        with (
            socket.create_connection((LOOPBACK, self.https), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        from cryptography import x509

        return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    edge = Edge(tmp_path)
    try:
        yield edge
    finally:
        edge.stop_envoy()
        if edge.process is not None and edge.process.returncode not in (0, None, -15):
            print((tmp_path / "envoy.log").read_text()[-3000:])


@pytest.fixture
async def control(edge: Edge) -> AsyncIterator[EdgeControl]:
    async with AsyncExitStack() as stack:
        control = await stack.enter_async_context(
            EdgeControl.serving(edge.settings, ["first"], registry=None)
        )
        edge.start_envoy()
        await _until(lambda: _all_acked(control), "Envoy ACKs every resource type", 30)
        yield control


async def _until(check: Any, what: str, limit_s: float) -> float:
    started = time.monotonic()
    while not await asyncio.to_thread(check):
        if time.monotonic() - started > limit_s:
            pytest.fail(f"not within {limit_s}s: {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def _all_acked(control: EdgeControl) -> bool:
    snapshot = control.ads.snapshot
    status = control.ads.status()
    if snapshot is None or len(status) != 1:
        return False
    types = status[0]["types"]
    return all(types.get(t, {}).get("acked") == snapshot.versions[t] for t in TYPE_ORDER)


async def test_envoy_takes_every_resource_type_without_a_nack(
    edge: Edge, control: EdgeControl
) -> None:
    status = control.ads.status()
    assert all(not entry.get("nack") for entry in status[0]["types"].values()), status
    dump = json.dumps(edge.config_dump())
    for name in ("giru_http", "giru_https", "giru_workers", "giru_session_w1", "giru_edge_cert"):
        assert name in dump
    assert "/mcp/first" in edge.route_paths()
    answer = await asyncio.to_thread(httpx.get, f"http://{LOOPBACK}:{edge.http}/nowhere")
    assert answer.status_code == 404
    assert answer.json() == {"error": "not found"}


async def test_a_new_virtual_server_is_routed_within_a_second(
    edge: Edge, control: EdgeControl
) -> None:
    assert "/mcp/second" not in edge.route_paths()
    control.update(["first", "second"])
    took = await _until(lambda: "/mcp/second" in edge.route_paths(), "the new route", 5)
    print(f"\n  new virtual server in Envoy's config_dump after {took * 1000:.0f} ms")
    assert took < 1.0
    control.update(["second"])
    await _until(lambda: "/mcp/first" not in edge.route_paths(), "the route removed", 5)


async def test_envoy_keeps_the_last_config_while_the_control_plane_is_away(
    edge: Edge, tmp_path: Path
) -> None:
    async with EdgeControl.serving(edge.settings, ["kept"], registry=None) as control:
        edge.start_envoy()
        await _until(lambda: _all_acked(control), "Envoy ACKs every resource type", 30)
    # The ADS server is gone: Envoy still has its listeners and routes and still answers.
    await asyncio.sleep(1.5)
    assert "/mcp/kept" in edge.route_paths()
    answer = await asyncio.to_thread(httpx.get, f"http://{LOOPBACK}:{edge.http}/nowhere")
    assert answer.status_code == 404
    # When it comes back, Envoy reconnects and takes the new config.
    async with EdgeControl.serving(edge.settings, ["kept", "later"], registry=None):
        await _until(lambda: "/mcp/later" in edge.route_paths(), "reconnect and update", 30)


async def test_a_rotated_certificate_is_served_without_a_restart(
    edge: Edge, control: EdgeControl
) -> None:
    before = await asyncio.to_thread(edge.peer_serial)
    pid = edge.process.pid if edge.process else 0
    rotate = ["bash", str(REPO_ROOT / "scripts" / "dev-ca.sh"), str(edge.tls), "--rotate"]
    await asyncio.to_thread(subprocess.run, rotate, check=True)
    assert control.check_tls()
    await _until(lambda: edge.peer_serial() != before, "the new certificate on the wire", 10)
    assert edge.process is not None
    assert edge.process.pid == pid
    assert edge.process.poll() is None  # the same Envoy, never restarted


async def test_a_broken_certificate_keeps_the_last_good_one(
    edge: Edge, control: EdgeControl
) -> None:
    before = await asyncio.to_thread(edge.peer_serial)
    version = control.ads.snapshot.versions if control.ads.snapshot else None
    shutil.copy(edge.tls / "ca.key", edge.tls / "edge.key")  # a key that does not match
    assert not control.check_tls()
    assert control.ads.snapshot is not None
    assert control.ads.snapshot.versions == version
    assert await asyncio.to_thread(edge.peer_serial) == before
