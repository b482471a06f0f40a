"""The process: Giru's ASGI app (`giru.app.GiruApp`) served by uvicorn with Giru's HTTP
protocol (header limits, one write per answer), logging set up, until interrupted."""

from __future__ import annotations

import gc

import uvicorn

from giru.app import GiruApp
from giru.manifests import Config, load
from giru.proxy.protocol import guarded_protocol
from giru.settings import Settings
from giru.telemetry.logging import configure_logging

__all__ = ["serve"]


def serve(settings: Settings, *, config: Config | None = None, adopt: bool = False) -> None:
    """Run Giru in this process until interrupted (`adopt`: see `GiruApp`)."""
    configure_logging(settings.log_format, settings.log_level)
    gc.set_threshold(20_000, 50, 1_000)  # fewer young collections on a request-heavy heap
    if config is None and settings.config is not None:
        config = load(settings.config)
    app = GiruApp(settings, config, adopt=adopt)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            http=guarded_protocol(
                settings.http.header_timeout_s,
                max_headers=settings.http.max_headers,
                max_header_bytes=settings.http.max_header_bytes,
            ),
            lifespan="on",
            access_log=False,
            log_level="warning",
            server_header=False,
            proxy_headers=False,  # X-Forwarded-* are not trusted unless a proxy is configured
            timeout_keep_alive=30,
        )
    )
    server.run()
