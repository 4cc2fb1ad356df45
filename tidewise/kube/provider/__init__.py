"""Node provisioning against a real API server: a provider interface, kwok, the loop.

docs/kubernetes.md tells how the pieces fit: ``interface`` is what a cloud adapter
implements, ``kwok`` one that fakes machines as kwok nodes, ``loop`` the provisioner that
asks a capacity policy what to buy or drain.
"""

from tidewise.kube.provider.interface import Instance, InterruptionNotice, NodeProvider
from tidewise.kube.provider.kwok import KwokProvider
from tidewise.kube.provider.loop import Provisioner

__all__ = ["Instance", "InterruptionNotice", "KwokProvider", "NodeProvider", "Provisioner"]
