"""deploy/extender: the kustomize base holds what a deployment needs, its RBAC grants what the
extender's code calls and no more, its certificates fit the extender's flags and the scheduler
configuration, and make-certs.sh makes certificates that work.

The calls are found in the source: every ``client.<verb>(...)`` of tidewise/kube/extender and of
the tidewise/kube/api modules it imports, so a new API call without its rule, or a rule left
behind, fails here."""

import ast
import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.kube.rbac import client_calls, granted
from tidewise.kube.extender.leader import LEASE_NAME, ROLE_LABEL
from tidewise.kube.extender.tls import TlsFiles, allowed, server_context

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy/extender"
EXTENDER = ROOT / "tidewise/kube/extender"
VERBS = {"get": "get", "list": "list", "watch": "watch", "create": "create", "patch": "patch"}
VERBS |= {"replace": "update", "delete": "delete"}
# what the first argument of a client call names: a resource class, a local variable, or the
# function that builds the object
RESOURCES = {"Node": "nodes", "Pod": "pods", "binding": "pods/binding", "posted": "events"}
RESOURCES |= {"Lease": "leases", "fresh": "leases", "lease": "leases"}


def sources() -> list[Path]:
    """The extender's modules and the tidewise.kube.api modules they import."""
    own = sorted(EXTENDER.glob("*.py"))
    used = {
        alias.name if isinstance(node, ast.Import) else node.module
        for path in own
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [node])
    }
    api = sorted(
        ROOT / (name.replace(".", "/") + ".py")
        for name in used
        if name and name.startswith("tidewise.kube.api.")
    )
    return own + api


def calls() -> set[tuple[str, str]]:
    found = set()
    for path, method, name in client_calls(sources()):
        assert name in RESOURCES, f"{path.name}: client.{method}({name}) is unmapped"
        found.add((RESOURCES[name], VERBS[method]))
    return found


def documents() -> list[dict]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return [
        doc
        for name in kustomization["resources"]
        for doc in yaml.safe_load_all((BASE / name).read_text())
        if doc
    ]


def one(kind: str, name: str | None = None) -> dict:
    [doc] = [d for d in documents() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return doc


def flags() -> dict[str, str]:
    command = one("Deployment")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["tidewise", "extender", "serve"]
    return dict(arg.removeprefix("--").split("=", 1) for arg in command[3:])


def test_rbac_grants_exactly_what_the_code_calls():
    used = calls()
    assert ("pods/binding", "create") in used and ("nodes", "watch") in used  # the scan works
    assert ("leases", "update") in used and ("events", "create") in used
    cluster, leader = granted(documents(), "ClusterRole"), granted(documents(), "Role")
    leases = {(r, v) for r, v in used if r == "leases"}
    assert leader == leases, "the Role is for the leader-election Lease alone"
    assert cluster == used - leases
    assert not any("*" in r or v == "*" for r, v in cluster | leader)
    role = one("Role")
    assert role["metadata"]["namespace"] == flags()["lease-namespace"]
    binding = one("ClusterRoleBinding")
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert binding["subjects"][0]["name"] == pod["serviceAccountName"]


def test_two_replicas_behind_a_service_that_selects_the_leader():
    deployment, service = one("Deployment"), one("Service")
    assert deployment["spec"]["replicas"] == 2
    assert service["spec"]["selector"][ROLE_LABEL] == "leader"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert {k: v for k, v in service["spec"]["selector"].items() if k != ROLE_LABEL} == labels
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    given = flags()
    assert ports == {"https": int(given["port"]), "http": int(given["health-port"])}
    assert given["host"] == given["health-host"] == "0.0.0.0"
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert service["spec"]["ports"][0]["targetPort"] == "https"
    assert LEASE_NAME == "tidewise-extender"  # the default --lease-name, in the Role's namespace


def test_the_certificates_fit_the_flags_the_service_and_the_scheduler():
    given = flags()
    pod = one("Deployment")["spec"]["template"]["spec"]
    [mount] = pod["containers"][0]["volumeMounts"]
    [volume] = pod["volumes"]
    secret = volume["secret"]["secretName"]
    for flag, key in (("tls-cert-file", "tls.crt"), ("tls-private-key-file", "tls.key")):
        assert given[flag] == f"{mount['mountPath']}/{key}"
    assert given["client-ca-file"] == f"{mount['mountPath']}/ca.crt"
    serving = one("Certificate", "tidewise-extender-tls")["spec"]
    client = one("Certificate", "tidewise-scheduler-client")["spec"]
    assert serving["secretName"] == secret and serving["usages"][0] == "server auth"
    assert client["commonName"] == given["client-name"] and client["usages"][0] == "client auth"
    assert serving["issuerRef"] == client["issuerRef"]  # one CA signs both: the client CA
    service = one("Service")["metadata"]
    assert f"{service['name']}.{service['namespace']}.svc" in serving["dnsNames"]
    scheduler = yaml.safe_load((ROOT / "deploy/scheduler/kube-scheduler-config.yaml").read_text())
    [entry] = scheduler["extenders"]
    url = f"https://{service['name']}.{service['namespace']}.svc:{given['port']}"
    assert entry["urlPrefix"] == url


@pytest.mark.skipif(shutil.which("openssl") is None, reason="make-certs.sh needs openssl")
def test_make_certs_makes_certificates_the_extender_and_the_scheduler_accept(tmp_path):
    run = subprocess.run(
        [BASE / "make-certs.sh", tmp_path / "certs", "tidewise-system"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "kubectl -n tidewise-system create secret generic tidewise-extender-tls" in run.stdout
    certs = tmp_path / "certs"
    assert oct((certs / "server.key").stat().st_mode & 0o777) == "0o600"
    context = server_context(TlsFiles(certs / "server.crt", certs / "server.key", certs / "ca.crt"))
    client = ssl.create_default_context(cafile=certs / "ca.crt")  # as kube-scheduler checks
    client.load_cert_chain(certs / "client.crt", certs / "client.key")

    async def handshake() -> dict:
        seen = {}

        async def accept(reader, writer):
            seen["client"] = writer.get_extra_info("peercert")
            writer.close()

        server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname="tidewise-extender.tidewise-system.svc"
        )
        await asyncio.sleep(0.1)
        writer.close()
        server.close()
        return seen["client"]

    peer = asyncio.run(handshake())
    assert allowed(peer, [flags()["client-name"]])
