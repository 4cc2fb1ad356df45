"""The shipped data files are exactly what data/build_default_catalog.py makes from sources."""

import importlib.util
import json
from pathlib import Path

from tidewise.catalog import builtin_catalog_path

REPO = Path(__file__).parents[2]


def load_builder():
    spec = importlib.util.spec_from_file_location(
        "build", REPO / "data" / "build_default_catalog.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_files_are_reproducible(tmp_path):
    builder = load_builder()
    builder.main(tmp_path)
    shipped = builtin_catalog_path("aws-us-east-1").parent
    for name in (builder.CATALOG_NAME, builder.ADVISOR_NAME):
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name


def test_shipped_advisor_is_us_east_1_linux_only():
    shipped = builtin_catalog_path("aws-us-east-1").parent / "spot_advisor_us-east-1.json"
    data = json.loads(shipped.read_text())
    assert sorted(data) == ["ranges", "spot_advisor"]
    assert list(data["spot_advisor"]) == ["us-east-1"]
    assert list(data["spot_advisor"]["us-east-1"]) == ["Linux"]
    assert len(data["spot_advisor"]["us-east-1"]["Linux"]) == 894
