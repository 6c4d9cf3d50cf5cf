"""Liveness (``/healthz``, no dependencies) and readiness (``/readyz``, every dependency)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

__all__ = [
    "CHECK_TIMEOUT_SECONDS",
    "ReadinessCheck",
    "health_router",
]

ReadinessCheck = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_SECONDS = 2.0


async def _run(check: ReadinessCheck) -> bool:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception:
        return False


def health_router(checks: Callable[[Request], Mapping[str, ReadinessCheck]]) -> APIRouter:
    """Probe routes; ``checks`` maps the request's app to named readiness checks.

    Readiness is also false while the app drains (``app.state.draining``, set on SIGTERM).
    """
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        named = checks(request)
        results = await asyncio.gather(*(_run(check) for check in named.values()))
        states = {name: "ok" if ok else "failing" for name, ok in zip(named, results, strict=True)}
        draining = bool(getattr(request.app.state, "draining", False))
        if draining:
            states["shutdown"] = "draining"
        ready = all(results) and not draining
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": states},
            status_code=200 if ready else 503,
        )

    return router
