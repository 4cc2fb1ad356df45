"""The fields of other people's objects that tidewise's controllers write, in one list.

Users keep their workloads in Git and sync them with Argo CD (or Flux); a field a controller
changes at run time must be ignored in the sync's diff, or the two fight: Argo CD writes
Git's value back, the controller writes its own, and each write of a pod template starts a
rollout. This list is where those fields are declared. Tests hold both sides to it: every
patch the controllers make is covered by it (tests/kube/test_writes.py), and the example
Argo CD Application ignores every entry (tests/kube/test_argocd_examples.py;
deploy/argocd, docs/argocd.md).

Left out on purpose: the ``status`` of tidewise's own objects (not in Git), the objects a
controller creates and owns (an ElasticScaler's placeholder Deployment), and what the
provisioner, the extender and the device plugin write (Nodes, Pods and Bindings, which are
not kept in Git), and the NodePools and NodeOverlays the Karpenter controller applies (its
render is their source: keep them out of Git while it runs, docs/karpenter.md). A scale
target of another kind (a custom resource with a ``/scale`` subresource) has its replicas
written too; its path is its CRD's ``specReplicasPath``, which only the user knows.
"""

from __future__ import annotations

from dataclasses import dataclass

EVERY = "*"  # every item of a list


@dataclass(frozen=True)
class Write:
    """A field ``controller`` writes on objects of ``group``/``kind``; ``path`` from the
    object's root, :data:`EVERY` for each item of a list."""

    controller: str
    group: str  # "" for the core group
    kind: str
    path: tuple[str, ...]

    def pointer(self) -> str | None:
        """The field as an RFC 6901 JSON pointer (``~1`` for ``/`` in a name); ``None`` when
        it runs through every item of a list, which a pointer cannot say."""
        if EVERY in self.path:
            return None
        return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in self.path)

    def jq(self) -> str:
        """The field as a jq path (Argo CD's ``jqPathExpressions``)."""
        parts = []
        for part in self.path:
            if part == EVERY:
                parts.append("[]")
            elif part.replace("_", "").isalnum():
                parts.append(f".{part}")
            else:
                parts.append(f'["{part}"]')
        return "".join(parts)

    def covers(self, path: tuple[str, ...]) -> bool:
        """Whether a written leaf at ``path`` (list items by index) lies within this field."""
        if len(path) < len(self.path):
            return False
        return all(
            (want == EVERY and got.isdigit()) or want == got
            for want, got in zip(self.path, path, strict=False)
        )


REPLICAS = ("spec", "replicas")
SCALED: tuple[tuple[str, str], ...] = (
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "ReplicaSet"),
    ("", "ReplicationController"),
)
QUEUE_ANNOTATIONS = (
    "tidewise.io/admitted",
    "tidewise.io/queue-position",
    "tidewise.io/queue-reason",
)

WRITES: tuple[Write, ...] = (
    # through /scale, the built-in kinds a scaleTargetRef names
    *(Write(c, g, k, REPLICAS) for c in ("cronhpa", "elasticscaler") for g, k in SCALED),
    # a CronHPA aimed at an HPA moves its range (and scales its target, above)
    Write("cronhpa", "autoscaling", "HorizontalPodAutoscaler", ("spec", "minReplicas")),
    Write("cronhpa", "autoscaling", "HorizontalPodAutoscaler", ("spec", "maxReplicas")),
    # an ElasticScaler on a KServe InferenceService in serverless mode sets the predictor's
    # range (Knative's min-scale and max-scale), docs/serving.md
    Write(
        "elasticscaler",
        "serving.kserve.io",
        "InferenceService",
        ("spec", "predictor", "minReplicas"),
    ),
    Write(
        "elasticscaler",
        "serving.kserve.io",
        "InferenceService",
        ("spec", "predictor", "maxReplicas"),
    ),
    # updateMode OnRollout: the recommended requests, into the template of a new rollout
    *(
        Write(
            "resourcerecommendation",
            "apps",
            kind,
            ("spec", "template", "spec", "containers", EVERY, "resources", "requests"),
        )
        for kind in ("Deployment", "StatefulSet")
    ),
    # the training queue admits (un-suspends), preempts (suspends) and explains
    Write("training-queue", "batch", "Job", ("spec", "suspend")),
    Write("training-queue", "kubeflow.org", "PyTorchJob", ("spec", "runPolicy", "suspend")),
    *(
        Write("training-queue", group, kind, ("metadata", "annotations", name))
        for group, kind in (("batch", "Job"), ("kubeflow.org", "PyTorchJob"))
        for name in QUEUE_ANNOTATIONS
    ),
)


def writes_of(controller: str) -> tuple[Write, ...]:
    return tuple(w for w in WRITES if w.controller == controller)
