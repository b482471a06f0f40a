"""Tool names: the allowed charset, and a confusable skeleton to catch look-alike shadowing."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["skeleton", "valid_tool_name"]

_TOOL_NAME: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")  # 2025-11-25 "Tool Names"
# Within the allowed ASCII set, the look-alikes that matter (UTS #39 confusables, reduced):
_SEQUENCES: Final = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_CHARS: Final = str.maketrans({"l": "i", "1": "i", "|": "i", "0": "o", "5": "s", "-": "_"})


def valid_tool_name(name: object) -> bool:
    """Tool names are ASCII `[A-Za-z0-9_.-]`, 1-128 chars (BAD-INPUT M5, M6): no `/`."""
    return isinstance(name, str) and _TOOL_NAME.match(name) is not None


def skeleton(name: str) -> str:
    """Names with the same skeleton look alike (`send_email` / `send_emaiI`); names are still
    compared exactly, the skeleton only flags a second look-alike as possible shadowing."""
    folded = name.lower()
    for sequence, replacement in _SEQUENCES:
        folded = folded.replace(sequence, replacement)
    return folded.translate(_CHARS)
