import pytest

from tests.fleet.app import NS, shop
from tidewise.fleet.manifests import Selection
from tidewise.fleet.plan import build_plan
from tidewise.fleet.run import RunError, RunRecord, StepStatus, sync_finished
from tidewise.fleet.transform import Transform

PLAN = build_plan(shop(), Selection(namespaces=(NS,)))


def test_a_record_round_trips_through_its_file_text():
    record = RunRecord.for_plan(PLAN)
    record.begin_run()
    first = PLAN.steps[0].id
    record.start(first, 10.0)
    record.finish(first, 12.5, ok=True, result="applied; exists")
    record.start(PLAN.steps[1].id, 13.0)
    again = RunRecord.resume(record.to_json(), PLAN)
    assert again == record
    assert again.step(first).status == StepStatus.DONE
    assert again.step(PLAN.steps[1].id).status == StepStatus.RUNNING
    assert not again.complete


def test_no_file_gives_a_fresh_record():
    record = RunRecord.resume(None, PLAN)
    assert [s.id for s in record.steps] == [s.id for s in PLAN.steps]
    assert all(s.status == StepStatus.PENDING for s in record.steps)


def test_a_record_of_another_plan_is_refused():
    other = build_plan(shop(), Selection(namespaces=(NS,)), Transform(namespaces={NS: "b"}))
    with pytest.raises(RunError, match="another --run-file"):
        RunRecord.resume(RunRecord.for_plan(other).to_json(), PLAN)


def test_an_unreadable_record_is_refused():
    with pytest.raises(RunError, match="move it away"):
        RunRecord.resume("{not json", PLAN)


def test_complete_when_every_step_is_done():
    record = RunRecord.for_plan(PLAN)
    for step in PLAN.steps:
        record.start(step.id, 1.0)
        record.finish(step.id, 2.0, ok=True, result="")
    assert record.complete


def test_a_sync_is_finished_only_when_its_run_file_has_every_step_done():
    plan = PLAN
    record = RunRecord.for_plan(plan)
    assert not sync_finished(None) and not sync_finished("not json")
    assert not sync_finished(record.to_json())
    for step in plan.steps[:-1]:
        record.finish(step.id, 1.0, True, "ready")
    assert not sync_finished(record.to_json())
    record.finish(plan.steps[-1].id, 2.0, True, "ready")
    assert sync_finished(record.to_json())


@pytest.mark.parametrize("text", ["[]", "null", "42", '"text"', '{"format": 1, "steps": [1]}'])
def test_a_run_file_of_another_shape_is_refused_not_a_crash(text):
    with pytest.raises(RunError, match="move it away"):
        RunRecord.resume(text, PLAN)
    assert not sync_finished(text)
