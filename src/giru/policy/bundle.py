"""The OPA bundle Giru serves: the Rego modules of the policy directories and `data.giru`.

A bundle is a gzipped tar with `.manifest` (revision, roots), every non-test `*.rego` file of
the policy directories, and one `data.json` holding `{"giru": {"revision": …, "bindings": …}}`.
Pack default data (`<dir>/<pack>/data.json`, shaped `{"<pack>": {…}}`) is not shipped as OPA
data: Giru merges it into each binding (see `giru.policy.bindings`). The revision is a content
hash, so the same sources and configuration always give the same revision and bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

__all__ = [
    "CHECKOUT",
    "Bundle",
    "PolicySources",
    "build_bundle",
    "read_sources",
    "shipped_policies",
]

CHECKOUT: Final = Path(__file__).resolve().parents[3]
"""The source checkout this package runs from (shipped policies, `.tools/` of `make peers`)."""
FRAMEWORK: Final = frozenset({"giru", "lib"})
"""Directories of the shipped tree that are not packs (the decision entry point, helpers)."""
_PACKAGE: Final = re.compile(r"^package[ \t]+(\S+)", re.MULTILINE)
_TOPIC: Final = re.compile(r"giru\.packs\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")


def shipped_policies() -> Path | None:
    """The policy packs shipped with Giru (`<checkout>/policies/`), when this is a checkout."""
    path = CHECKOUT / "policies"
    return path if path.is_dir() else None


@dataclass(frozen=True, slots=True)
class PolicySources:
    """What the policy directories hold: modules by bundle path, packs and their defaults."""

    modules: Mapping[str, str]
    packs: frozenset[str]
    defaults: Mapping[str, Mapping[str, Any]]
    topics: tuple[tuple[str, str], ...] | None = ()
    """The `giru.packs.<pack>.<topic>` packages, sorted; None when a package under giru.packs
    has another shape (then no topic list can be trusted to be complete)."""


@dataclass(frozen=True, slots=True)
class Bundle:
    revision: str
    archive: bytes
    packs: frozenset[str]


def read_sources(directories: Sequence[Path]) -> PolicySources:
    """Read every directory in order; a later directory's file replaces an earlier one's at the
    same relative path (a user directory can override a shipped module)."""
    modules: dict[str, str] = {}
    packs: set[str] = set()
    defaults: dict[str, dict[str, Any]] = {}
    for directory in directories:
        if not directory.is_dir():
            raise FileNotFoundError(f"policy directory {directory} does not exist")
        for path in sorted(directory.rglob("*.rego")):
            relative = path.relative_to(directory).as_posix()
            if path.name.endswith("_test.rego") or _hidden(relative):
                continue
            modules[relative] = path.read_text(encoding="utf-8")
            top = relative.split("/", 1)[0]
            if "/" in relative and top not in FRAMEWORK:
                packs.add(top)
        for path in sorted(directory.glob("*/data.json")):
            pack = path.parent.name
            loaded = orjson.loads(path.read_bytes())
            if isinstance(loaded, dict) and isinstance(loaded.get(pack), dict):
                defaults[pack] = loaded[pack]
    return PolicySources(modules, frozenset(packs), defaults, _topics(modules.values()))


def _topics(texts: Iterable[str]) -> tuple[tuple[str, str], ...] | None:
    found: set[tuple[str, str]] = set()
    for text in texts:
        for package in _PACKAGE.findall(text):
            if package in ("giru", "giru.packs"):  # rules with ref heads could land in packs
                return None
            if not package.startswith(("giru.packs.", "giru.packs[")):
                continue
            matched = _TOPIC.fullmatch(package)
            if matched is None:
                return None
            found.add((matched[1], matched[2]))
    return tuple(sorted(found))


def build_bundle(sources: PolicySources, bindings: Mapping[str, Any]) -> Bundle:
    """The bundle for these modules and bindings (deterministic bytes)."""
    digest = hashlib.sha256()
    for name in sorted(sources.modules):
        digest.update(name.encode() + b"\0" + sources.modules[name].encode() + b"\0")
    digest.update(orjson.dumps(bindings, option=orjson.OPT_SORT_KEYS))
    revision = digest.hexdigest()[:20]
    data = {"giru": {"revision": revision, "bindings": bindings}}
    files: list[tuple[str, bytes]] = [
        (".manifest", orjson.dumps({"revision": revision, "roots": [""]})),
        ("data.json", orjson.dumps(data, option=orjson.OPT_SORT_KEYS)),
    ]
    files += [(name, sources.modules[name].encode()) for name in sorted(sources.modules)]
    return Bundle(revision, _targz(files), sources.packs)


def _targz(files: Sequence[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files:
            info = tarfile.TarInfo("/" + name)
            info.size, info.mtime, info.mode = len(content), 0, 0o644
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), mtime=0)


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split("/"))
