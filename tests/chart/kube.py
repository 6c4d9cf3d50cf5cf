"""A real Kubernetes API server on loopback for the chart tests: kine (the etcd API over
SQLite) and ``kube-apiserver``, both built from Go modules by ``.ci/install-kube.sh``.

No kubelet, scheduler or controller manager runs: objects are stored, defaulted, validated
(OpenAPI, CEL rules of the CRDs, admission such as PodSecurity) and served back, but no pod
ever starts. The servers listen on 127.0.0.1 only, on free ports, and are stopped at teardown.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.fixtures.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path.home() / ".cache" / "tessera" / "bin"
INSTALL_SCRIPT = ROOT / ".ci" / "install-kube.sh"
KINE_VERSION = "v0.17.5"
# Where the CRDs come from: the projects' own Go modules, at these versions.
GATEWAY_API = ("sigs.k8s.io/gateway-api", "v1.6.3")
PROMETHEUS_OPERATOR = ("github.com/prometheus-operator/prometheus-operator", "v0.94.0")

Obj = dict[str, Any]


class KubeUnavailable(RuntimeError):
    """The binaries are missing and cannot be built here; the message says what to run."""


def apiserver_binary(version: str) -> Path:
    return BIN_DIR / f"kube-apiserver-{version}"


def kine_binary() -> Path:
    return BIN_DIR / f"kine-{KINE_VERSION}"


def ensure_binaries(version: str) -> None:
    """Build kine and this kube-apiserver with the install script unless cached (the first
    build takes minutes; a cached one is a version check)."""
    if apiserver_binary(version).is_file() and kine_binary().is_file():
        return
    if shutil.which("go") is None:
        raise KubeUnavailable(
            f"kube-apiserver {version} and kine are not built and Go is not installed "
            f"(build them with `KUBE_VERSIONS={version} bash .ci/install-kube.sh`)"
        )
    env = {**os.environ, "KUBE_VERSIONS": version, "KINE_VERSION": KINE_VERSION}
    result = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"install-kube.sh failed:\n{result.stdout}\n{result.stderr}")


def go_module_dir(module: str, version: str) -> Path:
    """The directory of a Go module in the module cache, downloaded first if needed."""
    if shutil.which("go") is None:
        raise KubeUnavailable(f"Go is not installed: it fetches {module}@{version}")
    result = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "GOTOOLCHAIN": "local"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"go mod download {module}@{version}: {result.stdout}{result.stderr}")
    return Path(json.loads(result.stdout)["Dir"])


def upstream_crds() -> list[Obj]:
    """The Gateway API standard-channel CRDs and the prometheus-operator ServiceMonitor CRD,
    as their projects publish them."""
    gateway = go_module_dir(*GATEWAY_API) / "config" / "crd" / "standard"
    operator = go_module_dir(*PROMETHEUS_OPERATOR) / "example" / "prometheus-operator-crd"
    files = [
        *sorted(gateway.glob("*.yaml")),
        operator / "monitoring.coreos.com_servicemonitors.yaml",
    ]
    crds = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            # gateway-api also ships a ValidatingAdmissionPolicy there: only the CRDs.
            if doc and doc.get("kind") == "CustomResourceDefinition":
                crds.append(doc)
    return crds


def crd_schema(crds: list[Obj], group: str, kind: str, version: str) -> Obj:
    """The openAPIV3Schema of one served version of a CRD."""
    for crd in crds:
        spec = crd["spec"]
        if spec["group"] == group and spec["names"]["kind"] == kind:
            for served in spec["versions"]:
                if served["name"] == version and served.get("served"):
                    schema: Obj = served["schema"]["openAPIV3Schema"]
                    return schema
    raise LookupError(f"no served CRD version {group}/{version} {kind}")


# --- certificates -------------------------------------------------------------------------


def _write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def make_certs(directory: Path) -> dict[str, Path]:
    """A throwaway CA, a serving certificate for 127.0.0.1 signed by it, and the
    service-account signing key pair."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tessera-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "ca": _write_pem(directory / "ca.crt", ca.public_bytes(serialization.Encoding.PEM)),
        "cert": _write_pem(
            directory / "apiserver.crt", cert.public_bytes(serialization.Encoding.PEM)
        ),
        "key": _write_pem(directory / "apiserver.key", _key_pem(key)),
        "sa_key": _write_pem(directory / "sa.key", _key_pem(sa_key)),
        "sa_pub": _write_pem(
            directory / "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        ),
    }


# --- processes ----------------------------------------------------------------------------


@dataclass
class _Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _spawn(name: str, argv: list[str], directory: Path) -> _Process:
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=directory, start_new_session=True
        )
    return _Process(name, proc, log)


# --- the cluster --------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One resource type the server serves, from its discovery documents."""

    api_version: str
    kind: str
    path: str  # "{ns}" stands for "namespaces/<namespace>/" or nothing
    namespaced: bool
    listable: bool
    preferred: bool  # the preferred version of its group


@dataclass
class KubeServer:
    """A running kube-apiserver: its REST API (bearer token, verified TLS) and a kubeconfig
    for helm."""

    version: str
    directory: Path
    url: str = ""
    token: str = "tessera-chart-test-token"
    kubeconfig: Path = field(default_factory=Path)
    ca: Path = field(default_factory=Path)
    # The upstream CRDs this server refused (install_crds): name -> the server's message.
    refused_crds: dict[str, str] = field(default_factory=dict)
    _processes: list[_Process] = field(default_factory=list)
    _client: httpx.Client | None = None
    _resources: dict[tuple[str, str], Resource] = field(default_factory=dict)

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> KubeServer:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        certs = make_certs(self.directory)
        self.ca = certs["ca"]
        kine_port, api_port = free_port(), free_port()
        db = self.directory / "kine" / "state.db"
        db.parent.mkdir()
        kine = _spawn(
            "kine",
            [
                str(kine_binary()),
                "--endpoint",
                f"sqlite://{db}?_journal=WAL&cache=shared&_busy_timeout=30000",
                "--listen-address",
                f"127.0.0.1:{kine_port}",
                "--metrics-bind-address",
                "0",
            ],
            self.directory,
        )
        self._processes.append(kine)
        self._wait_tcp(kine, kine_port)
        tokens = self.directory / "tokens.csv"
        tokens.write_text(f'{self.token},chart-test,chart-test,"system:masters"\n')
        cert_dir = self.directory / "certs"
        cert_dir.mkdir()
        apiserver = _spawn(
            "kube-apiserver",
            [
                str(apiserver_binary(self.version)),
                f"--etcd-servers=http://127.0.0.1:{kine_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                # The "kubernetes" Service's endpoints would be the loopback address, which
                # the server refuses to publish: no endpoint reconciler.
                "--endpoint-reconciler-type=none",
                f"--token-auth-file={tokens}",
                "--authorization-mode=AlwaysAllow",
                f"--tls-cert-file={certs['cert']}",
                f"--tls-private-key-file={certs['key']}",
                f"--cert-dir={cert_dir}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={certs['sa_pub']}",
                f"--service-account-signing-key-file={certs['sa_key']}",
                # Only allocated (ClusterIPs on the stored Services); nothing routes to it.
                "--service-cluster-ip-range=10.96.0.0/16",
                "--enable-priority-and-fairness=false",
                "--profiling=false",
            ],
            self.directory,
        )
        self._processes.append(apiserver)
        self.url = f"https://127.0.0.1:{api_port}"
        self._client = self.new_client()
        self._wait_ready(apiserver)
        self._write_kubeconfig()

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        for process in reversed(self._processes):
            process.stop()
        self._processes.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self._processes)

    def _wait_tcp(self, process: _Process, port: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                raise RuntimeError(f"{process.name} exited:\n{process.tail()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{process.name} is not listening on {port}:\n{process.tail()}")

    def _wait_ready(self, process: _Process, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                raise RuntimeError(f"kube-apiserver exited:\n{process.tail()}")
            try:
                response = self.client.get("/readyz")
                if response.status_code == 200 and self.exists("v1", "Namespace", "default"):
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise TimeoutError(f"kube-apiserver not ready after {timeout}s: {last}\n{self.logs()}")

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca)},
                }
            ],
            "users": [{"name": "test", "user": {"token": self.token}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
            "current-context": "test",
        }
        self.kubeconfig = self.directory / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    # helm --------------------------------------------------------------------------------

    def helm_env(self) -> dict[str, str]:
        """helm against this server only, with its own caches (discovery included)."""
        home = self.directory / "helm"
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(home / "kube-cache"),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "HELM_NO_PLUGINS": "1",
        }

    # REST --------------------------------------------------------------------------------

    def new_client(self) -> httpx.Client:
        """A client of the REST API: verified TLS, the bearer token (system:masters)."""
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=self.ca),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    @property
    def client(self) -> httpx.Client:
        assert self._client is not None, "the server is not running"
        return self._client

    def server_version(self) -> str:
        version: str = self.client.get("/version").raise_for_status().json()["gitVersion"]
        return version

    def _discover(self) -> None:
        self._resources.clear()
        group_versions = [("v1", True)]
        for group in self.client.get("/apis").raise_for_status().json()["groups"]:
            preferred = group["preferredVersion"]["groupVersion"]
            group_versions += [
                (v["groupVersion"], v["groupVersion"] == preferred) for v in group["versions"]
            ]
        for gv, preferred in group_versions:
            base = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            response = self.client.get(base)
            if response.status_code != 200:
                continue
            for resource in response.json()["resources"]:
                if "/" in resource["name"]:  # a subresource
                    continue
                self._resources[(gv, resource["kind"])] = Resource(
                    api_version=gv,
                    kind=resource["kind"],
                    path=f"{base}/{{ns}}{resource['name']}",
                    namespaced=resource["namespaced"],
                    listable="list" in resource["verbs"],
                    preferred=preferred,
                )

    def resource(self, api_version: str, kind: str) -> Resource:
        if (api_version, kind) not in self._resources:
            self._discover()
        try:
            return self._resources[(api_version, kind)]
        except KeyError:
            raise LookupError(f"the server does not serve {api_version} {kind}") from None

    def path(self, api_version: str, kind: str, namespace: str | None, name: str = "") -> str:
        resource = self.resource(api_version, kind)
        prefix = f"namespaces/{namespace}/" if resource.namespaced and namespace else ""
        return resource.path.format(ns=prefix) + (f"/{name}" if name else "")

    def namespace_contents(self, namespace: str) -> dict[tuple[str, str], Obj]:
        """(kind, name) -> object of everything stored in a namespace: every namespaced
        resource the server serves (in its group's preferred version), events aside."""
        if not self._resources:
            self._discover()
        found: dict[tuple[str, str], Obj] = {}
        for resource in list(self._resources.values()):
            if resource.namespaced and resource.listable and resource.preferred:
                if resource.kind == "Event":
                    continue
                for obj in self.list_objects(resource.api_version, resource.kind, namespace):
                    found[(obj["kind"], obj["metadata"]["name"])] = obj
        return found

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        response = self.client.get(self.path(api_version, kind, namespace, name))
        response.raise_for_status()
        obj: Obj = response.json()
        return obj

    def exists(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        response = self.client.get(self.path(api_version, kind, namespace, name))
        if response.status_code == 404:
            return False
        response.raise_for_status()
        return True

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None = None, selector: str = ""
    ) -> list[Obj]:
        params = {"labelSelector": selector} if selector else {}
        response = self.client.get(self.path(api_version, kind, namespace), params=params)
        response.raise_for_status()
        items: list[Obj] = response.json()["items"]
        for item in items:
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def create(
        self, obj: Obj, namespace: str | None = None, *, dry_run: bool = False
    ) -> httpx.Response:
        """POST one object; with ``dry_run`` the server runs every admission and validation
        step and stores nothing. Unknown fields are errors (strict field validation)."""
        namespace = namespace or obj.get("metadata", {}).get("namespace")
        params = {"fieldValidation": "Strict"}
        if dry_run:
            params["dryRun"] = "All"
        return self.client.post(
            self.path(obj["apiVersion"], obj["kind"], namespace), json=obj, params=params
        )

    def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str, status: Obj
    ) -> httpx.Response:
        return self.client.patch(
            self.path(api_version, kind, namespace, name) + "/status",
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        )

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        """A namespace as a cluster has it: with its ``default`` ServiceAccount (which the
        controller manager, absent here, would create)."""
        namespace = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}},
        }
        self.create(namespace).raise_for_status()
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        self.create(account, name).raise_for_status()

    def install_crds(self, crds: list[Obj], timeout: float = 120) -> dict[str, str]:
        """Create the CRDs and wait until every served version of those the server accepts
        answers a list (a CRD is Established before its storage is ready: "storage is
        (re)initializing", 429). Answers the refused ones: name -> the server's message."""
        refused: dict[str, str] = {}
        for crd in crds:
            response = self.create(crd)
            if response.status_code == 422:
                refused[crd["metadata"]["name"]] = response.json()["message"]
            elif response.status_code != 409:
                assert response.status_code == 201, f"{crd['metadata']['name']}: {response.text}"
        self._resources.clear()
        deadline = time.monotonic() + timeout
        for crd in crds:
            if crd["metadata"]["name"] in refused:
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if not version.get("served"):
                    continue
                api_version = f"{spec['group']}/{version['name']}"
                last = ""
                while True:
                    try:
                        response = self.client.get(
                            self.path(api_version, spec["names"]["kind"], None)
                        )
                        if response.status_code == 200:
                            break
                        last = response.text
                    except LookupError as exc:  # not in discovery yet
                        last = str(exc)
                        self._resources.clear()
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"{api_version} {spec['names']['kind']} not served: {last}"
                        )
                    time.sleep(0.2)
        return refused


@contextlib.contextmanager
def running_server(version: str, directory: Path) -> Iterator[KubeServer]:
    server = KubeServer(version, directory).start()
    try:
        yield server
    finally:
        server.stop()
