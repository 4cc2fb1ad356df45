"""Well-known node labels that say what a node is and how it was bought: Kubernetes'
(``node.kubernetes.io/instance-type``, ``topology.kubernetes.io/zone``) and Karpenter's
capacity type (``karpenter.sh/capacity-type``: ``spot``, ``on-demand`` or ``reserved``),
which tidewise's own provisioner writes too. The provisioner labels nodes with them and the
cost reader prices nodes by them."""

INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ZONE = "topology.kubernetes.io/zone"
CAPACITY_TYPE = "karpenter.sh/capacity-type"
