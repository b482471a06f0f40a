"""Log lines never carry secrets: fields named like one are redacted, every time."""

from __future__ import annotations

import pytest

from giru.telemetry.logging import redact_secrets

_SECRET_NAMES = ["authorization", "Cookie", "access_token", "client_secret", "api_key", "X-ApiKey"]


@pytest.mark.parametrize("name", [*_SECRET_NAMES, "password"])
def test_a_field_named_like_a_secret_is_redacted_on_every_line(name: str) -> None:
    for _ in range(3):  # the names seen are remembered: later lines take another path
        line = redact_secrets(None, "info", {"event": "e", "client": "alice", name: "s3cr3t"})
        assert line == {"event": "e", "client": "alice", name: "[redacted]"}


def test_fields_not_named_like_a_secret_are_kept_as_they_are() -> None:
    fields = {"event": "mcp_request", "client": "alice", "tool": "echo", "ms": 1.5, "code": None}
    for _ in range(2):
        assert redact_secrets(None, "info", dict(fields)) == fields
