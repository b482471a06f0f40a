"""The published JSON Schemas: generated from the models, current, and true to the examples."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from giru.manifests.documents import KINDS
from giru.manifests.schemas import kind_schema, main, schema_files

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((REPO / "examples").glob("**/*.yaml"))


def test_docs_schemas_are_up_to_date() -> None:
    for name, text in schema_files().items():
        path = REPO / "docs" / "schemas" / name
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run `python -m giru.manifests.schemas docs/schemas`"
        )


def test_there_is_one_schema_per_kind() -> None:
    assert sorted(schema_files()) == sorted(f"{kind.lower()}.json" for kind in KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_schema_is_valid_draft_2020_12(kind: str) -> None:
    schema = kind_schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["kind"]["const"] == kind
    assert schema["additionalProperties"] is False


def _rfc3339(value: object) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"not JSON: {value!r}")
    return value.isoformat().replace("+00:00", "Z")


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in EXAMPLES:
        for index, document in enumerate(yaml.safe_load_all(path.read_text()), start=1):
            if isinstance(document, dict) and document.get("kind") in KINDS:
                # as a YAML-to-JSON tool would: YAML timestamps become RFC 3339 strings
                as_json = json.loads(json.dumps(document, default=_rfc3339))
                found.append((f"{path.relative_to(REPO)}:{index}", as_json))
    return found


@pytest.mark.parametrize(("where", "document"), example_documents(), ids=lambda v: str(v))
def test_every_example_manifest_matches_its_schema(where: str, document: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(kind_schema(document["kind"]))
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == [], where


@pytest.mark.parametrize(
    ("timeouts", "valid"),
    [
        ({"call": "30s"}, True),
        ({"call": 45}, True),
        ({"call": "2500ms"}, True),
        ({"call": "30"}, False),
        ({"call": 0}, False),
        ({"call": "1d"}, False),
    ],
)
def test_durations_are_described_as_a_manifest_writes_them(
    timeouts: dict[str, Any], valid: bool
) -> None:
    document = {
        "apiVersion": "giru.ai/v1alpha1",
        "kind": "MCPServer",
        "metadata": {"name": "s"},
        "spec": {"transport": "stdio", "command": "x", "timeouts": timeouts},
    }
    assert jsonschema.Draft202012Validator(kind_schema("MCPServer")).is_valid(document) is valid


def test_main_writes_one_file_per_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "out")]) == 0
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted(schema_files())
    assert json.loads((tmp_path / "out" / "client.json").read_text())["title"].startswith("Client")
    assert len(capsys.readouterr().out.splitlines()) == len(KINDS)


def test_main_without_a_directory_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
