"""The shared reader of the Philly-derived job trace."""

from __future__ import annotations

import pytest

from tidewise.sim.philly import PhillyError, PhillyRow, read_rows

HEADER = "#job id,arrival time (sec),topology,shape,size,duration (sec)\n"


def test_rows_arriving_in_the_window_are_read_in_file_order(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_text(HEADER + "0,0.0,CLOS,1,1,60.0\n1,100.0,CLOS,2+2,4,30.5\n2,200.0,CLOS,1,1,9.0\n")
    assert read_rows(path, 50, 200, "x") == [PhillyRow(1, 100.0, 4, 30.5)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,0.0,CLOS,1\n", "jobs.csv:2: expected 6 columns, got 4"),
        ("0,0.0,CLOS,1,0,5.0\n", "jobs.csv:2: size must be >= 1, duration >= 0"),
        ("0,zero,CLOS,1,1,5.0\n", "not a job trace"),
    ],
)
def test_a_bad_row_is_refused_with_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "jobs.csv"
    path.write_text(HEADER + text)
    with pytest.raises(PhillyError, match=message) as err:
        read_rows(path, 0, 100, "--jobs")
    assert str(err.value).startswith("--jobs: ")


def test_a_missing_file_names_the_input_that_gave_it(tmp_path):
    with pytest.raises(PhillyError, match=r"^batch\.trace: "):
        read_rows(tmp_path / "none.csv", 0, 100, "batch.trace")
