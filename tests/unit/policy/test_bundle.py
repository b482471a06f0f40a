"""The OPA bundle Giru serves: deterministic, test files and pack data left out."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from giru.policy.bundle import build_bundle, read_sources


def _tree(root: Path) -> Path:
    (root / "giru").mkdir(parents=True)
    (root / "giru" / "decision.rego").write_text("package giru.decision\n")
    (root / "pci_dss").mkdir()
    (root / "pci_dss" / "rules.rego").write_text("package pci_dss\n")
    (root / "pci_dss" / "rules_test.rego").write_text("package pci_dss_test\n")
    (root / "pci_dss" / "data.json").write_text(json.dumps({"pci_dss": {"mask_results": True}}))
    return root


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_sources_hold_modules_packs_and_pack_defaults(tmp_path: Path) -> None:
    sources = read_sources([_tree(tmp_path)])
    assert sorted(sources.modules) == ["giru/decision.rego", "pci_dss/rules.rego"]
    assert sources.packs == {"pci_dss"}
    assert sources.defaults == {"pci_dss": {"mask_results": True}}


def test_the_bundle_has_the_manifest_modules_and_giru_data(tmp_path: Path) -> None:
    bundle = build_bundle(read_sources([_tree(tmp_path)]), {"k": {"packs": ["core"], "data": {}}})
    members = _members(bundle.archive)
    assert sorted(members) == [
        "/.manifest",
        "/data.json",
        "/giru/decision.rego",
        "/pci_dss/rules.rego",
    ]
    assert json.loads(members["/.manifest"])["revision"] == bundle.revision
    data = json.loads(members["/data.json"])
    assert data == {
        "giru": {"revision": bundle.revision, "bindings": {"k": {"packs": ["core"], "data": {}}}}
    }


def test_same_inputs_same_bytes_and_any_change_a_new_revision(tmp_path: Path) -> None:
    sources = read_sources([_tree(tmp_path)])
    first, again = build_bundle(sources, {}), build_bundle(sources, {})
    assert first.archive == again.archive
    assert build_bundle(sources, {"x": {}}).revision != first.revision


def test_a_later_directory_overrides_a_module_at_the_same_path(tmp_path: Path) -> None:
    shipped = _tree(tmp_path / "shipped")
    user = tmp_path / "user" / "pci_dss"
    user.mkdir(parents=True)
    (user / "rules.rego").write_text("package pci_dss\n# site rules\n")
    sources = read_sources([shipped, tmp_path / "user"])
    assert sources.modules["pci_dss/rules.rego"].endswith("# site rules\n")


def test_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_sources([tmp_path / "nope"])


def test_topics_are_the_packages_under_giru_packs(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "a.rego").write_text("package giru.packs.core.access\n")
    (tmp_path / "core" / "b.rego").write_text("# x\npackage giru.packs.core.limits\n")
    (tmp_path / "core" / "b_test.rego").write_text("package giru.packs.core.limits_test\n")
    (tmp_path / "lib.rego").write_text("package giru.lib.call\n")
    assert read_sources([tmp_path]).topics == (("core", "access"), ("core", "limits"))


@pytest.mark.parametrize(
    "package", ["giru.packs.core", "giru.packs", "giru", 'giru.packs["x-y"].t', "giru.packs.a.b.c"]
)
def test_no_topic_list_when_a_package_could_put_rules_elsewhere_in_packs(
    tmp_path: Path, package: str
) -> None:
    (tmp_path / "x.rego").write_text(f"package {package}\n")
    assert read_sources([tmp_path]).topics is None
