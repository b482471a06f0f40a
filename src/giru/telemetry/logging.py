"""Structured logging: JSON lines in production, secrets redacted by key name."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import orjson
import structlog

__all__ = ["configure_logging", "redact_secrets"]

_SECRET_MARKERS: Final = (
    "authorization",
    "cookie",
    "token",
    "secret",
    "api_key",
    "apikey",
    "password",
)


_MAX_PLAIN_KEYS: Final = 1024
_plain_keys: set[str] = set()
"""Field names seen that do not look like a secret (at most `_MAX_PLAIN_KEYS`): a log line
whose names are all here is checked by one set difference."""


@functools.lru_cache(maxsize=1024)
def _is_secret(key: str) -> bool:
    lowered = key.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def redact_secrets(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replace the value of any field whose name looks like a secret."""
    for key in event.keys() - _plain_keys:
        if _is_secret(key):
            event[key] = "[redacted]"
        elif len(_plain_keys) < _MAX_PLAIN_KEYS:
            _plain_keys.add(key)
    return event


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    json = fmt == "json"
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=orjson.dumps)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=(
            structlog.BytesLoggerFactory(file=sys.stderr.buffer)
            if json
            else structlog.PrintLoggerFactory(file=sys.stderr)
        ),
        cache_logger_on_first_use=True,
    )
