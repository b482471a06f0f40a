"""The machine description recorded with every result: CPU, cores, RAM, kernel, versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from giru.xds.bootstrap import find_envoy

__all__ = ["describe"]

REPO = Path(__file__).resolve().parents[1]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _run(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "unavailable"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""


def _git_rev(ref: str | None) -> str:
    if ref is not None:
        return f"git {ref} = {_run(['git', '-C', str(REPO), 'rev-parse', '--short', ref])}"
    rev = _run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = _run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"])
    return f"work tree at {rev}{' + uncommitted changes in src/' if dirty else ''}"


def _opa_version() -> str:
    local = REPO / ".tools" / "bin" / "opa"
    binary = str(local) if local.exists() else "opa"
    return _run([binary, "version"]).removeprefix("Version: ") or "unavailable"


def _envoy_version() -> str:
    binary = find_envoy()
    if binary is None:
        return "not installed"
    line = _run([str(binary), "--version"])  # "<path>  version: <sha>/1.40.0/Clean/RELEASE/…"
    fields = line.rpartition("version: ")[2].split("/")
    return fields[1] if len(fields) > 1 else line


def describe(contextforge_python: Path | None, giru_ref: str | None = None) -> dict[str, Any]:
    cf_version = "not installed"
    if contextforge_python is not None and contextforge_python.exists():
        cf_version = _run(
            [
                str(contextforge_python),
                "-c",
                "import importlib.metadata as m; print(m.version('mcp-contextforge-gateway'))",
            ]
        )
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _mem_gib(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "giru": f"{importlib.metadata.version('giru')} ({_git_rev(giru_ref)})",
        "contextforge": cf_version,
        "wrk": _run(["wrk", "--version"]).split(" [")[0],
        "opa": _opa_version(),
        "envoy": _envoy_version(),
        "aiohttp": importlib.metadata.version("aiohttp"),
        "uvloop": importlib.metadata.version("uvloop"),
        # a shared 2-core machine: other work running next to the bench shows up here
        "load average at start": ", ".join(f"{load:.2f}" for load in os.getloadavg()),
    }
