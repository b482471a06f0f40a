"""Writes the control plane's OpenAPI document (what `/api/openapi.json` serves) to a file.

`make ui-api` runs it into web/src/lib/api/openapi.json, from which the web UI's typed client
(web/src/lib/api/schema.d.ts) is generated; tests/integration/test_web_ui.py checks both still
match the live API.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import orjson

from giru.api import build_api
from giru.api.context import ApiRuntime
from giru.store import Store


def document() -> bytes:
    # Building the routes touches neither the store nor the runtime: the document needs neither.
    api = build_api(cast(Store, None), runtime=cast(ApiRuntime, None), pepper=b"")
    return orjson.dumps(api.openapi(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


if __name__ == "__main__":
    Path(sys.argv[1]).write_bytes(document())
