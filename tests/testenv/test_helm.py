"""The helm command of the chart's tests: built from the pinned Go module, it reports the
pinned version (the stamp of helm's own Makefile), and a change of pin means a new build."""

import subprocess

from tests.helm.chart import helm_build
from tidewise.testenv.helm import HELM_MODULE, build_folder, helm_version, ldflags


def test_the_wrapper_module_pins_helm_v4_as_a_tool():
    gomod = (HELM_MODULE / "go.mod").read_text()
    assert "tool helm.sh/helm/v4/cmd/helm" in gomod
    assert helm_version().startswith("v4.")
    assert build_folder().name == f"helm-{helm_version()}"


def test_the_built_helm_reports_the_pinned_version():
    assert f"internal/version.version={helm_version()}" in ldflags(helm_version())
    command = str(helm_build().command)
    reported = subprocess.run(
        [command, "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert reported == helm_version()
