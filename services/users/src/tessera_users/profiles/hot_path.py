"""``GET /api/v1/users/me``, the users service's most frequent request, answered ahead of
routing (``tessera_core.hot_path``): the token check, the caller's row from the read pool
and its JSON, as ``router.read_me`` answers it for the OpenAPI document."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from tessera_core.accounts import read_token_row
from tessera_core.deps import verified_claims
from tessera_core.hot_path import bearer_token, core_of
from tessera_core.schemas import UserRead

__all__ = ["read_me"]


async def read_me(scope: Scope) -> Response:
    core = core_of(scope)
    claims = await verified_claims(bearer_token(scope), core)
    user = UserRead.model_validate(await read_token_row(core.read_pool, claims.sub))
    return Response(user.model_dump_json(), media_type="application/json")
