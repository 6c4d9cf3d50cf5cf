"""The baseline every ratio is taken against: a bare FastAPI app answering a small JSON
body, served by ``tessera_core.ops.serve`` exactly as the services are (same uvicorn settings,
one worker)."""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
