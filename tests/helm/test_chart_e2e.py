"""``helm install`` of deploy/helm/tidewise into a test control plane brings up a working
operator and extender, and ``helm uninstall`` leaves nothing behind.

The test cluster runs no images, so, as the other end-to-end tests do, the operator and the
extender run as local processes, but exactly as the installed chart configures them: each
runs the command of its installed Deployment (with the mounted paths mapped to local copies
of the installed ConfigMap and Secret, and its ports to free ones), under a token of the
chart's ServiceAccount, so only the chart's RBAC lets them work. The chart gets a control
plane of its own: it must own its CRDs and cluster roles, which the session's cluster already
holds (other tests apply the bases), and its uninstall must leave the cluster as it found it.
"""

import base64
import http.client
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lightkube import Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import ConfigMap, Event, Pod, Secret, Service, ServiceAccount
from lightkube.resources.rbac_authorization_v1 import (
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
)
from lightkube.resources.scheduling_v1 import PriorityClass

from tests.controlplane import progress
from tests.helm.chart import CHART, RELEASE, helm, values_file
from tests.kube.controllers.support import http_get, parked_deployment
from tests.kube.gpushare import HALF, gpu_nodes, gpu_pod
from tests.kube.kwok import tidewise_process, wait_for
from tests.kube.manifests import ROOT
from tests.kube.serviceaccount import account_kubeconfig
from tidewise.kube.api.kinds import CronHpa
from tidewise.kube.api.resources import GPU_MEM
from tidewise.testenv import Cluster, down, up
from tidewise.testenv.build import Binaries
from tidewise.testenv.cluster import free_ports
from tidewise.testenv.helm import HelmBuild

pytestmark = pytest.mark.e2e

NAMESPACE = "tidewise-system"
# one controller, so that its Event is the operator's and no node engine is needed
VALUES = {
    "operator": {
        "config": {
            "nodes": {"engine": "none"},
            "controllers": {"elasticscaler": False, "resourcerecommendation": False},
        }
    },
    "extender": {"tls": {"certManager": False}},  # the test cluster has no cert-manager
}
CLUSTER_KINDS = (CustomResourceDefinition, ClusterRole, ClusterRoleBinding, PriorityClass)
NAMESPACED_KINDS = (ServiceAccount, Role, RoleBinding, ConfigMap, Secret, Service, Deployment)


@pytest.fixture(scope="module")
def chart_cluster(
    binaries: Binaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("helm-testenv").resolve()
    running = up(folder, binaries, progress)
    try:
        yield running
    finally:
        down(running.folder)


def inventory(kube: Client) -> set[tuple[str, str, str]]:
    """Every object of the kinds the chart makes, cluster-scoped or in the release's
    namespace, as (kind, namespace, name)."""
    found = set()
    for kind in CLUSTER_KINDS:
        found |= {(kind.__name__, "", o.metadata.name) for o in kube.list(kind)}
    for kind in NAMESPACED_KINDS:
        found |= {
            (kind.__name__, NAMESPACE, o.metadata.name)
            for o in kube.list(kind, namespace=NAMESPACE)
        }
    return found


def helm_environment(folder: Path, cluster: Cluster) -> dict[str, str]:
    """helm's own folders in the test's, and the admin's kubeconfig (helm installs as admin)."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(folder),
        "KUBECONFIG": str(cluster.kubeconfig),
        "HELM_CACHE_HOME": str(folder / "cache"),
        "HELM_CONFIG_HOME": str(folder / "config"),
        "HELM_DATA_HOME": str(folder / "data"),
    }


def container_command(kube: Client, name: str) -> list[str]:
    deployment = kube.get(Deployment, name, namespace=NAMESPACE)
    return list(deployment.spec.template.spec.containers[0].command)


def local(command: list[str], replace: dict[str, str]) -> list[str]:
    """The arguments of the Deployment's ``tidewise ...`` command, each option named in
    ``replace`` (``--name value`` or ``--name=value``; every one must be there) given the
    local value instead: a free port, the local copy of a mounted file."""
    assert command[0] == "tidewise", command
    args: list[str] = []
    found = set()
    rest = iter(command[1:])
    for arg in rest:
        name, equals, _ = arg.partition("=")
        if name not in replace:
            args.append(arg)
            continue
        found.add(name)
        if not equals:
            next(rest)
        args.append(f"{name}={replace[name]}")
    assert found == set(replace), f"{sorted(set(replace) - found)} not in {command}"
    return args


def https_post(port: int, server_name: str, tls: ssl.SSLContext, verb: str, body: dict) -> dict:
    """POST to the extender as kube-scheduler does: its client certificate, and the server's
    certificate checked for the Service's DNS name (the scheduler configuration's urlPrefix)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.sock = tls.wrap_socket(raw, server_hostname=server_name)
    connection.request(
        "POST", f"/{verb}", json.dumps(body), headers={"Content-Type": "application/json"}
    )
    answer = connection.getresponse()
    assert answer.status == 200, answer.read()
    return json.loads(answer.read())


def extender_certificates(kube: Client, folder: Path) -> Path:
    """deploy/extender/make-certs.sh's certificates, put in the Secret the chart's Deployment
    mounts, as its NOTES tell; returns the folder of make-certs.sh's files."""
    certs = folder / "certs"
    subprocess.run(
        ["sh", str(ROOT / "deploy/extender/make-certs.sh"), str(certs), NAMESPACE],
        check=True,
        capture_output=True,
    )
    data = {"tls.crt": "server.crt", "tls.key": "server.key", "ca.crt": "ca.crt"}
    secret = Secret(
        metadata=ObjectMeta(name="tidewise-extender-tls", namespace=NAMESPACE),
        stringData={key: (certs / file).read_text() for key, file in data.items()},
    )
    kube.create(secret)
    return certs


def mounted_secret(kube: Client, name: str, folder: Path) -> Path:
    """The Secret's files as its volume would show them."""
    folder.mkdir()
    for key, value in kube.get(Secret, name, namespace=NAMESPACE).data.items():
        (folder / key).write_bytes(base64.b64decode(value))
    return folder


def crds_established(kube: Client) -> bool:
    crds = [c for c in kube.list(CustomResourceDefinition) if c.spec.group.startswith("tidewise")]
    return len(crds) >= 3 and all(
        any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])
        for crd in crds
    )


def at_second(when: datetime) -> str:
    return f"{when.second} {when.minute} * * * *"


def test_helm_install_brings_up_a_working_operator_and_extender(
    chart_cluster: Cluster, helm_binary: HelmBuild, tmp_path: Path
):
    cluster = chart_cluster
    kube = Client(KubeConfig.from_file(cluster.kubeconfig), field_manager="tidewise-tests")
    environment = helm_environment(tmp_path, cluster)
    before = inventory(kube)
    values = values_file(tmp_path, VALUES)
    installed = helm(
        helm_binary,
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--values",
        str(values),
        env=environment,
    )
    assert "STATUS: deployed" in installed.stdout, installed.stdout
    assert "controllers cronhpa" in installed.stdout  # NOTES.txt
    wait_for("the chart's CRDs established", lambda: crds_established(kube))
    made = inventory(kube) - before
    # the CronHPA controller's rules and none of the controllers switched off
    assert ("ClusterRole", "", "tidewise-operator-cronhpa") in made
    assert ("ClusterRole", "", "tidewise-operator-elasticscaler") not in made
    assert ("ClusterRole", "", "tidewise-operator-karpenter") not in made
    assert ("ConfigMap", NAMESPACE, "tidewise-scheduler-config") in made
    with ExitStack() as stack:
        certs = extender_certificates(kube, tmp_path)
        operator_is_working(kube, cluster, tmp_path, stack)
        extender_is_working(kube, cluster, tmp_path, certs, stack)

    helm(helm_binary, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", env=environment)
    kube.delete(Secret, "tidewise-extender-tls", namespace=NAMESPACE)  # the test's own

    # (the namespace's own: its default ServiceAccount and kube-root-ca.crt ConfigMap)
    own = {("ServiceAccount", NAMESPACE, "default"), ("ConfigMap", NAMESPACE, "kube-root-ca.crt")}
    end = time.monotonic() + 60
    while (left := inventory(kube) - before - own) and time.monotonic() < end:
        time.sleep(0.5)  # the garbage collector deletes what the release's objects owned
    assert not left, f"left behind by helm uninstall: {sorted(left)}"
    assert helm(helm_binary, "list", "--all-namespaces", "-q", env=environment).stdout.strip() == ""


def operator_is_working(kube: Client, cluster: Cluster, folder: Path, stack: ExitStack) -> None:
    """The installed operator command, configuration and ServiceAccount: the CronHPA
    controller scales a Deployment at the scheduled second and says so in an Event."""
    config = folder / "operator"
    config.mkdir()
    installed = kube.get(ConfigMap, "tidewise-operator", namespace=NAMESPACE).data
    for name, text in installed.items():
        (config / name).write_text(text)
    command = container_command(kube, "tidewise-operator")
    mounted = command[command.index("--config") + 1]
    port = free_ports(("operator",))["operator"]
    token = account_kubeconfig(cluster, kube, NAMESPACE, "tidewise-operator")
    args = local(
        command, {"--config": str(config / Path(mounted).name), "--health-port": str(port)}
    )
    args += ["--health-host", "127.0.0.1", "--kubeconfig", str(token)]
    log = cluster.folder / "logs/helm-operator.log"
    stack.enter_context(tidewise_process(log, *args))
    wait_for(
        "the operator leading",
        lambda: "tidewise_leader 1.0" in http_get(f"http://127.0.0.1:{port}/metrics")[1],
        deadline=90,
    )
    workload = "helm-e2e"
    namespace = "default"
    kube.create(parked_deployment(workload, 2), namespace=namespace)
    when = (datetime.now(UTC) + timedelta(seconds=5)).replace(microsecond=0)
    cronhpa = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload},
        "jobs": [{"name": "up", "schedule": at_second(when), "targetSize": 3}],
    }
    kube.create(CronHpa(metadata={"name": workload}, spec=cronhpa), namespace=namespace)

    def rescaled() -> list[Any]:
        events = kube.list(Event, namespace=namespace, fields={"involvedObject.name": workload})
        return [e for e in events if e.reason == "SuccessfulRescale"]

    wait_for("the CronHPA's SuccessfulRescale Event", lambda: bool(rescaled()), deadline=60)
    assert kube.get(Deployment, workload, namespace=namespace).spec.replicas == 3
    kube.delete(Deployment, workload, namespace=namespace)


def extender_is_working(
    kube: Client, cluster: Cluster, folder: Path, certs: Path, stack: ExitStack
) -> None:
    """The installed extender command, certificates and ServiceAccount: it answers
    kube-scheduler's filter over HTTPS, presenting a certificate for the Service's name."""
    command = container_command(kube, "tidewise-extender")
    mount = "/etc/tidewise-extender"
    tls = mounted_secret(kube, "tidewise-extender-tls", folder / "extender-tls")
    ports = free_ports(("https", "health"))
    replace = {"--host": "127.0.0.1", "--port": str(ports["https"])}
    replace |= {"--health-host": "127.0.0.1", "--health-port": str(ports["health"])}
    for option in ("--tls-cert-file", "--tls-private-key-file", "--client-ca-file"):
        value = next(a.split("=", 1)[1] for a in command if a.startswith(option + "="))
        assert value.startswith(mount + "/"), value
        replace[option] = str(tls / Path(value).name)
    token = account_kubeconfig(cluster, kube, NAMESPACE, "tidewise-extender")
    args = [*local(command, replace), "--kubeconfig", str(token)]
    stack.enter_context(tidewise_process(cluster.folder / "logs/helm-extender.log", *args))
    ready = f"http://127.0.0.1:{ports['health']}/readyz"
    wait_for("the extender ready", lambda: http_get(ready)[0] == 200, deadline=60)

    scheduler = ssl.create_default_context(cafile=certs / "ca.crt")
    scheduler.load_cert_chain(certs / "client.crt", certs / "client.key")
    server_name = f"tidewise-extender.{NAMESPACE}.svc"
    with gpu_nodes(kube) as (namespace, suffix, nodes):
        pod = gpu_pod("half", HALF, {"e2e": suffix})
        pod.spec.schedulerName = "nobody"  # no scheduler takes it: only the filter asked here
        kube.create(pod, namespace=namespace)
        asked = kube.get(Pod, "half", namespace=namespace).to_dict()
        names = sorted(nodes)

        def filtered(pod: dict, tls: ssl.SSLContext = scheduler) -> dict:
            args = {"Pod": pod, "Nodes": None, "NodeNames": names}
            return https_post(ports["https"], server_name, tls, "filter", args)

        # the extender learns the new nodes from its watch
        wait_for("the filter passes the GPU nodes", lambda: filtered(asked)["NodeNames"] == names)
        # a pod asking for more GPU memory than any GPU has: every node refused, for good, by name
        huge = json.loads(json.dumps(asked))
        for limits in ("requests", "limits"):
            huge["spec"]["containers"][0]["resources"][limits][GPU_MEM] = "1000"
        refused = filtered(huge)
        unresolvable = refused["FailedAndUnresolvableNodes"]
        assert not refused["NodeNames"] and sorted(unresolvable) == names, refused
        assert all("memory" in reason for reason in unresolvable.values()), refused
        # and only the holder of a client certificate of the chart's CA is answered
        with pytest.raises(OSError):
            filtered(asked, ssl.create_default_context(cafile=certs / "ca.crt"))
