"""``LeanRoute``: a FastAPI route class for the busiest endpoints.

``/verify`` is asked before every request the gateway forwards, ``/users/me`` and the admin
listing by every client page, ``/refresh`` by every client once per access-token lifetime.
Profiled under load, most of their time went to the framework rather than to their work
(docs/benchmarks.md): the dependency solver walks every dependency's (empty) lists of path,
query, header and cookie parameters on each request, and the answer is validated a second
time against ``response_model``.

A ``LeanRoute`` is still a route: FastAPI builds, matches and documents it like any other
(``APIRoute.get_route_handler`` is the documented hook, as for ``OAuthRoute``), and its one
endpoint answers it. Its handler differs in two ways only:

- the dependency tree is compiled once, when the app is built, into a plan of calls (each
  dependency called once per request, in FastAPI's order, ``yield`` dependencies entered on
  FastAPI's own request or function exit stacks), with the query and body validated by
  FastAPI's own functions where the endpoint has them, so their 422s are the framework's;
- the endpoint's return value is rendered once: a ``Response`` as it is, a pydantic model
  with ``model_dump_json`` (the endpoint's return annotation is its ``response_model``,
  checked by mypy rather than validated again on every request).

What the plan cannot serve (path, header or cookie parameters, background tasks, security
scopes, sync dependencies, a form body) is refused when the app is built, not at a request.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, get_args

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LeanRoute", "LeanRouteError", "query_defaults"]

Values = dict[str, Any]
Step = Callable[[Request, dict[Any, Any], Response], Awaitable[Any]]


class LeanRouteError(TypeError):
    """A ``LeanRoute`` endpoint uses something its plan does not serve."""


@dataclass(frozen=True, slots=True)
class _Call:
    """One dependency (or the endpoint) with the plan of its own arguments."""

    call: Callable[..., Any]
    name: str | None
    arguments: tuple[_Call, ...]
    request_names: tuple[str, ...]
    response_name: str | None
    query: list[Any]
    # What the query parameters come to when the request has no query string, where that
    # is known when the app is built (``query_defaults``): ``/verify`` and ``/me`` are
    # asked without one, and validating absent parameters costs as much as present ones.
    query_defaults: Values | None
    is_generator: bool
    function_scoped: bool
    use_cache: bool

    async def solve(self, request: Request, cache: dict[Any, Any], response: Response) -> Values:
        values: Values = {}
        for argument in self.arguments:
            if argument.use_cache and argument.call in cache:
                value = cache[argument.call]
            else:
                value = await argument.value(request, cache, response)
                cache[argument.call] = value
            if argument.name is not None:
                values[argument.name] = value
        for name in self.request_names:
            values[name] = request
        if self.response_name:
            values[self.response_name] = response
        if self.query:
            if self.query_defaults is not None and not request.scope.get("query_string"):
                values.update(self.query_defaults)
                return values
            query, errors = request_params_to_args(self.query, request.query_params)
            if errors:
                raise RequestValidationError(errors)
            values.update(query)
        return values

    async def value(self, request: Request, cache: dict[Any, Any], response: Response) -> Any:
        values = await self.solve(request, cache, response)
        if not self.is_generator:
            return await self.call(**values)
        # FastAPI's exit stacks (``request_response``): a function-scoped dependency exits
        # before the response is sent (a unit of work commits there), others after it.
        stack_key = "fastapi_function_astack" if self.function_scoped else "fastapi_inner_astack"
        stack: AsyncExitStack = request.scope[stack_key]
        return await stack.enter_async_context(asynccontextmanager(self.call)(**values))


def _plan(dependant: Dependant, *, endpoint: bool) -> _Call:
    unsupported = {
        "path parameters": dependant.path_params,
        "header parameters": dependant.header_params,
        "cookie parameters": dependant.cookie_params,
        "background tasks": dependant.background_tasks_param_name,
        "security scopes": dependant.security_scopes_param_name,
        "a websocket": dependant.websocket_param_name,
    }
    if not endpoint:
        unsupported["a body"] = dependant.body_params
    for what, present in unsupported.items():
        if present:
            raise LeanRouteError(f"{dependant.call!r}: a LeanRoute does not serve {what}")
    call = dependant.call
    assert call is not None
    # A security scheme is an instance whose __call__ is the coroutine function.
    target = call if inspect.isroutine(call) else type(call).__call__
    is_generator = inspect.isasyncgenfunction(target)
    if not (is_generator or inspect.iscoroutinefunction(target)):
        raise LeanRouteError(f"{call!r}: a LeanRoute calls async dependencies only")
    return _Call(
        call=call,
        name=dependant.name,
        arguments=tuple(_plan(sub, endpoint=False) for sub in dependant.dependencies),
        request_names=tuple(
            name
            for name in (dependant.request_param_name, dependant.http_connection_param_name)
            if name
        ),
        response_name=dependant.response_param_name,
        query=list(dependant.query_params),
        query_defaults=query_defaults(dependant),
        is_generator=is_generator,
        function_scoped=dependant.scope == "function",
        use_cache=dependant.use_cache,
    )


# Defaults FastAPI would hand over as they are (it deep-copies each; these copy to themselves).
_IMMUTABLE_DEFAULTS = (type(None), bool, int, float, str)


def query_defaults(dependant: Dependant) -> Values | None:
    """The values of ``dependant``'s query parameters when none is sent, if FastAPI would
    answer them without validating anything: every one optional, with an immutable default
    that is not validated, and each a plain scalar (not a model of parameters). ``None``
    otherwise."""
    defaults: Values = {}
    for field in dependant.query_params:
        info = field.field_info
        types = get_args(info.annotation) or (info.annotation,)
        if (
            not all(t in _IMMUTABLE_DEFAULTS for t in types)
            or info.is_required()
            or info.validate_default
            or not isinstance(field.default, _IMMUTABLE_DEFAULTS)
        ):
            return None
        defaults[field.name] = field.default
    return defaults


class LeanRoute(APIRoute):
    """A route answered through a dependency plan compiled at startup, its result rendered
    once: ``APIRouter(route_class=LeanRoute)`` for the few endpoints every client calls."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if kwargs.get("max_body_size") is not None:
            raise LeanRouteError(f"{endpoint!r}: a LeanRoute leaves body limits to middleware")
        super().__init__(path, endpoint, **kwargs)
        # APIRoute wraps its handler in ``request_response``: two exit stacks and an
        # exception wrapper on every request. The route's app is its handler with only what
        # the plan uses (the app's ExceptionMiddleware, right outside, holds the same
        # exception handlers).
        plan = _plan(self.dependant, endpoint=True)
        handler = self._handler(plan)
        self.app = _lean_app_with_stacks(handler) if _uses_exit_stacks(plan) else _lean_app(handler)

    def get_route_handler(self) -> Handler:
        return self._handler(_plan(self.dependant, endpoint=True))

    def _handler(self, plan: _Call) -> Handler:
        body_fields = list(self.dependant.body_params)
        if self.body_field is not None and isinstance(self.body_field.field_info, params.Form):
            raise LeanRouteError(f"{self.endpoint!r}: a LeanRoute reads JSON bodies only")
        endpoint = plan.call
        status_code = self.status_code
        exclude_unset = self.response_model_exclude_unset
        embed = self._embed_body_fields

        # The Response that a ``response: Response`` parameter sets headers on; as in FastAPI,
        # they go onto a rendered model, not onto a Response the endpoint returns itself.
        takes_response = _takes_response(plan)

        async def handler(request: Request) -> Response:
            sub_response = _NO_RESPONSE
            if takes_response:
                sub_response = Response()
                del sub_response.headers["content-length"]
            # As FastAPI: the body is read before any dependency runs, validated after them.
            received = await _json_body(request) if body_fields else PydanticUndefined
            values = await plan.solve(request, {}, sub_response)
            if body_fields:
                body, errors = await request_body_to_args(body_fields, received, embed)
                if errors:
                    raise RequestValidationError(errors)
                values.update(body)
            result = await endpoint(**values)
            if isinstance(result, Response):
                return result
            if not isinstance(result, BaseModel):
                raise LeanRouteError(f"{endpoint!r} returned {type(result).__name__}")
            response = Response(
                result.model_dump_json(exclude_unset=exclude_unset),
                status_code=status_code or 200,
                media_type="application/json",
            )
            if takes_response:
                response.headers.raw.extend(sub_response.headers.raw)
            return response

        return handler


_NO_RESPONSE = Response()


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _lean_app(handler: Handler) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await handler(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


def _lean_app_with_stacks(handler: Handler) -> ASGIApp:
    """FastAPI's two exit stacks (``request_response``), which ``yield`` dependencies enter:
    the function stack closes before the response is sent, the request stack after it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        async with AsyncExitStack() as request_stack:
            scope["fastapi_inner_astack"] = request_stack
            async with AsyncExitStack() as function_stack:
                scope["fastapi_function_astack"] = function_stack
                response = await handler(request)
            await response(scope, receive, send)

    return app


def _uses_exit_stacks(call: _Call) -> bool:
    return call.is_generator or any(_uses_exit_stacks(a) for a in call.arguments)


def _takes_response(call: _Call) -> bool:
    return call.response_name is not None or any(_takes_response(a) for a in call.arguments)


async def _json_body(request: Request) -> Any:
    """The body as FastAPI reads it for a JSON model: parsed when it says it is JSON, the
    raw bytes otherwise (the model then refuses them), nothing when it is empty."""
    body = await request.body()
    if not body:
        return PydanticUndefined
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from exc
    except ValueError as exc:  # not UTF-8: FastAPI's own answer to a body it cannot read
        raise HTTPException(400, "There was an error parsing the body") from exc
