"""Start, stop and check a throw-away control plane on loopback, kept in one folder.

Why: the end-to-end suite and a developer's ``tidewise testenv up`` need the same cluster:
etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (the kubelets of fake
nodes), each on a free loopback port, with certificates made for this cluster alone. Everything
(keys, kubeconfigs, etcd data, logs, the process ids) lives in the folder given, so a later
``down`` or ``status`` in another process finds the cluster, and deleting the folder forgets it.
Fake nodes and pods get loopback addresses, so nothing ever sends traffic off this machine.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tidewise.kube.api.kwok import FAKE_NODE_ANNOTATION, FAKE_NODE_VALUE
from tidewise.testenv.build import Binaries, Progress
from tidewise.testenv.kubeconfig import write_kubeconfig
from tidewise.testenv.pki import CertificateAuthority, service_account_key

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORTS = ("etcd", "etcd-peer", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_RANGE = "10.96.0.0/16"
FAKE_NODE_IP = "127.0.0.1"
FAKE_POD_RANGE = "127.64.0.0/16"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 15.0


class ClusterError(RuntimeError):
    """A component did not start, or the folder holds no cluster."""


@dataclass(frozen=True)
class Cluster:
    """A running control plane, as recorded in its folder."""

    folder: Path
    ports: dict[str, int]
    pids: dict[str, int]
    binaries: Path
    # each component's command line, kept so one component can be stopped and started again
    argv: dict[str, list[str]] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        """An admin (``system:masters``) kubeconfig for tests and for kubectl."""
        return self.folder / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['kube-apiserver']}"

    def save(self) -> None:
        record = {
            "ports": self.ports,
            "pids": self.pids,
            "binaries": str(self.binaries),
            "argv": self.argv,
        }
        (self.folder / "cluster.json").write_text(json.dumps(record, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Cluster:
        path = folder / "cluster.json"
        if not path.is_file():
            raise ClusterError(
                f"no test cluster in {folder} (start one with `tidewise testenv up`)"
            )
        record = json.loads(path.read_text())
        return cls(
            folder,
            record["ports"],
            record["pids"],
            Path(record["binaries"]),
            record.get("argv", {}),
        )


def free_ports(names: tuple[str, ...]) -> dict[str, int]:
    """Distinct free loopback ports (all held open until each is known, so none repeats)."""
    sockets = []
    try:
        for _ in names:
            held = socket.socket()
            held.bind(("127.0.0.1", 0))
            sockets.append(held)
        return {name: held.getsockname()[1] for name, held in zip(names, sockets, strict=True)}
    finally:
        for held in sockets:
            held.close()


def write_pki(folder: Path) -> None:
    """The CA, the API server's serving certificate, one client per identity, the SA key."""
    folder.mkdir(parents=True, exist_ok=True)
    authority = CertificateAuthority(datetime.datetime.now(datetime.UTC))
    (folder / "ca.crt").write_bytes(authority.pem)
    authority.server().write(folder, "kube-apiserver")
    authority.client("tidewise-admin", "system:masters").write(folder, "admin")
    authority.client("system:kube-controller-manager").write(folder, "kube-controller-manager")
    authority.client("system:kube-scheduler").write(folder, "kube-scheduler")
    # the GPU-share extender's serving certificate: the scheduler calls it over HTTPS with its
    # own client certificate above (tidewise.kube.extender.tls)
    authority.extender().write(folder, "extender")
    # the on-demand base webhook's (tidewise.kube.ondemand), which the API server calls
    authority.webhook().write(folder, "webhook")
    private, public = service_account_key()
    (folder / "service-account.key").touch(mode=0o600)
    (folder / "service-account.key").write_bytes(private)
    (folder / "service-account.pub").write_bytes(public)


def write_scheduler_config(folder: Path, extenders: list[dict[str, Any]]) -> Path:
    """A ``KubeSchedulerConfiguration`` with the given ``extenders`` entries.

    Why a file: kube-scheduler takes extenders only from ``--config``, and with ``--config``
    it ignores the deprecated ``--kubeconfig`` flag, so the file names the kubeconfig too.
    """
    config = {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(folder / "kube-scheduler.kubeconfig")},
        "leaderElection": {"leaderElect": False},
        "extenders": extenders,
    }
    path = folder / "kube-scheduler.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def arguments(
    folder: Path,
    ports: dict[str, int],
    binaries: Binaries,
    extenders: list[dict[str, Any]] | None = None,
) -> dict[str, list[str]]:
    """Each component's command line; flags follow upstream's local-up-cluster and kwokctl.

    With ``extenders`` the scheduler calls them (entries of its configuration's list).
    """
    scheduler_source = (
        [f"--config={write_scheduler_config(folder, extenders)}"]
        if extenders
        else [f"--kubeconfig={folder / 'kube-scheduler.kubeconfig'}"]
    )
    pki = folder / "pki"
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
    return {
        "etcd": [
            "--name=testenv",
            f"--data-dir={folder / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=testenv={peer_url}",
            "--unsafe-no-fsync",  # a throw-away cluster: durability buys nothing, fsync costs
            "--log-level=warn",
        ],
        "kube-apiserver": [
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['kube-apiserver']}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'kube-apiserver.crt'}",
            f"--tls-private-key-file={pki / 'kube-apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'service-account.pub'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            # nothing in the cluster can reach 127.0.0.1, and Endpoints refuse loopback addresses
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ],
        "kube-controller-manager": [
            f"--kubeconfig={folder / 'kube-controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-controller-manager']}",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'service-account.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--profiling=false",
        ],
        "kube-scheduler": [
            *scheduler_source,
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['kube-scheduler']}",
            "--leader-elect=false",
            "--profiling=false",
        ],
        "kwok": [
            f"--kubeconfig={folder / 'kubeconfig'}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}={FAKE_NODE_VALUE}",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            f"--node-ip={FAKE_NODE_IP}",
            f"--cidr={FAKE_POD_RANGE}",
            "--node-lease-duration-seconds=40",
            *(f"--config={stage}" for stage in binaries.kwok_stages),
        ],
    }


def health_url(name: str, ports: dict[str, int]) -> str:
    scheme = "http" if name in ("etcd", "kwok") else "https"
    path = {"etcd": "/health", "kube-apiserver": "/readyz"}.get(name, "/healthz")
    return f"{scheme}://127.0.0.1:{ports[name]}{path}"


def tls_context(pki: Path) -> ssl.SSLContext:
    """Present the admin certificate; verify no server certificate.

    The controller manager and scheduler serve health on certificates they sign themselves,
    and a health probe only asks whether a component answers ``ok``, so no check is made of
    whom it talks to (clients of the API server verify it against the CA in the kubeconfig).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_cert_chain(pki / "admin.crt", pki / "admin.key")
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def probe(url: str, context: ssl.SSLContext) -> str:
    """``ok``, or why not."""
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            body = response.read().decode(errors="replace").strip()
            return "ok" if response.status == 200 else f"HTTP {response.status}: {body[:200]}"
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}: {error.read().decode(errors='replace').strip()[:200]}"
    except (OSError, ValueError) as error:
        return f"not answering ({error})"


def running(pid: int, binaries: Path) -> bool:
    """The process lives and still runs one of our binaries (a reused pid is not ours)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z" and Path(os.readlink(f"/proc/{pid}/exe")).parent == binaries
    except OSError:
        return False


def log_tail(folder: Path, name: str, lines: int = 30) -> str:
    log = folder / "logs" / f"{name}.log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def start(folder: Path, binaries: Binaries, name: str, argv: list[str]) -> int:
    """Start one component in its own session, so it outlives the command that started it."""
    with open(folder / "logs" / f"{name}.log", "ab") as log:
        process = subprocess.Popen(
            [str(binaries.path(name)), *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process.pid


def wait_healthy(cluster: Cluster, name: str, context: ssl.SSLContext, deadline: float) -> None:
    url = health_url(name, cluster.ports)
    while True:
        answer = probe(url, context)
        if answer == "ok":
            return
        if not running(cluster.pids[name], cluster.binaries) or time.monotonic() > deadline:
            raise ClusterError(
                f"{name} did not become healthy ({url}: {answer}); the end of its log:\n"
                + log_tail(cluster.folder, name)
            )
        time.sleep(0.25)


def up(
    folder: Path,
    binaries: Binaries,
    progress: Progress,
    extenders: list[dict[str, Any]] | None = None,
) -> Cluster:
    """Start a fresh cluster in ``folder`` (stopping and wiping any earlier one there).

    ``extenders``: scheduler extender entries (``KubeSchedulerConfiguration.extenders``), for
    instance ``tidewise.kube.extender.extender_stanza(url)``.
    """
    folder = folder.resolve()
    if (folder / "cluster.json").exists():
        down(folder)
    for stale in ("etcd", "logs", "pki"):
        shutil.rmtree(folder / stale, ignore_errors=True)
    (folder / "logs").mkdir(parents=True)
    write_pki(folder / "pki")
    ports = free_ports(PORTS)
    server = f"https://127.0.0.1:{ports['kube-apiserver']}"
    for identity, file in (
        ("admin", "kubeconfig"),
        ("kube-controller-manager", "kube-controller-manager.kubeconfig"),
        ("kube-scheduler", "kube-scheduler.kubeconfig"),
    ):
        write_kubeconfig(folder / file, server, folder / "pki", identity)
    argv = arguments(folder, ports, binaries, extenders)
    cluster = Cluster(folder, ports, {}, binaries.folder, argv)
    context = tls_context(folder / "pki")
    deadline = time.monotonic() + START_TIMEOUT
    try:
        for name in COMPONENTS:
            started = time.monotonic()
            cluster.pids[name] = start(folder, binaries, name, argv[name])
            cluster.save()
            wait_healthy(cluster, name, context, deadline)
            progress(f"{name} ready on port {ports[name]} ({time.monotonic() - started:.1f} s)")
    except BaseException:
        down(folder)
        raise
    return cluster


def stop(pid: int, binaries: Path) -> bool:
    """SIGTERM, then SIGKILL after a grace period; True when it was running."""
    if not running(pid, binaries):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while running(pid, binaries) and time.monotonic() < deadline:
        time.sleep(0.1)
    if running(pid, binaries):
        os.kill(pid, signal.SIGKILL)
        # the kernel takes a moment to end it; until then a restart finds it still running
        deadline = time.monotonic() + STOP_TIMEOUT
        while running(pid, binaries) and time.monotonic() < deadline:
            time.sleep(0.1)
    return True


def down(folder: Path) -> list[str]:
    """Stop every component recorded in ``folder``, last started first; returns their names."""
    cluster = Cluster.load(folder)
    stopped = [
        name
        for name in reversed(COMPONENTS)
        if name in cluster.pids and stop(cluster.pids[name], cluster.binaries)
    ]
    (folder / "cluster.json").unlink()
    return stopped


def stop_component(folder: Path, name: str) -> None:
    """Stop one component (a fault for the end-to-end tests: an API server that goes away)."""
    cluster = Cluster.load(folder)
    stop(cluster.pids[name], cluster.binaries)


def start_component(folder: Path, name: str) -> None:
    """Start a stopped component again with its first command line, on the same port, and wait
    until it is healthy (the API server finds its objects in etcd, so clients resume)."""
    cluster = Cluster.load(folder)
    if running(cluster.pids[name], cluster.binaries):
        raise ClusterError(f"{name} is already running (pid {cluster.pids[name]})")
    cluster.pids[name] = start(folder, Binaries(cluster.binaries), name, cluster.argv[name])
    cluster.save()
    deadline = time.monotonic() + START_TIMEOUT
    wait_healthy(cluster, name, tls_context(folder / "pki"), deadline)


def status(folder: Path) -> dict[str, str]:
    """Each component's health: ``ok``, ``stopped``, or what its health endpoint says."""
    cluster = Cluster.load(folder)
    context = tls_context(folder / "pki")
    return {
        name: (
            probe(health_url(name, cluster.ports), context)
            if running(cluster.pids.get(name, 0), cluster.binaries)
            else "stopped"
        )
        for name in COMPONENTS
    }


def answers_ok(url: str) -> bool:
    """Whether ``url`` (plain HTTP on loopback: a health or readiness endpoint) answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def served_process(
    name: str,
    argv: list[str],
    log: Path,
    ready_url: str,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` running, logging to ``log``, from the moment ``ready_url`` answers 200 until
    the block ends (terminated, then killed after 15 s); a process that exits or is not ready
    within ``timeout_s`` is an error quoting the end of its log. The test environment's helper
    servers (Karpenter, Prometheus) run this way."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout_s
        while not answers_ok(ready_url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                raise ClusterError(f"{name} did not become ready; the end of its log:\n{tail}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
