"""`giru --help` and the commands that only talk to the API do not load the server side."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SERVER_SIDE = ("giru.api", "giru.app", "fastapi", "sqlalchemy", "aiohttp", "uvicorn")
# What an API command has no use for: the server side, an HTTP library, the models, rich, yaml
# (without a context file: GIRU_API_URL and GIRU_TOKEN say where to connect).
NOT_FOR_AN_API_COMMAND = {
    *SERVER_SIDE,
    "httpx",
    "httpcore",
    "pydantic",
    "pydantic_core",
    "rich",
    "pygments",
    "yaml",
    "giru.manifests",
    "giru.settings",
}


def _imported_by(statement: str, env: dict[str, str] | None = None) -> set[str]:
    probe = f"import sys\n{statement}\nimport json; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def _packages(modules: set[str]) -> set[str]:
    """Each module and the packages above it (`a.b.c` -> a, a.b, a.b.c)."""
    parts = (name.split(".") for name in modules)
    return {".".join(split[: end + 1]) for split in parts for end in range(len(split))}


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
    assert not NOT_FOR_AN_API_COMMAND & _packages(loaded)


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "servers"],
        ["server", "list", "-o", "json"],
        ["client", "get", "ops"],
        ["audit", "list"],
        ["usage"],
        ["whoami"],
    ],
)
def test_an_api_command_loads_neither_the_server_side_nor_an_http_library(
    argv: list[str], tmp_path: Path
) -> None:
    """Up to the request (refused here: nothing listens), then the error and exit 1."""
    with socket.socket() as unused:  # bound, never listening: the connect is refused at once
        unused.bind(("127.0.0.1", 0))
        env = {
            **os.environ,
            "GIRU_API_URL": f"http://127.0.0.1:{unused.getsockname()[1]}",
            "GIRU_TOKEN": "giru_test",
            "XDG_CONFIG_HOME": str(tmp_path),
        }
        loaded = _imported_by(
            "from giru.cli.main import app\n"
            f"try:\n    app({argv!r}, prog_name='giru')\nexcept SystemExit as exit:\n"
            "    assert exit.code == 1, exit.code\n"
            "assert 'http.client' in sys.modules  # it got as far as the request",
            env,
        )
    assert NOT_FOR_AN_API_COMMAND & _packages(loaded) == set()
