from __future__ import annotations

import pytest

from tessera_core.errors import (
    InvalidToken,
    NotAuthenticated,
    NotFound,
    TokenRevoked,
    problem_responses,
)
from tessera_core.tokens.claims import AccessClaims


class TestProblemBodies:
    def test_rfc9457_fields(self):
        body = NotFound("No such user.").body()
        assert body == {
            "type": "https://tessera.dev/problems/not-found",
            "title": "Not found",
            "status": 404,
            "detail": "No such user.",
            "code": "not_found",
        }

    def test_bearer_challenges(self):
        assert NotAuthenticated().headers["WWW-Authenticate"] == "Bearer"
        assert InvalidToken().headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')

    def test_openapi_responses_group_by_status(self):
        responses = problem_responses(InvalidToken, TokenRevoked, NotFound)
        assert sorted(responses) == [401, 404]
        assert responses[401]["description"] == "`invalid_token`, `token_revoked`"


class TestAccessClaims:
    PAYLOAD = {
        "sub": "u",
        "sid": "s",
        "jti": "j",
        "iss": "i",
        "client_id": "c",
        "preferred_username": "p",
        "exp": 2,
        "iat": 1,
        "roles": ["admin"],
    }

    def test_parses(self):
        claims = AccessClaims.from_payload(self.PAYLOAD)
        assert claims.is_admin

    @pytest.mark.parametrize(
        "override", [{"roles": "admin"}, {"exp": "2"}, {"iat": True}, {"sub": ""}, {"sid": None}]
    )
    def test_rejects_malformed(self, override):
        with pytest.raises((ValueError, TypeError)):
            AccessClaims.from_payload({**self.PAYLOAD, **override})
