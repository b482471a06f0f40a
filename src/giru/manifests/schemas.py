"""JSON Schema for each manifest kind, generated from the pydantic document models.

`python -m giru.manifests.schemas docs/schemas` writes `<kind>.json` (lowercase kind) per kind,
for editors (yaml-language-server) and other tools; the models stay the source of truth.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from giru.manifests.discovery import SHORT_FORMS, short_form
from giru.manifests.documents import API_VERSION, KINDS, parse_duration

__all__ = ["SCHEMA_BASE", "kind_schema", "main", "schema_files", "write_schemas"]

SCHEMA_BASE = "https://giru.dev/schemas/v1alpha1/"
_DURATION = {
    "anyOf": [
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h)$"},
    ],
    "description": "A duration such as 30s, 2m, 500ms, 1h or a number of seconds.",
}


class _Generator(GenerateJsonSchema):
    """Describes durations as what a manifest may write (`30s` or seconds), not as the float."""

    def function_before_schema(
        self, schema: core_schema.BeforeValidatorFunctionSchema
    ) -> JsonSchemaValue:
        if schema["function"]["function"] is parse_duration:
            return dict(_DURATION)
        if schema["function"]["function"] is short_form:  # `discovery: search`
            short = {"type": "string", "enum": list(SHORT_FORMS)}
            return {"anyOf": [short, super().function_before_schema(schema)]}
        return super().function_before_schema(schema)


def kind_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one manifest kind's documents."""
    schema = KINDS[kind].model_json_schema(
        by_alias=True, mode="validation", schema_generator=_Generator
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}{kind.lower()}.json",
        **schema,
        "title": f"{kind} ({API_VERSION})",
    }


def schema_files() -> dict[str, str]:
    """File name → JSON text, one per kind, as written to docs/schemas/."""
    return {
        f"{kind.lower()}.json": json.dumps(kind_schema(kind), indent=2, sort_keys=True) + "\n"
        for kind in KINDS
    }


def write_schemas(directory: Path) -> list[Path]:
    """Write every kind's schema into `directory` (created if needed); returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_files().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m giru.manifests.schemas DIRECTORY", file=sys.stderr)
        return 2
    for path in write_schemas(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
