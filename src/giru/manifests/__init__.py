"""Configuration as Kubernetes-style manifests (`apiVersion: giru.ai/v1alpha1`).

`load(path)` reads a file or directory into an immutable `Config`; `watch(path, on_change)`
hot-reloads it. See docs/configuration.md for every kind and field.
"""

from giru.manifests.compiler import check_unprefixed_collisions
from giru.manifests.config import (
    ClientConfig,
    Config,
    ServerConfig,
    ToolMeta,
    VirtualServerConfig,
    split_tool_ref,
)
from giru.manifests.documents import API_VERSION, parse_duration
from giru.manifests.loader import load, manifest_files
from giru.manifests.watch import OnChange, watch

__all__ = [
    "API_VERSION",
    "ClientConfig",
    "Config",
    "OnChange",
    "ServerConfig",
    "ToolMeta",
    "VirtualServerConfig",
    "check_unprefixed_collisions",
    "load",
    "manifest_files",
    "parse_duration",
    "split_tool_ref",
    "watch",
]
