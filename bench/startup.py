"""`python -m bench.startup [--runs N] [--ref REF] [--out DIR]`: how long a `giru` command takes
from start to exit, for the commands that never run the gateway (issue 22: `giru --help` took
3.4 s because every command imported the server side; an API command should start in 0.3 s).

Each command runs `--runs` times (after 2 warm-up runs) as a whole process; wall time from a
monotonic clock around the child, CPU from the children's rusage. The API commands talk to a
small HTTP server in this process that answers `/api/v1/...` as the gateway would (two servers,
empty lists elsewhere); for them the wall time from the child's start to its first request
arriving there is recorded too. Measured for the work tree and, with `--ref`, for that commit's
`src/` (git archive) in the same run, alternating, so the two compare on the same machine
state. `python -c pass` is the interpreter's own floor. Writes `<out>/<date>-cli-startup.json`
and `<out>/latest.md` (default bench/results/startup/).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.machine import REPO, describe
from bench.report import write_standalone

SCENARIO = "cli-startup"
WARMUP = 2
LAUNCH = "from giru.cli.main import app; app(prog_name='giru')"
COMMANDS: dict[str, tuple[str, ...]] = {
    "giru --help": ("--help",),
    "giru version": ("version",),
    "giru get servers (API, table)": ("get", "servers"),
    "giru get servers -o json (API)": ("get", "servers", "-o", "json"),
    "giru audit list (API)": ("audit", "list"),
    "giru audit list --help": ("audit", "list", "--help"),
    "giru validate examples/quickstart/ (manifest models)": ("validate", "examples/quickstart/"),
}


_SERVERS = [
    {
        "kind": "MCPServer",
        "metadata": {"name": name, "createdAt": "2026-12-01T00:00:00Z", "resourceVersion": 1},
        "spec": {"transport": "streamable-http", "url": f"https://{name}.example/mcp"},
        "status": {"phase": "Ready", "tools": 12},
    }
    for name in ("github", "jira")
]


class _Api:
    """What the gateway's API answers to a list, and when each request arrived: the wall clock,
    and the CPU the child (`child`, the one command running) had used by then."""

    def __init__(self) -> None:
        self.child: int | None = None
        self.arrivals: list[tuple[float, float | None]] = []

    def answer(self, path: str) -> bytes:
        self.arrivals.append((time.perf_counter(), _cpu_of(self.child)))
        items = _SERVERS if path.split("?")[0] == "/api/v1/servers" else []
        return json.dumps({"items": items, "nextCursor": None}).encode()


def _cpu_of(pid: int | None) -> float | None:
    """utime + stime of a running process, from /proc (clock-tick resolution, 10 ms here)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _serving(api: _Api) -> Iterator[str]:
    """`api` on a loopback port (HTTP/1.1, keep-alive), in a thread; yields its URL."""

    class Handle(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = api.answer(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _argv(args: Sequence[str]) -> list[str]:
    """`giru ARGS` as the console script runs it (the package from PYTHONPATH when given)."""
    return [sys.executable, "-c", LAUNCH, *args]


Sample = tuple[float, float, tuple[float, float | None] | None]


def _once(argv: list[str], env: dict[str, str], api: _Api | None = None) -> Sample:
    """(wall s, CPU s, (wall s, CPU s) at the first API request or None) of one run of `argv`
    to its exit."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seen = len(api.arrivals) if api is not None else 0
    began = time.perf_counter()
    with subprocess.Popen(
        argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as child:
        if api is not None:
            api.child = child.pid
        _, stderr = child.communicate(timeout=120)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if api is None:
        return wall, cpu, None
    api.child = None
    if child.returncode != 0 or len(api.arrivals) == seen:
        raise RuntimeError(f"{argv[3:]} did not ask the API: {stderr.decode()[-300:]}")
    arrived, cpu_then = api.arrivals[seen]
    return wall, cpu, (arrived - began, cpu_then)


def _summary(samples: list[Sample]) -> dict[str, float]:
    walls = [wall * 1000 for wall, _, _ in samples]
    cpus = [cpu * 1000 for _, cpu, _ in samples]
    summary = {
        "wall_ms_median": statistics.median(walls),
        "wall_ms_min": min(walls),
        "wall_ms_max": max(walls),
        "cpu_ms_median": statistics.median(cpus),
    }
    requests = [request for _, _, request in samples if request is not None]
    if requests:
        summary["to_request_wall_ms_median"] = statistics.median(w * 1000 for w, _ in requests)
        used = [c * 1000 for _, c in requests if c is not None]
        if used:
            summary["to_request_cpu_ms_median"] = statistics.median(used)
    return summary


def _trees(ref: str | None, workdir: Path) -> dict[str, Path]:
    """The package sources to measure: the work tree, and `ref`'s when given."""
    trees = {"work tree": REPO / "src"}
    if ref is not None:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", ref, "src"], capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive.stdout, check=True)
        trees[f"git {ref}"] = workdir / "src"
    return trees


def measure(runs: int, ref: str | None) -> dict[str, Any]:
    """Every command of every tree, `runs` times each, trees alternating run by run."""
    points: list[dict[str, Any]] = []
    api = _Api()
    with tempfile.TemporaryDirectory(prefix="giru-bench-startup-") as temp, _serving(api) as url:
        trees = _trees(ref, Path(temp))
        environ = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        base = {
            **environ,
            "PYTHONPYCACHEPREFIX": str(Path(temp) / "pycache"),  # filled by the warm-up runs
            "GIRU_API_URL": url,
            "GIRU_TOKEN": "bench",
            "XDG_CONFIG_HOME": temp,
        }
        floor = [_once([sys.executable, "-c", "pass"], base) for _ in range(runs)]
        points.append({"tree": "-", "command": "python -c pass", **_summary(floor)})
        for label, args in COMMANDS.items():
            asks = api if "(API" in label else None
            samples: dict[str, list[Sample]] = {tree: [] for tree in trees}
            for index in range(WARMUP + runs):
                for tree, src in trees.items():
                    sample = _once(_argv(args), {**base, "PYTHONPATH": str(src)}, asks)
                    if index >= WARMUP:
                        samples[tree].append(sample)
            points += [
                {"tree": tree, "command": label, **_summary(taken)}
                for tree, taken in samples.items()
            ]
    setup = {
        "runs": f"{runs} per command and tree after {WARMUP} warm-up runs, trees alternating",
        "launch": f'`{sys.executable} -c "{LAUNCH}" ARGS` (what the console script runs), '
        "PYTHONPATH the tree's src/",
        "API commands": "GIRU_API_URL and GIRU_TOKEN set (no context file); a loopback HTTP/1.1 "
        "server in the bench process answers GET /api/v1/servers with two servers, other lists "
        "empty: start-up, one request, the output, exit 0",
        "wall / CPU": "monotonic clock around the child; utime+stime from RUSAGE_CHILDREN (the "
        "whole process: start-up, the request and printing the answer)",
        "to request": "API commands only: from starting the child to its first request arriving "
        "at the server, wall time and the child's CPU by then (/proc/PID/stat, 10 ms ticks)",
        "bytecode": "compiled once by the warm-up runs (PYTHONPYCACHEPREFIX in a temp dir), as "
        "on an installed system; `python -c pass` is the interpreter alone",
    }
    return {"points": points, "setup": setup}


def main() -> None:
    parser = argparse.ArgumentParser(description="giru CLI start-up time")
    parser.add_argument("--runs", type=int, default=20, help="runs per command and tree")
    parser.add_argument("--ref", help="also measure this commit's src/ (e.g. main~3)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "startup")
    args = parser.parse_args()
    result = measure(args.runs, args.ref)
    machine = describe(None, None)
    path, summary = write_standalone(args.out, SCENARIO, machine, result, "latest")
    print(summary.read_text(), flush=True)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
