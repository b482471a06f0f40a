"""The Dockerfile: hadolint finds nothing; the final stage runs as a non-root user without build
tools, with a health check and OCI labels; the build context holds only what the image needs.
(Its entry commands are checked against giru.deployment in test_one_source.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.rendering import Dockerfile
from tests.peers import REPO_ROOT

pytestmark = pytest.mark.integration

DOCKERFILE = REPO_ROOT / "Dockerfile"


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_final_stage_is_non_root_and_has_a_health_check_and_labels() -> None:
    text = DOCKERFILE.read_text()
    final = text[text.rindex("\nFROM ") :]
    assert Dockerfile.read().user == "10001:10001"
    assert "HEALTHCHECK" in final
    for label in ("title", "licenses", "version", "source"):
        assert f"org.opencontainers.image.{label}=" in final
    assert "uv sync" not in final  # no build tools: uv stays in the build stage
    assert "COPY --from=build /app/.venv /app/.venv" in final
    assert "COPY --from=web /build/src/giru/ui/ src/giru/ui/" in text  # the web UI


def test_the_build_context_holds_only_what_the_image_needs() -> None:
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*")] == "*"  # everything is excluded, then allowed back
    allowed = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "src", "policies", "web"}
    assert {"src/giru/ui", "web/node_modules"} <= set(ignored)  # built in the image
