"""``LeanRoute`` answers as FastAPI's own ``APIRoute`` would: the same endpoint mounted both
ways gets the same requests, and the answers are compared. (No ``from __future__ import
annotations`` here: FastAPI must resolve the annotations of the endpoints built inside
``build``.)"""

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, ConfigDict, Field

from tessera_core.web.deps import requires
from tessera_core.web.errors import install_error_handlers
from tessera_core.web.routing import LeanRoute, LeanRouteError, query_defaults

bearer = OAuth2PasswordBearer(tokenUrl="/token", auto_error=False)


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limit: int = Field(20, ge=1, le=100)
    search: str | None = None


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    count: int = 0


class Page(BaseModel):
    items: list[str]
    total: int | None = None


def build(route_class: type[APIRoute], events: list[str]) -> FastAPI:
    router = APIRouter(prefix="/api", route_class=route_class)

    async def token(value: Annotated[str | None, Depends(bearer)]) -> str:
        events.append("token")
        return value or "anonymous"

    async def unit_of_work(who: Annotated[str, Depends(token)]) -> AsyncIterator[list[str]]:
        events.append("begin")
        try:
            yield events
        except ValueError:
            events.append("rollback")
            raise
        events.append("commit")

    @router.get("/page", response_model=Page, response_model_exclude_unset=True)
    async def page(
        who: Annotated[str, Depends(token)],
        again: Annotated[str, Depends(token)],
        filters: Annotated[Filters, Query()],
    ) -> Page:
        return Page(items=[who, again, filters.search or ""][: filters.limit])

    @router.post("/items", response_model=Item, status_code=201)
    async def create(
        item: Item,
        response: Response,
        log: Annotated[list[str], Depends(unit_of_work, scope="function")],
    ) -> Item:
        response.headers["Cache-Control"] = "no-store"
        if item.name == "boom":
            raise ValueError("refused")
        log.append("endpoint")
        return item

    @router.get("/plain")
    async def plain(request: Request) -> Response:
        return Response(request.url.path, media_type="text/plain")

    # Scalar query parameters, all optional: answered from their defaults without a query
    # string (``/verify?scope=``), validated as FastAPI does with one.
    @router.get("/scalars", dependencies=[requires("users:read")])
    async def scalars(
        tag: Annotated[str | None, Query(max_length=5)] = None, size: int = 3
    ) -> Response:
        return Response(f"{tag!r} {size!r}", media_type="text/plain")

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return app


async def answers(route_class: type[APIRoute], method: str, url: str, **kwargs) -> tuple:
    events: list[str] = []
    transport = httpx.ASGITransport(build(route_class, events), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.request(method, url, **kwargs)
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    return response.status_code, headers, response.content, events


REQUESTS = [
    ("GET", "/api/page", {}),
    ("GET", "/api/page?limit=2&search=x", {"headers": {"Authorization": "Bearer t"}}),
    ("GET", "/api/page?limit=0", {}),
    ("GET", "/api/page?limit=abc&unknown=1", {}),
    ("POST", "/api/items", {"json": {"name": "a", "count": 2}}),
    ("POST", "/api/items", {"json": {"name": ""}}),
    ("POST", "/api/items", {"json": {"name": "a", "extra": 1}}),
    (
        "POST",
        "/api/items",
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
    ),
    (
        "POST",
        "/api/items",
        {"content": b'{"name": "a"}', "headers": {"Content-Type": "text/plain"}},
    ),
    ("POST", "/api/items", {"content": b'{"name": "a"}'}),
    (
        "POST",
        "/api/items",
        {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}},
    ),
    ("POST", "/api/items", {}),
    ("POST", "/api/items", {"json": ["a"]}),
    ("GET", "/api/plain", {}),
    ("HEAD", "/api/plain", {}),
    ("GET", "/api/scalars", {}),
    ("GET", "/api/scalars?", {}),
    ("GET", "/api/scalars?tag=ab&size=4", {}),
    ("GET", "/api/scalars?tag=toolong", {}),
    ("GET", "/api/scalars?size=x", {}),
    ("DELETE", "/api/page", {}),
    ("GET", "/api/items", {}),
]


class TestSameAnswersAsAPIRoute:
    @pytest.mark.parametrize(("method", "url", "kwargs"), REQUESTS)
    async def test_status_headers_body_and_dependency_calls(self, method, url, kwargs):
        lean = await answers(LeanRoute, method, url, **kwargs)
        framework = await answers(APIRoute, method, url, **kwargs)
        assert lean == framework

    async def test_the_unit_of_work_commits_before_the_answer_and_rolls_back_on_error(self):
        status, headers, _, events = await answers(
            LeanRoute, "POST", "/api/items", json={"name": "a"}
        )
        assert (status, headers["cache-control"]) == (201, "no-store")
        assert events == ["token", "begin", "endpoint", "commit"]
        status, _, body, events = await answers(
            LeanRoute, "POST", "/api/items", json={"name": "boom"}
        )
        assert status == 500
        assert b"refused" not in body  # the exception's text stays in the log
        assert events == ["token", "begin", "rollback"]

    async def test_a_dependency_used_twice_is_called_once(self):
        _, _, body, events = await answers(LeanRoute, "GET", "/api/page?limit=3")
        assert events == ["token"]
        assert body == b'{"items":["anonymous","anonymous",""]}'


class TestRefusedWhenTheAppIsBuilt:
    def test_path_parameters(self):
        router = APIRouter(route_class=LeanRoute)
        with pytest.raises(LeanRouteError, match="path parameters"):

            @router.get("/things/{thing_id}")
            async def thing(thing_id: int) -> Response:
                return Response()

    def test_sync_dependencies(self):
        router = APIRouter(route_class=LeanRoute)

        def sync_dependency() -> int:
            return 1

        with pytest.raises(LeanRouteError, match="async dependencies only"):

            @router.get("/sync")
            async def uses_sync(value: Annotated[int, Depends(sync_dependency)]) -> Response:
                return Response()


class TestQueryDefaults:
    def test_known_when_the_app_is_built_for_optional_scalars_only(self):
        router = APIRouter(route_class=LeanRoute)

        @router.get("/scalars")
        async def scalars(
            tag: Annotated[str | None, Query(max_length=5)] = None, size: int = 3
        ) -> Response:
            return Response()

        @router.get("/page")
        async def page(filters: Annotated[Filters, Query()]) -> Response:
            return Response()

        dependants = {
            route.path: route.dependant for route in router.routes if isinstance(route, LeanRoute)
        }
        assert query_defaults(dependants["/scalars"]) == {"tag": None, "size": 3}
        # A model of query parameters is validated on every request.
        assert query_defaults(dependants["/page"]) is None
