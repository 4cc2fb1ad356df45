"""``tidewise job``: submit, list, inspect and delete training jobs (Arena's shape).

Against the twin (``--cluster sim``): state lives in one JSON file (``--state``), written
whole or not at all, so successive commands see each other and a crash loses nothing already
written. Against a real cluster (``--cluster kube``): the job is created suspended and the
queue controller (``tidewise queue run``) starts it; list and get read the cluster.
``submit --dry-run -o yaml`` prints the Kubernetes objects instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tidewise.cli.cost import DEFAULT_CATALOG, DEFAULT_PROVIDER
from tidewise.cli.errors import fail
from tidewise.cli.kube import DNS_1035_LABEL, ContextOption, api_errors, check_name, kube_config
from tidewise.cli.output import Format, OutputOption, print_document
from tidewise.files import InputError, LockBusy, locked, read_input, write_atomically
from tidewise.model import (
    DEFAULT_QUEUE,
    Job,
    JobPhase,
    JobSpec,
    Resources,
    parse_cpu,
    parse_memory,
)

if TYPE_CHECKING:
    from lightkube import Client

    from tidewise.queue import QueuePlan
    from tidewise.sim.jobs.cluster import SimJobCluster

DEFAULT_STATE = Path(".tidewise/sim-jobs.json")
STATE_LOCK_WAIT_S = 60.0  # a command holds the lock for one reconcile: well under a second

app = typer.Typer(
    help="Training jobs: submit, list, get, delete, top.",
    no_args_is_help=True,
    add_completion=False,
)


ClusterOption = Annotated[
    str,
    typer.Option(
        "--cluster",
        envvar="TIDEWISE_CLUSTER",
        help="Where jobs run: 'sim' (the twin) or 'kube' (the cluster of --kubeconfig, "
        "$KUBECONFIG or ~/.kube/config).",
    ),
]
KubeconfigOption = Annotated[
    Path | None, typer.Option(help="--cluster kube: the kubeconfig; default $KUBECONFIG.")
]
NamespaceOption = Annotated[
    str,
    typer.Option(
        "--namespace",
        "-n",
        envvar="TIDEWISE_NAMESPACE",
        help="Namespace of the job (--cluster kube).",
    ),
]
StateOption = Annotated[
    Path,
    typer.Option("--state", envvar="TIDEWISE_STATE", help="The simulated cluster's state file."),
]
NodesOption = Annotated[
    int | None,
    typer.Option(
        "--nodes",
        help="Simulated cluster: 8-GPU nodes, when the state file is made (default 2); "
        "stored there, so later commands need not repeat it.",
    ),
]
JOB_NAME = "a job name: at most 63 lowercase letters, digits and '-', a letter first, e.g. bert-1"


def _kube(
    cluster: str, kubeconfig: Path | None, context: str | None, namespace: str
) -> Client | None:
    """A client when ``--cluster kube``, ``None`` for the twin (whose jobs have no namespace,
    but a name that could not be one is refused all the same)."""
    check_name("--namespace", namespace)
    if cluster == "sim":
        return None
    if cluster != "kube":
        raise fail(f"--cluster: 'sim' or 'kube', got {cluster!r}")
    from lightkube import Client

    return Client(kube_config(kubeconfig, context), field_manager="tidewise-job")


def _load(cluster: str, state: Path, nodes: int | None = None) -> SimJobCluster:
    from tidewise.sim.jobs.cluster import DEFAULT_NODES, SimJobCluster, StateError

    if cluster != "sim":
        raise fail(f"--cluster: 'sim' or 'kube', got {cluster!r}")
    if nodes is not None and nodes < 1:
        raise fail("--nodes: at least 1 node, e.g. --nodes 4")
    if not state.exists():
        return SimJobCluster(epoch_unix_s=time.time(), node_count=nodes or DEFAULT_NODES)
    try:
        sim = SimJobCluster.from_json(read_input(state))
    except InputError as err:
        raise fail(f"--state: {err}; move it away to start afresh") from None
    except StateError as err:
        raise fail(f"--state: {state}: {err}; move it away to start afresh") from None
    if nodes is not None and nodes != sim.node_count:
        raise fail(
            f"--nodes: {state} holds a cluster of {sim.node_count} nodes; its size is set "
            "when the state file is made (delete the file to start a new one)"
        )
    return sim


@contextmanager
def _twin(cluster: str, state: Path, nodes: int | None = None) -> Iterator[SimJobCluster]:
    """The twin as the state file holds it, for the block to change; saved back when the
    block ends without an error. The whole read-change-write runs under the state file's
    lock, so commands run at once (ten submits, a list beside them) each see the others'
    changes instead of writing a stale copy over them."""
    if state.is_dir():
        raise fail(f"--state: {state} is a folder; give the state file's name")
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise fail(f"--state: cannot make folder {state.parent} ({err.strerror})") from None
    try:
        with locked(state, wait_s=STATE_LOCK_WAIT_S):
            sim = _load(cluster, state, nodes)
            yield sim
            write_atomically(state, sim.to_json())
    except LockBusy as err:
        raise fail(f"--state: {err} for more than {STATE_LOCK_WAIT_S:g} s") from None


def _now(sim: SimJobCluster) -> float:
    return time.time() - sim.epoch_unix_s


def _reconcile(sim: SimJobCluster) -> QueuePlan:
    """Every command reconciles (and, leaving ``_twin``, saves): what a pass admits is never
    lost between commands."""
    return sim.reconcile(_now(sim))


def _row(job: Job, plan: QueuePlan, cost_usd: float | None = None) -> dict[str, Any]:
    waiting = plan.waiting_for(job.name)
    return {
        "name": job.name,
        "status": job.phase.value,
        "queue": job.spec.queue,
        "priority": job.spec.priority,
        "workers": job.spec.workers,
        "gpus": job.spec.gpus,
        "position": waiting.position if waiting else None,
        "reason": waiting.reason if waiting else None,
        "nodes": sorted({b.node for b in job.binds}),
        "image": job.spec.image,
        "command": list(job.spec.command),
        "dataset": job.spec.dataset,
        "checkpointable": job.spec.checkpointable,
        "cost_usd": cost_usd,
    }


def _rows(
    cluster: str, kubeconfig: Path | None, context: str | None, namespace: str, state: Path
) -> list[dict[str, Any]]:
    client = _kube(cluster, kubeconfig, context, namespace)
    if client is not None:
        with _kube_jobs() as kube_jobs:
            pods = kube_jobs.job_pods(client, namespace)
            found = kube_jobs.rows(client, namespace, pods)
            costs = _kube_costs(client, pods)
        return [{**r, "cost_usd": costs.get(r["name"], 0.0)} for r in found]
    with _twin(cluster, state) as sim:
        plan = _reconcile(sim)
        costs = sim.cost_so_far_usd(_now(sim))
        return [_row(j, plan, costs.get(j.name)) for j in sim.jobs.values()]


def _kube_costs(client: Client, pods: list[dict[str, Any]]) -> dict[str, float]:
    """USD each job's pods have cost since they started, priced as ``tidewise cost`` prices
    them (``TIDEWISE_CATALOG``/``TIDEWISE_PROVIDER``, default AWS us-east-1)."""
    from lightkube.resources.core_v1 import Node

    from tidewise.cli.cost import configured_catalog
    from tidewise.kube.cost import cost_so_far_usd
    from tidewise.kube.jobs.observe import JOB_LABEL

    catalog = configured_catalog(
        os.environ.get("TIDEWISE_CATALOG", DEFAULT_CATALOG),
        os.environ.get("TIDEWISE_PROVIDER", DEFAULT_PROVIDER),
    )
    nodes = [n.to_dict() for n in client.list(Node)]
    per_pod = cost_so_far_usd(nodes, pods, catalog, time.time())
    costs: dict[str, float] = {}
    for pod in pods:
        meta = pod["metadata"]
        usd = per_pod.get((meta["namespace"], meta["name"]), 0.0)
        costs[meta["labels"][JOB_LABEL]] = costs.get(meta["labels"][JOB_LABEL], 0.0) + usd
    return costs


@contextmanager
def _kube_jobs() -> Iterator[ModuleType]:
    """The cluster's job client; its refusals and unreachability as one line and exit 2."""
    from tidewise.kube.jobs import client as kube_jobs

    with api_errors():
        try:
            yield kube_jobs
        except kube_jobs.JobClientError as error:
            raise fail(str(error)) from None


def _emit(rows: Any, output: Format, table: Table | None = None) -> None:
    if output.is_document:
        print_document(rows, output)
    elif table is not None:
        Console().print(table)


def spec_from_flags(
    name: str,
    gpus: int,
    workers: int,
    gpumemory: float | None,
    cpu: str,
    memory: str,
    image: str | None,
    command: list[str],
    **extra: Any,
) -> JobSpec:
    """The job the flags describe; ``ValueError`` names the flag and the fix."""
    if not image:
        raise ValueError("--image: give the container image, e.g. --image pytorch/pytorch:2.4")
    if gpus < 0 or workers < 1:
        raise ValueError("--gpus >= 0 and --workers >= 1")
    if gpumemory is not None and gpumemory <= 0:
        raise ValueError("--gpumemory: GiB of GPU memory, > 0, e.g. --gpumemory 8")
    if gpumemory is not None and not gpus and workers > 1:
        raise ValueError("--gpumemory without --gpus is a share of one GPU: one worker only")
    try:
        cpu_milli = parse_cpu(cpu)
        memory_mib = parse_memory(memory)
    except ValueError as err:
        raise ValueError(f"--cpu/--memory: {err}") from None
    worker = Resources(
        cpu_milli=cpu_milli,
        memory_mib=memory_mib,
        gpu_count=gpus,
        gpu_memory_mib=round(gpumemory * 1024) if gpumemory else 0,
    )
    return JobSpec(name, worker, workers=workers, image=image, command=tuple(command), **extra)


def _refuse_if_never_starts(sim: SimJobCluster, spec: JobSpec) -> None:
    """A job the twin's fixed nodes and queues could never start is refused, naming the flag
    to change, instead of queued to wait forever."""
    from dataclasses import replace

    from tidewise.queue import WaitKind
    from tidewise.queue.feasible import never_starts

    never = never_starts(spec, sim.policy(), replace(sim, jobs={}).nodes())
    if never is None:
        return
    if never.kind is WaitKind.NO_QUEUE:
        raise fail(f"--queue: {never.reason}")
    cluster = f"{sim.node_count} x {sim.instance_type}, {sim.gpu_total} GPUs"
    if not spec.worker.wants_gpu:
        raise fail(
            f"--gpus: {spec.name!r} could never start on this cluster ({cluster}): CPU-only "
            "workers stay off GPU nodes and the twin has no other; give --gpus or --gpumemory"
        )
    raise fail(
        f"--gpus/--workers/--cpu/--memory: {spec.name!r} could never start on this cluster "
        f"({cluster}): {never.reason}; ask for less, or start a bigger cluster (--nodes, with "
        "a new --state file)"
    )


@app.command("submit")
def submit(
    name: Annotated[str, typer.Argument(help="Job name, unique in the cluster.")],
    command: Annotated[list[str] | None, typer.Argument(help="After --: the command.")] = None,
    gpus: Annotated[int, typer.Option(help="Whole GPUs per worker.")] = 0,
    workers: Annotated[int, typer.Option(help="Workers (>1: a PyTorchJob).")] = 1,
    gpumemory: Annotated[
        float | None,
        typer.Option(help="GiB of GPU memory: alone, a share of one GPU; with --gpus, per GPU."),
    ] = None,
    cpu: Annotated[str, typer.Option(help="CPU per worker.")] = "4",
    memory: Annotated[str, typer.Option(help="Memory per worker.")] = "16Gi",
    queue: Annotated[str, typer.Option(help="Queue.")] = DEFAULT_QUEUE,
    priority: Annotated[int, typer.Option(help="Higher starts first and may preempt.")] = 0,
    dataset: Annotated[str | None, typer.Option(help="Dataset (Fluid) to mount.")] = None,
    checkpointable: Annotated[
        bool, typer.Option(help="Resumes from checkpoints: may run on spot, evicted first.")
    ] = False,
    image: Annotated[str | None, typer.Option(help="Container image.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the Kubernetes objects; submit nothing.")
    ] = False,
    namespace: NamespaceOption = "default",
    cluster: ClusterOption = "sim",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    state: StateOption = DEFAULT_STATE,
    nodes: NodesOption = None,
    output: OutputOption = Format.TABLE,
) -> None:
    """Submit a job: tidewise job submit NAME --gpus 2 --image IMG -- python train.py"""
    check_name("NAME", name, JOB_NAME, DNS_1035_LABEL)
    try:
        spec = spec_from_flags(
            name,
            gpus,
            workers,
            gpumemory,
            cpu,
            memory,
            image,
            command or [],
            queue=queue,
            priority=priority,
            dataset=dataset,
            checkpointable=checkpointable,
        )
    except ValueError as err:
        raise fail(str(err)) from None
    check_name("--namespace", namespace)
    from tidewise.queue.manifests import render

    manifest = render(spec, namespace)
    if dry_run:
        print_document(manifest, output if output.is_document else Format.YAML)
        return
    client = _kube(cluster, kubeconfig, context, namespace)
    if client is not None:
        with _kube_jobs() as kube_jobs:
            kube_jobs.submit(client, manifest)
        typer.echo(f"{manifest['kind'].lower()} {namespace}/{name} submitted (suspended: queued)")
        return
    with _twin(cluster, state, nodes) as sim:
        if name in sim.jobs:
            raise fail(f"NAME: a job {name!r} exists; delete it first or pick another name")
        _refuse_if_never_starts(sim, spec)
        sim.jobs[name] = Job(spec, phase=JobPhase.QUEUING, submitted_s=_now(sim))
        plan = _reconcile(sim)
        row = _row(sim.jobs[name], plan)
    if not output.is_document:
        where = f"position {row['position']}: {row['reason']}" if row["position"] else ""
        typer.echo(f"job {name} submitted: {row['status']} {where}".rstrip())
    else:
        _emit(row, output)


@app.command("list")
def list_jobs(
    cluster: ClusterOption = "sim",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = "default",
    state: StateOption = DEFAULT_STATE,
    output: OutputOption = Format.TABLE,
) -> None:
    """Every job: status, GPUs, queue position, cost so far (-o wide: image and reason too)."""
    rows = _rows(cluster, kubeconfig, context, namespace, state)
    wide = output is Format.WIDE
    table = Table(title=f"jobs ({len(rows)})")
    columns = ["NAME", "STATUS", "QUEUE", "GPUS", "WORKERS", "POSITION", "NODES", "COST"]
    for column in [*columns, *(["IMAGE", "REASON"] if wide else [])]:
        table.add_column(column, justify="right" if column == "COST" else "left")
    for r in rows:
        cells = [
            r["name"],
            r["status"],
            r["queue"],
            f"{r['gpus']:g}",
            str(r["workers"]),
            str(r["position"] or "-"),
            ",".join(r["nodes"]) or "-",
            "-" if r.get("cost_usd") is None else f"${r['cost_usd']:,.2f}",
        ]
        table.add_row(*cells, *([r["image"] or "-", r["reason"] or "-"] if wide else []))
    _emit(rows, output, table)


@app.command("get")
def get(
    name: Annotated[str, typer.Argument(help="Job name.")],
    cluster: ClusterOption = "sim",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = "default",
    state: StateOption = DEFAULT_STATE,
    output: OutputOption = Format.TABLE,
) -> None:
    """One job: status, queue position and, if waiting, why."""
    rows = _rows(cluster, kubeconfig, context, namespace, state)
    row = next((r for r in rows if r["name"] == name), None)
    if row is None:
        raise fail(f"NAME: no job {name!r}; `tidewise job list` shows the jobs")
    table = Table(show_header=False, title=f"job {name}")
    table.add_column("field")
    table.add_column("value")
    for key, value in row.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        table.add_row(key, "-" if shown in (None, "") else str(shown))
    _emit(row, output, table)


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Job name.")],
    cluster: ClusterOption = "sim",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = "default",
    state: StateOption = DEFAULT_STATE,
) -> None:
    """Delete a job; waiting jobs that now fit start."""
    client = _kube(cluster, kubeconfig, context, namespace)
    if client is not None:
        with _kube_jobs() as kube_jobs:
            kube_jobs.delete(client, name, namespace)
        typer.echo(f"job {namespace}/{name} deleted; the queue controller starts what now fits")
        return
    with _twin(cluster, state) as sim:
        if sim.jobs.pop(name, None) is None:
            raise fail(f"NAME: no job {name!r}; `tidewise job list` shows the jobs")
        plan = _reconcile(sim)
    started = ", ".join(a.job for a in plan.admit)
    typer.echo(f"job {name} deleted" + (f"; started: {started}" if started else ""))


@app.command("logs")
def logs(
    name: Annotated[str, typer.Argument(help="Job name.")],
    worker: Annotated[
        int, typer.Option("--worker", "-w", help="Which pod, in name order (master first).")
    ] = 0,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new lines.")] = False,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.")] = None,
    cluster: ClusterOption = "sim",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = "default",
) -> None:
    """A job's log, as kubectl logs: tidewise job logs NAME --cluster kube [-w 1] [-f]"""
    if tail is not None and tail < 0:
        raise fail("--tail: a count of lines, >= 0, e.g. --tail 100")
    if worker < 0:
        raise fail("--worker: a pod's index, >= 0 (0: the master), e.g. -w 1")
    client = _kube(cluster, kubeconfig, context, namespace)
    if client is None:
        raise fail(
            "--cluster: the twin runs no containers, so its jobs have no logs; "
            "`tidewise job get NAME` shows a job's state (logs: --cluster kube)"
        )
    with _kube_jobs() as kube_jobs, suppress(KeyboardInterrupt):
        for line in kube_jobs.logs(client, name, namespace, worker, follow, tail):
            typer.echo(line)


@app.command("top")
def top(
    cluster: ClusterOption = "sim",
    state: StateOption = DEFAULT_STATE,
    output: OutputOption = Format.TABLE,
) -> None:
    """GPUs allocated per node and per running job."""
    if cluster == "kube":
        raise fail(
            "--cluster: top reads the twin only for now; on a cluster, "
            "`kubectl describe nodes` shows what is allocated"
        )
    with _twin(cluster, state) as sim:
        _reconcile(sim)
    nodes: list[dict[str, Any]] = [
        {
            "node": n.name,
            "gpus": n.capacity.gpu_count,
            "allocated_gpus": round(n.capacity.gpu_count - sum(n.gpu_free_milli) / 1000, 3),
            "jobs": sorted(
                {j.name for j in sim.jobs.values() for b in j.binds if b.node == n.name}
            ),
        }
        for n in sim.nodes()
    ]
    jobs = [
        {"job": j.name, "gpus": j.spec.gpus, "nodes": sorted({b.node for b in j.binds})}
        for j in sim.jobs.values()
        if j.binds
    ]
    table = Table(title="GPU use per node")
    for column in ("NODE", "GPUS", "ALLOCATED", "JOBS"):
        table.add_column(column)
    for n in nodes:
        table.add_row(n["node"], str(n["gpus"]), f"{n['allocated_gpus']:g}", ", ".join(n["jobs"]))
    _emit({"nodes": nodes, "jobs": jobs}, output, table)
