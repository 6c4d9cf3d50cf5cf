"""``GET /api/v1/users``, the admin listing, answered ahead of routing
(``tessera_core.hot_path``): the admin's token and row, one page from the read pool and its
JSON, as ``router.list_users`` answers it. Query parameters that do not validate are handed
back to the route, whose 422 is the one answer to them."""

from __future__ import annotations

from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Scope

from tessera_core.deps import get_admin_claims, verified_claims
from tessera_core.hot_path import bearer_token, core_of
from tessera_users.admin import service
from tessera_users.admin.repository import UserListRepository
from tessera_users.admin.schemas import ListingParameters
from tessera_users.deps import get_admin_caller
from tessera_users.state import UsersState

__all__ = ["list_users"]


async def list_users(scope: Scope) -> Response | None:
    try:
        # As Starlette's QueryParams: the last of a repeated name counts; names the route
        # does not know are ignored by both.
        query = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
        parameters = ListingParameters.model_validate(query)
    except (ValidationError, UnicodeDecodeError):
        return None
    core = core_of(scope)
    # The route's dependency chain, called directly: the admin claim, then the admin's row.
    claims = await get_admin_claims(await verified_claims(bearer_token(scope), core))
    await get_admin_caller(claims, core)
    users: UsersState = scope["state"]["users"]
    page = await service.list_users(
        UserListRepository(core.read_pool), users.cursors, service.UserListQuery.of(parameters)
    )
    return Response(page.model_dump_json(exclude_unset=True), media_type="application/json")
