"""A leaked personal access token, revoked under traffic: both services, two replicas of
each behind nginx, each replica holding the token's row in its cache, refuse every request
sent after the revocation's 204."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.accounts import signed_in
from tests.e2e.stack import Stack, replicated
from tests.e2e.traffic import Traffic
from tests.fixtures.apps import bearer

pytestmark = pytest.mark.e2e

VERIFY = "/api/v1/auth/verify"
ME = "/api/v1/users/me"


class TestLeakedThenRevoked:
    def test_refused_at_once_by_every_replica_of_both_services(self, stack: Stack, tmp_path: Path):
        with replicated(stack, tmp_path, "-pat") as replicas:
            gateway = replicas.gateway
            with httpx.Client(base_url=gateway.url, timeout=30) as client:
                owner = signed_in(client)
                created = client.post(
                    "/api/v1/auth/tokens",
                    json={"name": "leaked", "scope": "profile:read"},
                    headers=bearer(owner),
                )
                assert created.status_code == 201, created.text
                pat = created.json()
                headers = {"Authorization": f"Bearer {pat['token']}"}
                calls = {
                    "verify": lambda c: c.get(VERIFY, headers=headers),
                    "me": lambda c: c.get(ME, headers=headers),
                }
                with Traffic(gateway.url, calls, workers=8, pause=0.002) as traffic:
                    time.sleep(1.5)  # every replica has read the row and cached it
                    revoked = client.delete(
                        f"/api/v1/auth/tokens/{pat['id']}", headers=bearer(owner)
                    )
                    answered = time.monotonic()
                    time.sleep(1.5)
        assert revoked.status_code == 204, revoked.text
        print(f"a leaked token revoked under traffic: {traffic.report()}")
        for label in calls:
            before = [s for s in traffic.of(label) if s.answered < answered and s.status == 200]
            after = [s for s in traffic.of(label) if s.sent >= answered]
            assert len(before) > 20, f"{label}: too little traffic before the revocation"
            assert len(after) > 20, f"{label}: too little traffic after the revocation"
            accepted = [
                (s.status, s.code) for s in after if (s.status, s.code) != (401, "token_revoked")
            ]
            assert accepted == [], f"{label}: answered after the 204 {accepted[:5]}"
        assert {s.status for s in traffic.samples} <= {200, 401}
