"""The chart's hooks (the migration Job, the test Pod) on a real API server, with the test
standing in for the Job controller and the kubelet."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from tests.chart.apiserver import (
    KEYS,
    MIGRATE,
    TEST_POD,
    added,
    chart_args,
    helm_on,
    is_release_record,
    namespace_for,
    ok,
    prepare_namespace,
    release_objects,
)
from tests.chart.conftest import RELEASE, VALUE_SETS, Manifest
from tests.chart.kube import KubeServer

# The first use of a server may build it (minutes); the rest takes seconds.
pytestmark = [pytest.mark.chart, pytest.mark.timeout(1800)]


class Controller:
    """Stands in for the Job controller and the kubelet in one namespace: completes (or,
    with ``fail_jobs``, fails) every Job, and runs every Pod to success. Uses its own
    connection, from its own thread."""

    def __init__(self, server: KubeServer, namespace: str) -> None:
        self.fail_jobs = False
        self.completed: list[str] = []  # Job names, one entry per Job object
        self.failed: list[str] = []
        self.pods: list[str] = []
        self.errors: list[str] = []
        self._jobs = server.path("batch/v1", "Job", namespace)
        self._pods = server.path("v1", "Pod", namespace)
        self._client = server.new_client()
        self._done: set[str] = set()  # uids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Controller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self._step()
            except httpx.HTTPError as exc:
                self.errors.append(repr(exc))

    def _patch_status(self, path: str, status: Manifest) -> bool:
        response = self._client.patch(
            f"{path}/status",
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if response.status_code != 200:
            self.errors.append(response.text)
        return response.status_code == 200

    def _step(self) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for job in self._client.get(self._jobs).raise_for_status().json()["items"]:
            name, uid = job["metadata"]["name"], job["metadata"]["uid"]
            if uid in self._done:
                continue
            fail = self.fail_jobs
            # The Job API wants the interim condition (FailureTarget, SuccessCriteriaMet)
            # before the final one; older servers accept them as well.
            interim, final = (
                ("FailureTarget", "Failed") if fail else ("SuccessCriteriaMet", "Complete")
            )
            reason = "BackoffLimitExceeded" if fail else "CompletionsReached"
            conditions = [
                {
                    "type": t,
                    "status": "True",
                    "reason": reason,
                    "message": "set by the test",
                    "lastTransitionTime": now,
                }
                for t in (interim, final)
            ]
            status: Manifest = {"startTime": now, "conditions": conditions}
            status.update({"failed": 1} if fail else {"succeeded": 1, "completionTime": now})
            if self._patch_status(f"{self._jobs}/{name}", status):
                self._done.add(uid)
                (self.failed if fail else self.completed).append(name)
        for pod in self._client.get(self._pods).raise_for_status().json()["items"]:
            name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
            if uid not in self._done and self._patch_status(
                f"{self._pods}/{name}", {"phase": "Succeeded"}
            ):
                self._done.add(uid)
                self.pods.append(name)


class TestHooks:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_hooks_run_and_are_deleted_per_their_policies(
        self, kube_server: KubeServer, helm: str, value_set: str
    ) -> None:
        server = kube_server
        namespace = namespace_for(value_set, "-hooks")
        before = prepare_namespace(server, namespace, value_set)
        common = chart_args(namespace, value_set, "--timeout", "60s")
        with Controller(server, namespace) as controller:
            install = ok(helm_on(server, helm, "install", *common, "--output", "json"))
            release = json.loads(install.stdout)
            hooks = {h["name"]: h for h in release["hooks"]}
            assert hooks[MIGRATE]["last_run"]["phase"] == "Succeeded"
            assert controller.completed == [MIGRATE], controller.errors
            # hook-succeeded: the Job and its copy of the database URL are gone.
            live = added(server, namespace, before)
            assert ("Job", MIGRATE) not in live
            assert ("Secret", MIGRATE) not in live
            assert set(release_objects(release)) <= set(live)

            ok(helm_on(server, helm, "upgrade", *common, "--set", "config.logLevel=DEBUG"))
            assert controller.completed == [MIGRATE, MIGRATE]  # pre-upgrade: migrated again
            ok(helm_on(server, helm, "test", RELEASE, "--namespace", namespace, "--timeout", "60s"))
            assert controller.pods == [TEST_POD], controller.errors
            live = added(server, namespace, before)
            assert not {("Job", MIGRATE), ("Secret", MIGRATE), ("Pod", TEST_POD)} & set(live)

        ok(helm_on(server, helm, "uninstall", RELEASE, "--namespace", namespace, "--wait"))
        left = set(added(server, namespace, before))
        assert left == (set() if value_set == "existing-secret-values.yaml" else {("Secret", KEYS)})

    def test_a_failed_migration_changes_nothing_and_stays_for_its_logs(
        self, kube_server: KubeServer, helm: str
    ) -> None:
        """docs/helm.md: if the migration fails, the install or upgrade fails and nothing else
        changes; the failed Job stays for `kubectl logs`; the next attempt replaces it."""
        server, value_set = kube_server, "default-values.yaml"
        namespace = namespace_for(value_set, "-failed-migration")
        before = prepare_namespace(server, namespace, value_set)
        common = chart_args(namespace, value_set, "--timeout", "60s")
        with Controller(server, namespace) as controller:
            controller.fail_jobs = True
            failed = helm_on(server, helm, "install", *common)
            assert failed.returncode != 0
            assert f"job {MIGRATE} failed: BackoffLimitExceeded" in failed.stderr
            # pre-install: none of the release's own objects was created. The failed Job
            # stays; helm deletes the hooks that succeeded before it (hook-succeeded), the
            # copy of the database URL among them.
            live = {k for k in added(server, namespace, before) if not is_release_record(k)}
            assert live == {("Job", MIGRATE)}

            # The next attempt (an upgrade of the failed release) replaces the failed Job.
            controller.fail_jobs = False
            ok(helm_on(server, helm, "upgrade", "--install", *common))
            assert controller.failed == [MIGRATE]
            assert controller.completed == [MIGRATE]
            deployment = server.get("apps/v1", "Deployment", f"{RELEASE}-auth", namespace)

            # A failed pre-upgrade migration leaves the running release as it was.
            controller.fail_jobs = True
            failed = helm_on(server, helm, "upgrade", *common, "--set", "config.logLevel=DEBUG")
            assert failed.returncode != 0
            assert f"job {MIGRATE} failed: BackoffLimitExceeded" in failed.stderr
            config = server.get("v1", "ConfigMap", RELEASE, namespace)
            assert config["data"]["TESSERA_LOG_LEVEL"] == "INFO"
            after = server.get("apps/v1", "Deployment", f"{RELEASE}-auth", namespace)
            assert after["metadata"]["resourceVersion"] == deployment["metadata"]["resourceVersion"]
        ok(helm_on(server, helm, "uninstall", RELEASE, "--namespace", namespace, "--wait"))
