"""The wrapper modules pin one release consistently (no Go needed to check that)."""

import re

from tidewise.testenv.build import CONTROLPLANE_MODULE, kubernetes_ldflags, read_pins


def test_every_staging_module_is_replaced_by_the_tag_of_the_pinned_release():
    pins = read_pins()
    staging = "v0." + pins.kubernetes.removeprefix("v1.")
    gomod = (CONTROLPLANE_MODULE / "go.mod").read_text()
    replaces = dict(re.findall(r"^\s*(k8s\.io/\S+) => \1 (v\S+)$", gomod, re.MULTILINE))
    # the modules that live in kubernetes' staging/ tree in 1.36 (its go.mod says which)
    assert len(replaces) == 33
    assert {"k8s.io/api", "k8s.io/kube-scheduler", "k8s.io/streaming"} <= replaces.keys()
    assert set(replaces.values()) == {staging}


def test_binaries_report_the_pinned_version():
    flags = kubernetes_ldflags("v1.36.3")
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.3" in flags
    assert "-X k8s.io/client-go/pkg/version.gitMinor=36" in flags
