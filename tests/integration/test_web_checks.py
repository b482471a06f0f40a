"""The web UI's own checks: types (svelte-check), lint (ESLint), component tests (Vitest) and
the generated API client still matching the OpenAPI document it was generated from."""

from __future__ import annotations

import pytest

from tests.web import require_web, run_node

pytestmark = pytest.mark.integration


def _passes(argv: list[str]) -> str:
    require_web()
    result = run_node(argv)
    output = f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"{' '.join(argv)}:\n{output}"
    return result.stdout


def test_the_ui_type_checks_without_warnings() -> None:
    _passes(["node_modules/@sveltejs/kit/svelte-kit.js", "sync"])
    out = _passes(
        [
            "node_modules/svelte-check/bin/svelte-check",
            "--tsconfig",
            "./tsconfig.json",
            "--fail-on-warnings",
        ]
    )
    assert "0 errors and 0 warnings" in out


def test_the_ui_is_lint_clean() -> None:
    _passes(["node_modules/eslint/bin/eslint.js", "--max-warnings", "0", "."])


def test_the_ui_component_tests_pass() -> None:
    out = _passes(["node_modules/vitest/vitest.mjs", "run"])
    assert " passed" in out


def test_the_typed_client_is_generated_from_the_committed_openapi_document() -> None:
    _passes(
        [
            "node_modules/openapi-typescript/bin/cli.js",
            "src/lib/api/openapi.json",
            "-o",
            "src/lib/api/schema.d.ts",
            "--check",
        ]
    )
