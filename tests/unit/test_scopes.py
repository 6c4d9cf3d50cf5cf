"""The scope vocabulary's rules (``tessera_core.tokens.scopes``), how a verified token's
claims read them, and how a route declares its scope."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from tessera_core.errors import InsufficientScope
from tessera_core.tokens.claims import AccessClaims
from tessera_core.tokens.scopes import (
    ADMIN_SCOPES,
    PROFILE_READ,
    PROFILE_WRITE,
    SCOPES,
    SERVICE_SCOPES,
    SESSIONS_WRITE,
    USER_SCOPES,
    USERS_READ,
    USERS_WRITE,
    delegated,
    effective_scopes,
    format_scope,
    narrowed,
    parse_scope,
    scopes_of_roles,
)
from tessera_core.web.deps import required_scope, requires

PAYLOAD = {
    "sub": "u",
    "sid": "s",
    "jti": "j",
    "iss": "i",
    "exp": 2_000_000_000,
    "iat": 1_900_000_000,
    "client_id": "c",
    "preferred_username": "alice",
}


class TestScopesOfRoles:
    def test_a_user_holds_the_profile_and_sessions_scopes(self):
        assert scopes_of_roles([]) == {PROFILE_READ, PROFILE_WRITE, SESSIONS_WRITE}

    def test_an_admin_holds_every_scope(self):
        assert scopes_of_roles(["admin"]) == set(SCOPES) == ADMIN_SCOPES

    def test_only_admins_hold_the_users_scopes(self):
        assert {USERS_READ, USERS_WRITE}.isdisjoint(USER_SCOPES)


class TestParseScope:
    def test_space_separated_in_any_order(self):
        assert parse_scope("users:read profile:read") == {USERS_READ, PROFILE_READ}

    def test_repeated_and_extra_spaces_are_one_scope(self):
        assert parse_scope(" profile:read  profile:read ") == {PROFILE_READ}

    @pytest.mark.parametrize("value", ["", " ", "admin", "profile:read openid", "PROFILE:READ"])
    def test_empty_or_unknown_is_refused(self, value: str):
        with pytest.raises(ValueError, match="scope"):
            parse_scope(value)


class TestFormatScope:
    def test_in_the_vocabularys_order(self):
        assert format_scope({USERS_WRITE, PROFILE_READ, SESSIONS_WRITE}) == (
            "profile:read sessions:write users:write"
        )

    def test_round_trips(self):
        assert parse_scope(format_scope(ADMIN_SCOPES)) == ADMIN_SCOPES


class TestNarrowed:
    @pytest.mark.parametrize("requested", [None, "", "  "])
    def test_nothing_asked_is_everything_allowed(self, requested: str | None):
        assert narrowed(requested, USER_SCOPES) == USER_SCOPES

    def test_a_subset_is_granted_as_asked(self):
        assert narrowed("profile:read", ADMIN_SCOPES) == frozenset({PROFILE_READ})

    def test_everything_allowed_may_be_asked(self):
        assert narrowed(format_scope(USER_SCOPES), USER_SCOPES) == USER_SCOPES

    @pytest.mark.parametrize("requested", ["users:read", "profile:read users:write", "nope"])
    def test_wider_or_unknown_is_none(self, requested: str):
        assert narrowed(requested, USER_SCOPES) is None


class TestDelegated:
    def test_a_subset_of_what_the_creator_holds(self):
        assert delegated("profile:read", USER_SCOPES, to="a token") == {PROFILE_READ}

    def test_wider_than_the_creator_names_what_it_cannot_grant(self):
        with pytest.raises(ValueError, match="cannot grant users:read: a token holds only"):
            delegated("profile:read users:read", USER_SCOPES, to="a token")

    def test_outside_what_the_kind_may_hold_is_refused_first(self):
        with pytest.raises(
            ValueError, match=r"^A service account holds only users:read users:write$"
        ):
            delegated("profile:read", ADMIN_SCOPES, to="a service account", within=SERVICE_SCOPES)

    def test_within_what_the_kind_may_hold(self):
        granted = delegated(
            "users:read", ADMIN_SCOPES, to="a service account", within=SERVICE_SCOPES
        )
        assert granted == {USERS_READ}

    @pytest.mark.parametrize("requested", ["", "repo:all"])
    def test_empty_or_unknown_is_refused(self, requested: str):
        with pytest.raises(ValueError, match=r"empty|unknown scope"):
            delegated(requested, ADMIN_SCOPES, to="a token")


class TestEffectiveScopes:
    def test_a_token_without_the_claim_holds_what_its_roles_allow(self):
        assert effective_scopes(None, []) == USER_SCOPES
        assert effective_scopes(None, ["admin"]) == ADMIN_SCOPES

    def test_the_claim_within_the_roles(self):
        assert effective_scopes("profile:read users:read", ["admin"]) == {
            PROFILE_READ,
            USERS_READ,
        }

    def test_a_scope_the_roles_do_not_allow_grants_nothing(self):
        # A token saying users:read without the admin role (crafted, or from a bug).
        assert effective_scopes("profile:read users:read", []) == {PROFILE_READ}

    def test_names_outside_the_vocabulary_grant_nothing(self):
        assert effective_scopes("openid admin", ["admin"]) == frozenset()


class TestClaimsScope:
    def test_read_from_the_scope_claim(self):
        claims = AccessClaims.from_payload({**PAYLOAD, "scope": "profile:read"})
        assert claims.scopes == {PROFILE_READ}
        assert claims.scope == "profile:read"

    def test_a_token_minted_before_scopes_holds_its_roles_scopes(self):
        claims = AccessClaims.from_payload({**PAYLOAD, "roles": ["admin"]})
        assert claims.scopes == ADMIN_SCOPES

    def test_an_empty_scope_holds_nothing(self):
        assert AccessClaims.from_payload({**PAYLOAD, "scope": ""}).scopes == frozenset()

    @pytest.mark.parametrize("scope", [["profile:read"], 1, True])
    def test_a_scope_that_is_not_a_string_is_malformed(self, scope: object):
        with pytest.raises(ValueError, match="scope must be a string"):
            AccessClaims.from_payload({**PAYLOAD, "scope": scope})


class TestInsufficientScope:
    def test_rfc_6750_challenge_and_problem(self):
        error = InsufficientScope(USERS_READ)
        assert error.status == 403
        assert error.body()["code"] == "insufficient_scope"
        assert error.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", scope="users:read"'
        )


def _route(*scopes: str) -> APIRoute:
    router = APIRouter()

    @router.get("/x", dependencies=[requires(s) for s in scopes])
    async def endpoint() -> None:
        return None

    route = router.routes[0]
    assert isinstance(route, APIRoute)
    return route


class TestRequires:
    def test_the_route_declares_its_scope(self):
        assert required_scope(_route(USERS_READ)) == USERS_READ

    def test_a_route_without_one_requires_none(self):
        assert required_scope(_route()) is None

    def test_two_scopes_on_one_route_is_a_programming_error(self):
        with pytest.raises(RuntimeError, match="more than one scope"):
            required_scope(_route(USERS_READ, USERS_WRITE))

    def test_an_unknown_scope_is_refused_at_declaration(self):
        with pytest.raises(ValueError, match="unknown scope"):
            requires("admin")
