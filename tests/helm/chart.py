"""The chart deploy/helm/tidewise as the tests use it: the cached helm command, ``helm
template`` parsed into objects, and the chart's values schema, whose ``operator.config`` part
is the operator's own configuration model (tidewise.cli.compose.OperatorConfig) so the chart
refuses what ``tidewise operator --config`` would refuse.

``python -m tests.helm.chart`` writes that part into values.schema.json again after the
model changes (tests/helm/test_chart.py fails until then)."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane import progress, required
from tests.kube.manifests import ROOT
from tidewise.cli.compose import OperatorConfig
from tidewise.testenv.helm import HelmBuild, cached_helm, ensure_helm

CHART = ROOT / "deploy/helm/tidewise"
SCHEMA = CHART / "values.schema.json"
RELEASE = "tidewise"
NAMESPACE = "tidewise-system"
NO_GO = (
    "!!! Go is not installed and no helm is cached: the Helm chart's tests are SKIPPED. "
    "Install Go 1.26+ and run `make test` again; see docs/helm.md."
)


def helm_build() -> HelmBuild:
    """The cached helm, built now if needed; skipped (failed in CI) without Go."""
    if cached_helm() is None and shutil.which("go") is None:
        if required():
            pytest.fail(NO_GO.replace("are SKIPPED", "cannot run, and CI requires them"))
        pytest.skip(NO_GO)
    return ensure_helm(progress)


def helm(
    build: HelmBuild, *args: str, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``helm ARGS``; its output is kept for the assertion that reads it."""
    done = subprocess.run(
        [str(build.command), *args], capture_output=True, text=True, check=False, env=env
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}")
    return done


def values_file(folder: Path, values: dict[str, Any]) -> Path:
    path = folder / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def render(
    build: HelmBuild, values: Path, namespace: str = NAMESPACE, chart: Path = CHART
) -> list[dict[str, Any]]:
    """Every object ``helm template`` renders from ``chart`` (a folder or an archive) with
    ``values``."""
    args = ["template", RELEASE, str(chart), "--namespace", namespace, "--values", str(values)]
    text = helm(build, *args).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def config_schema() -> dict[str, Any]:
    """OperatorConfig's JSON schema, its definitions and itself under ``$defs``."""
    schema = OperatorConfig.model_json_schema()
    definitions = schema.pop("$defs")
    return {**definitions, "OperatorConfig": schema}


def written_schema() -> dict[str, Any]:
    """The chart's schema with the configuration's definitions as config_schema() makes them."""
    schema = json.loads(SCHEMA.read_text())
    shared = {k: v for k, v in schema["$defs"].items() if k not in config_schema()}
    return {**schema, "$defs": {**shared, **config_schema()}}


if __name__ == "__main__":
    SCHEMA.write_text(json.dumps(written_schema(), indent=2) + "\n")
