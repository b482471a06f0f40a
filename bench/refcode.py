"""Another revision's Giru code beside the work tree's, in one process: what the diagnostic
benches (bench.envelope, bench.drains, bench.arguments, bench.policy_input, bench.hot_path)
time REV against.

`git archive REV` is unpacked into a temporary directory and the modules asked for are loaded
from there under `ref_giru.<name>`; what they import from `giru` stays the work tree's.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from bench.fleet import REPO

__all__ = ["ref_modules", "ref_source"]


def ref_source(ref: str, workdir: Path, path: str = "src/giru") -> Path:
    """REV's `src/giru` (only `path` below it unpacked) under `workdir`."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, path],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "src" / "giru"


def ref_modules(ref: str, workdir: Path, names: Sequence[str]) -> list[ModuleType]:
    """REV's `giru.<name>` for each dotted name (e.g. "mcp.jsonrpc"), loaded as
    `ref_giru.<name>`."""
    root = ref_source(ref, workdir)
    modules = []
    for name in names:
        path = root.joinpath(*name.split(".")).with_suffix(".py")
        spec = importlib.util.spec_from_file_location(f"ref_giru.{name}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules
