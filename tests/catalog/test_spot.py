import json
import math

import pytest

from tests.catalog.paths import ADVISOR_2025
from tidewise.catalog import CatalogError, interruptions_per_hour, load_spot_advisor

RANGES = [
    {"index": i, "label": label, "dots": i, "max": top}
    for i, (label, top) in enumerate(
        [("<5%", 5), ("5-10%", 11), ("10-15%", 16), ("15-20%", 22), (">20%", 100)]
    )
]


@pytest.mark.parametrize(
    ("band", "expected"),
    [
        (0, 3.5164e-05),  # -ln(1 - 0.025) / 720
        (1, 1.0828e-04),  # -ln(1 - 0.075) / 720
        (2, 1.8546e-04),  # -ln(1 - 0.125) / 720
        (3, 2.6718e-04),  # -ln(1 - 0.175) / 720
        (4, 3.9956e-04),  # -ln(1 - 0.25) / 720
    ],
)
def test_band_hazard(band, expected):
    assert interruptions_per_hour(band) == pytest.approx(expected, rel=1e-4)


def test_hazard_reproduces_the_monthly_fraction():
    survive_month = math.exp(-interruptions_per_hour(2) * 720)
    assert 1 - survive_month == pytest.approx(0.125)


@pytest.mark.parametrize("band", [-1, 5])
def test_unknown_band(band):
    with pytest.raises(ValueError, match=r"spot band must be 0\.\.4"):
        interruptions_per_hour(band)


def test_real_advisor_bands():
    advisor = load_spot_advisor(ADVISOR_2025)
    # README examples, us-east-1 Linux
    assert advisor.band("us-east-1", "g4dn.xlarge", default=9) == 3
    assert advisor.band("us-east-1", "g6e.xlarge", default=9) == 1
    assert advisor.band("us-east-1", "c5.xlarge", default=9) == 0
    assert advisor.band("us-east-1", "p5.4xlarge", default=9) == 9  # not listed
    assert advisor.band("xx-nowhere-1", "g4dn.xlarge", default=2) == 2
    east = [b for (region, _), b in advisor.bands.items() if region == "us-east-1"]
    assert [east.count(b) for b in range(5)] == [192, 138, 81, 82, 401]


def write(tmp_path, data):
    path = tmp_path / "advisor.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "key '': not JSON"),
        ([], "key '': expected a JSON object"),
        ({"ranges": RANGES[:4], "spot_advisor": {}}, "key 'ranges': expected bands"),
        ({"ranges": RANGES}, "key 'spot_advisor': expected an object keyed by region"),
        (
            {"ranges": RANGES, "spot_advisor": {"r1": {"Linux": {"m.x": {"s": 50, "r": 5}}}}},
            "key 'spot_advisor.r1.Linux.m.x.r': expected a band 0..4, got 5",
        ),
        (
            {"ranges": RANGES, "spot_advisor": {"r1": {"Linux": {"m.x": {"s": 50, "r": True}}}}},
            "got True",
        ),
        ({"ranges": RANGES, "spot_advisor": {"r1": []}}, "key 'spot_advisor.r1': expected an"),
    ],
)
def test_malformed_advisor(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(CatalogError) as caught:
        load_spot_advisor(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_windows_entries_are_ignored(tmp_path):
    data = {"ranges": RANGES, "spot_advisor": {"r1": {"Windows": {"m.x": {"s": 1, "r": 4}}}}}
    assert load_spot_advisor(write(tmp_path, data)).bands == {}
