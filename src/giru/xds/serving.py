"""One way to run a gRPC service (ADS, ext_authz) for the lifetime of the app."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

import grpc
import structlog

from giru.errors import ConfigError

__all__ = ["grpc_server"]

_log = structlog.get_logger(__name__)
_GRACE_S = 1.0
_OPTIONS = (
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.max_receive_message_length", 4 * 1024 * 1024),
    ("grpc.so_reuseport", 0),
)


@contextlib.asynccontextmanager
async def grpc_server(
    listen: str, register: Callable[[grpc.aio.Server], None], *, name: str
) -> AsyncIterator[int]:
    """Serve what `register` adds on `listen` (HOST:PORT, port 0 picks one); yields the port.
    Plain text: these listeners are for Envoy on loopback or a private network."""
    server = grpc.aio.server(options=_OPTIONS)
    register(server)
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError as exc:
        raise ConfigError(f"{name}: cannot listen on {listen}: {exc}") from exc
    await server.start()
    _log.info("grpc_listening", service=name, listen=listen, port=port)
    try:
        yield port
    finally:
        await server.stop(_GRACE_S)
