"""`custos serve`: the HTTP API under uvicorn (with the in-process workers when embedded)."""

from __future__ import annotations

import contextlib
from typing import Annotated

import typer

from api.cli.common import services


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
        workers: Annotated[
            bool, typer.Option(help="run the pipeline's workers in this process (embedded mode)")
        ] = True,
    ) -> None:
        """Serve the HTTP API (OpenAPI at /openapi.json, metrics at /metrics)."""
        import uvicorn

        from api.app import create_app

        with services() as svc, contextlib.ExitStack() as stack:
            if workers and not svc.settings.redis_url and svc.settings.pipeline_stages:
                from workers.embedded import EmbeddedWorkers

                stack.enter_context(EmbeddedWorkers(svc))
            uvicorn.run(create_app(svc), host=host, port=port, log_level="info")
