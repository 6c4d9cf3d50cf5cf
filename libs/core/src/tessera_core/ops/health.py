"""Liveness (``/healthz``, no dependencies) and readiness (``/readyz``, every dependency)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

__all__ = [
    "CHECK_TIMEOUT_SECONDS",
    "CheckResult",
    "ReadinessCheck",
    "health_router",
]


@dataclass(frozen=True)
class CheckResult:
    """A check's verdict with what it found out on the way (shown under ``details``)."""

    ok: bool
    detail: dict[str, str] = field(default_factory=dict)


ReadinessCheck = Callable[[], Awaitable[bool | CheckResult]]
CHECK_TIMEOUT_SECONDS = 2.0


async def _run(check: ReadinessCheck) -> CheckResult:
    try:
        result = await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except Exception:
        return CheckResult(False)
    return result if isinstance(result, CheckResult) else CheckResult(result)


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
        results = dict(
            zip(named, await asyncio.gather(*(_run(c) for c in named.values())), strict=True)
        )
        states = {name: "ok" if result.ok else "failing" for name, result in results.items()}
        draining = bool(getattr(request.app.state, "draining", False))
        if draining:
            states["shutdown"] = "draining"
        ready = all(result.ok for result in results.values()) and not draining
        body: dict[str, object] = {"status": "ready" if ready else "not_ready", "checks": states}
        details = {name: result.detail for name, result in results.items() if result.detail}
        if details:
            body["details"] = details
        return JSONResponse(body, status_code=200 if ready else 503)

    return router
