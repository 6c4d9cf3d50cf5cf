"""Both services against a real three-node Redis Cluster: one round trip per token check
(a user's revocation keys share a hash slot), a logout seen by both, and a shard that
loses its data noticed through its own epoch markers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis
from redis.exceptions import ResponseError

from tessera_core.revocation import bucket, jti_key, not_before_key, sid_key
from tests.e2e.accounts import signed_in
from tests.e2e.stack import Gateway, Proc, Service, Stack, service_env, start_gateway, start_service
from tests.fixtures.apps import bearer
from tests.fixtures.jwt import unverified
from tests.fixtures.servers import IN_CI, LocalRedisCluster, ServerUnavailable

pytestmark = pytest.mark.e2e
TOKEN_PATHS = ("/api/v1/auth/verify", "/api/v1/users/me")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRedisCluster]:
    try:
        started = LocalRedisCluster().start()
    except ServerUnavailable as exc:
        if IN_CI:
            pytest.fail(f"CI=true and {exc}")
        pytest.skip(str(exc))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def on_cluster(
    stack: Stack, cluster: LocalRedisCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Gateway, Service, Service]]:
    directory: Path = tmp_path_factory.mktemp("cluster")
    procs: list[Proc] = []
    try:
        auth_env = service_env("auth", stack.backends, issuer=stack.gateway.url, auth_port=0)
        auth = start_service("auth", {**auth_env, "TESSERA_REDIS_URL": cluster.url()}, directory)
        procs.append(auth.proc)
        users_env = service_env(
            "users", stack.backends, issuer=stack.gateway.url, auth_port=auth.port
        )
        users = start_service("users", {**users_env, "TESSERA_REDIS_URL": cluster.url()}, directory)
        procs.append(users.proc)
        gateway = start_gateway(directory, auth_port=auth.port, users_port=users.port)
        procs.append(gateway.proc)
        yield gateway, auth, users
    finally:
        for proc in procs:
            proc.stop()


def node_holding(cluster: LocalRedisCluster, key: str) -> Redis:
    """A plain client on the primary that owns ``key``'s slot (the others answer MOVED)."""
    for port in cluster.ports:
        node = Redis.from_url(cluster.node_url(port))
        try:
            node.exists(key)
        except ResponseError:
            node.close()
            continue
        return node
    raise AssertionError(f"no node owns {key}")


class TestOnARedisCluster:
    def test_ready_and_a_logout_seen_by_both(
        self, on_cluster: tuple[Gateway, Service, Service], cluster: LocalRedisCluster
    ):
        gateway, auth, users = on_cluster
        for service in (auth, users):
            assert httpx.get(f"{service.url}/readyz", timeout=10).status_code == 200
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            tokens = signed_in(client)
            for path in TOKEN_PATHS:
                assert client.get(path, headers=bearer(tokens)).status_code == 200
            _, claims = unverified(tokens["access_token"])
            keys = {
                jti_key(claims["iss"], claims["jti"], claims["sub"]),
                sid_key(claims["sid"], claims["sub"]),
                not_before_key(claims["sub"]),
            }
            assert {key[len("tessera:rv:") :].split(":")[0] for key in keys} == {
                bucket(claims["sub"])
            }
            logout = client.post(
                "/api/v1/auth/logout",
                headers=bearer(tokens),
                json={"refresh_token": tokens["refresh_token"]},
            )
            assert logout.status_code == 204
            for path in TOKEN_PATHS:
                response = client.get(path, headers=bearer(tokens))
                assert (response.status_code, response.json()["code"]) == (401, "token_revoked")

    def test_a_shard_that_loses_its_data(
        self, on_cluster: tuple[Gateway, Service, Service], cluster: LocalRedisCluster
    ):
        """Flushing the one primary that holds a user's bucket removes that bucket's epoch
        marker too: the next check re-asserts the fast path and the token stays refused."""
        gateway, _, _ = on_cluster
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            tokens = signed_in(client)
            _, claims = unverified(tokens["access_token"])
            assert (
                client.post(
                    "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
                ).status_code
                == 204
            )
            sid = sid_key(claims["sid"], claims["sub"])
            node = node_holding(cluster, sid)
            try:
                assert node.exists(sid) == 1
                node.flushall()
                assert node.exists(sid) == 0
            finally:
                node.close()
            for path in TOKEN_PATHS:
                response = client.get(path, headers=bearer(tokens))
                assert (response.status_code, response.json()["code"]) == (401, "token_revoked")
