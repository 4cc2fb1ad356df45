"""Controllers for the autoscaling custom resources, run inside ``tidewise operator``.

``CronHorizontalPodAutoscaler`` (the Alibaba CronHPA format, unchanged), ``ElasticScaler``
(tidewise's combined policy) and ``ResourceRecommendation`` (right-sized requests) each run
as a level-triggered loop in the operator process (``tidewise.kube.api.loop``, wired in
``tidewise.kube.operator``). Only the holder of the operator's Lease acts, as for the
provisioner: a standby keeps no schedule and writes nothing, and a replica that loses the
Lease forgets its in-memory state, so whoever leads next resumes from the objects' status.
docs/controllers.md has the details.
"""

COMPONENT = "tidewise-operator"  # who reports the controllers' Events
