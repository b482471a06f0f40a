"""Giru's image built for real (scripts/image.sh: a debootstrap base, `buildah bud` of the
Dockerfile) and run: /healthz, /readyz, the web UI and one MCP tools/call through it, as the
image's user.

Opt-in (GIRU_IMAGE_TESTS=1, `make image-test`; GIRU_IMAGE=TAG tests an image built before): the
build takes 4 to 9 minutes on a busy 2-core machine (25 more for the base the first time), too
long for `make test`'s budget.

The container runs with `buildah run --isolation chroot` on the host network. `podman run` (and
runc) fail on these machines before the process starts: `crun: setrlimit RLIMIT_NOFILE:
Operation not permitted: OCI permission denied` (with `--ulimit nofile=…`: the same for
RLIMIT_NPROC); chroot isolation sets no rlimits. The image's own filesystem, user, environment
and entry command are used; only namespaces and cgroups are the runtime's, not tested here.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.rendering import Dockerfile
from tests.e2e.calls import tool_call
from tests.peers import REPO_ROOT, TOOLS, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(4000),  # the build
    pytest.mark.skipif(
        os.environ.get("GIRU_IMAGE_TESTS") != "1",
        reason="builds the image for real (4-9 min): GIRU_IMAGE_TESTS=1 or `make image-test`",
    ),
]

TAG = "localhost/giru:test"
KEY = "image-key-0123456789"
BUILDAH = ["buildah", "--storage-driver", "vfs"]


@pytest.fixture(scope="module")
def image() -> str:
    """The image built now by scripts/image.sh, or the one named by GIRU_IMAGE (built before)."""
    if os.environ.get("GIRU_IMAGE"):
        return os.environ["GIRU_IMAGE"]
    script = REPO_ROOT / "scripts" / "image.sh"
    subprocess.run(["bash", str(script), TAG], check=True, timeout=3600)
    return TAG


MANIFESTS = """
apiVersion: giru.ai/v1alpha1
kind: MCPServer
metadata: {{name: fixture}}
spec: {{transport: streamable-http, url: "{url}"}}
---
apiVersion: giru.ai/v1alpha1
kind: VirtualServer
metadata: {{name: fixture}}
spec: {{servers: [fixture], prefix: false, auth: apiKey}}
---
apiVersion: giru.ai/v1alpha1
kind: Client
metadata: {{name: image}}
spec: {{apiKeyEnv: IMAGE_KEY, servers: ["*"]}}
"""


@pytest.fixture(scope="module")
def giru(
    image: str, go_fixture_modern: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("image-run")
    (root / "manifests").mkdir()
    (root / "manifests" / "giru.yaml").write_text(MANIFESTS.format(url=go_fixture_modern))
    (root / "data").mkdir()
    (root / "data").chmod(0o777)  # the image's user (10001) writes its store and spools there
    made = subprocess.run([*BUILDAH, "from", image], check=True, capture_output=True, text=True)
    container = made.stdout.split()[-1]
    port = free_port()
    log = (root / "giru.log").open("wb")
    process = subprocess.Popen(
        _run_argv(container, root, port),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, root / "giru.log")
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        process.wait(timeout=30)
        log.close()
        subprocess.run([*BUILDAH, "rm", container], check=False, capture_output=True)


def _run_argv(container: str, root: Path, port: int) -> list[str]:
    """`buildah run` of the image's entry command as a control plane with its manifests."""
    env = {
        "IMAGE_KEY": KEY,
        "GIRU_DATABASE_URL": "sqlite+aiosqlite:////var/lib/giru/giru.db",
        "GIRU_KEY_PEPPER": "image-test-pepper-0123456789",
    }
    mounts = {
        root / "manifests": "/etc/giru/manifests:ro",
        root / "data": "/var/lib/giru",
        # The managed OPA child: the image has none (deployments run OPA's own image).
        TOOLS.bin / "opa": "/usr/local/bin/opa:ro",
    }
    command = [*Dockerfile.read().entrypoint, "run", "--listen", f"127.0.0.1:{port}"]
    return [
        *[*BUILDAH, "run", "--isolation", "chroot", "--network", "host"],
        *("--user", Dockerfile.read().user),
        *(arg for host, inside in mounts.items() for arg in ("-v", f"{host}:{inside}")),
        *(arg for name, value in env.items() for arg in ("-e", f"{name}={value}")),
        *(container, "--", *command, "--config", "/etc/giru/manifests"),
    ]


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"the image did not get ready:\n{log.read_text(errors='replace')[-3000:]}")


def test_the_image_answers_healthz_as_its_non_root_user(giru: str) -> None:
    assert httpx.get(f"{giru}/healthz", timeout=5).json() == {"status": "ok"}
    ready = httpx.get(f"{giru}/readyz", timeout=5).json()
    assert ready["servers"] == {"fixture": "ok"}
    assert ready["policy"]["active"] is True


def test_a_tool_call_through_the_image_reaches_the_upstream(giru: str) -> None:
    body, headers = tool_call(KEY, "test_simple_text", {}, 1)
    answer = httpx.post(f"{giru}/mcp/fixture", content=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    text = answer.text
    if answer.headers.get("content-type", "").startswith("text/event-stream"):
        text = [line[5:] for line in text.splitlines() if line.startswith("data:")][-1]
    content = json.loads(text)["result"]["content"]
    assert content == [{"type": "text", "text": "This is a simple text response for testing."}]


def test_the_image_serves_the_web_ui_it_built(giru: str) -> None:
    page = httpx.get(f"{giru}/ui/", timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/ui/_app/" in page.text  # the SvelteKit build, not a placeholder
