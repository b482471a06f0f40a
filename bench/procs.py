"""Processes under test: start, pin to a core, wait until ready, read CPU time and RSS, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "CLK_TCK",
    "Proc",
    "cpu_seconds",
    "free_port",
    "pinned",
    "rss_kb",
    "start",
    "tree",
    "wait_http",
]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(cpus: set[int] | None) -> Callable[[], None] | None:
    """A `preexec_fn` pinning the child (and so its threads and children) to `cpus`."""
    if not cpus:
        return None
    chosen = (cpus & set(range(os.cpu_count() or 1))) or set(range(os.cpu_count() or 1))

    def pin() -> None:
        os.setsid()
        os.sched_setaffinity(0, chosen)

    return pin


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def start(
    name: str,
    argv: Sequence[str],
    logdir: Path,
    *,
    cpus: set[int] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Start `argv` in its own process group (so `stop` ends its children too)."""
    log = logdir / f"{name}.log"
    pin = pinned(cpus)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(argv),
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            preexec_fn=pin,
            start_new_session=pin is None,
        )
    return Proc(name, process, log)


def wait_http(proc: Proc, url: str, timeout: float = 60.0, ok: Sequence[int] = (200,)) -> None:
    """Poll `url` until it answers with a status in `ok`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=1.0).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} not ready after {timeout}s:\n{proc.tail()}")


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn / gunicorn style workers count as the gateway)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its live descendants, in seconds (from /proc/<pid>/stat)."""
    ticks = 0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / CLK_TCK


def rss_kb(pid: int) -> int:
    """Resident set size of `pid` and its descendants, in KiB (VmRSS)."""
    total = 0
    for member in tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total
