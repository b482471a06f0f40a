"""The control-plane REST API (`/api/v1/...`): resources, apply, catalog, admin keys.

`build_api(store, runtime=..., pepper=...)` returns the FastAPI app; see docs/api.md.
"""

from giru.api.app import build_api
from giru.api.auth import ROLES, Principal, Role
from giru.api.context import (
    ApiRuntime,
    ClientTool,
    NoPolicyEngine,
    PolicyHooks,
    ToolProvider,
    ToolQuota,
)

__all__ = [
    "ROLES",
    "ApiRuntime",
    "ClientTool",
    "NoPolicyEngine",
    "PolicyHooks",
    "Principal",
    "Role",
    "ToolProvider",
    "ToolQuota",
    "build_api",
]
