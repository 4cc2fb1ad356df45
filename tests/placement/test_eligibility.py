"""The scheduler's node filters but resources: selector, required node affinity, taints."""

from hypothesis import given
from hypothesis import strategies as st

from tidewise.placement.eligibility import (
    affinity_admits,
    may_run_on,
    requirement_holds,
    tolerates,
)


def node(name="n", labels=None, taints=()):
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": list(taints)}}


def required(*terms):
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}
            }
        }
    }


def test_kubernetes_toleration_rules():
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    assert tolerates([{"key": "k", "operator": "Equal", "value": "v"}], taint)
    assert not tolerates([{"key": "k", "operator": "Equal", "value": "w"}], taint)
    assert not tolerates([{"key": "k", "operator": "Exists", "effect": "NoExecute"}], taint)
    assert tolerates([{"key": "k", "operator": "Exists"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)  # an empty key with Exists: every taint
    assert not tolerates([], taint)


def test_no_schedule_and_no_execute_taints_keep_off_prefer_no_schedule_does_not():
    for effect in ("NoSchedule", "NoExecute"):
        tainted = node(taints=[{"key": "gpu", "value": "yes", "effect": effect}])
        assert not may_run_on({"spec": {}}, tainted)
        tolerant = {"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}}
        assert may_run_on(tolerant, tainted)
    assert may_run_on({"spec": {}}, node(taints=[{"key": "x", "effect": "PreferNoSchedule"}]))


def test_node_selector_and_every_operator_of_a_required_term():
    labels = {"zone": "a", "gpus": "8", "pool": "train"}
    n = node("n1", labels)
    assert affinity_admits({"nodeSelector": {"zone": "a"}}, n)
    assert not affinity_admits({"nodeSelector": {"zone": "b"}}, n)
    holds = [
        ({"key": "zone", "operator": "In", "values": ["a", "b"]}, True),
        ({"key": "zone", "operator": "In", "values": ["b"]}, False),
        ({"key": "zone", "operator": "NotIn", "values": ["b"]}, True),
        ({"key": "absent", "operator": "NotIn", "values": ["b"]}, True),
        ({"key": "pool", "operator": "Exists"}, True),
        ({"key": "pool", "operator": "DoesNotExist"}, False),
        ({"key": "gpus", "operator": "Gt", "values": ["4"]}, True),
        ({"key": "gpus", "operator": "Lt", "values": ["4"]}, False),
        ({"key": "zone", "operator": "Gt", "values": ["4"]}, False),  # not an integer
    ]
    for expression, expected in holds:
        assert requirement_holds(expression, labels) is expected, expression
        assert affinity_admits(required({"matchExpressions": [expression]}), n) is expected


def test_terms_are_ored_expressions_anded_and_an_empty_term_matches_nothing():
    n = node("n1", {"zone": "a"})
    zone_b = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}
    by_name = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
    assert affinity_admits(required(zone_b, by_name), n)
    assert not affinity_admits(required(zone_b), n)
    assert not affinity_admits(required({}), n)
    both = {
        "matchExpressions": [
            {"key": "zone", "operator": "In", "values": ["a"]},
            {"key": "pool", "operator": "Exists"},
        ]
    }
    assert not affinity_admits(required(both), n)


keys = st.sampled_from(["a", "b", "c"])
values = st.sampled_from(["x", "y"])


@given(st.dictionaries(keys, values), keys, st.lists(values, min_size=1, max_size=2))
def test_in_and_not_in_are_complements(labels, key, vals):
    in_ = requirement_holds({"key": key, "operator": "In", "values": vals}, labels)
    not_in = requirement_holds({"key": key, "operator": "NotIn", "values": vals}, labels)
    assert in_ != not_in
    exists = requirement_holds({"key": key, "operator": "Exists"}, labels)
    assert exists != requirement_holds({"key": key, "operator": "DoesNotExist"}, labels)
