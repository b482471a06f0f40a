"""`giru --help` and the commands that only talk to the API do not load the server side."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SERVER_SIDE = ("giru.api", "giru.app", "fastapi", "sqlalchemy", "aiohttp", "uvicorn")


def _imported_by(statement: str) -> set[str]:
    probe = f"import sys\n{statement}\nimport json; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_cli_does_not_import_the_server_side() -> None:
    loaded = _imported_by("import giru.cli.main")
    assert {
        name for name in loaded if name.split(".")[0] in SERVER_SIDE or name in SERVER_SIDE
    } == set()
    # nor what only some commands need: the HTTP client, the manifest models, the settings
    assert not {"httpx", "pydantic", "giru.manifests", "giru.settings"} & loaded


@pytest.mark.parametrize("argv", [["--help"], ["get", "--help"], ["audit", "list", "--help"]])
def test_help_runs_without_the_server_side(argv: list[str]) -> None:
    loaded = _imported_by(
        "from giru.cli.main import app\n"
        f"try:\n    app({argv!r}, prog_name='giru')\nexcept SystemExit:\n    pass"
    )
    # (typer itself may load pydantic to describe some options)
    assert not {"giru.api", "fastapi", "sqlalchemy", "aiohttp", "httpx", "giru.settings"} & loaded
