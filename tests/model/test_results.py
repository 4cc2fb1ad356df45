"""The published JSON Schema of ``tidewise sim --json`` is the model's, field for field."""

import json
from pathlib import Path

from tidewise.model.results import SimReport

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "sim-report.schema.json"


def test_the_published_schema_is_the_models_serialization_schema():
    published = json.loads(SCHEMA.read_text())
    assert published == SimReport.model_json_schema(mode="serialization"), (
        "docs/sim-report.schema.json is stale: regenerate it as docs/sim-json.md says"
    )


def test_fields_left_out_of_the_output_are_not_required_by_it():
    run = json.loads(SCHEMA.read_text())["$defs"]["RunResult"]
    assert "wall_s" not in run["properties"] and "timeseries" not in run["properties"]
