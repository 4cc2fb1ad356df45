"""The extender's books: filter reasons, the engine's choice, GPU booking, rebuilds."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.kube.api.factories import gpu_node, share, whole
from tidewise.kube.api.resources import node_capacity, pod_request
from tidewise.kube.extender.state import ASSUME_TTL_S, UNKNOWN_NODE, GpuShareBook, Holding, NoFit
from tidewise.kube.extender.watch import holding_of, observe_pod
from tidewise.model import Resources

QUARTER = Resources(1000, 1024, gpu_milli=250, gpu_memory_mib=4096)
HALF = Resources(1000, 1024, gpu_milli=500, gpu_memory_mib=8192)
ONE = Resources(1000, 1024, gpu_count=1)
BY_MEMORY = Resources(1000, 1024, gpu_memory_mib=8192)  # aliyun.com/gpu-mem: 8


def book_of(*nodes: tuple[str, Resources]) -> GpuShareBook:
    book = GpuShareBook()
    for i, (name, capacity) in enumerate(nodes):
        book.put_node(name, capacity, f"2026-01-01T00:00:0{i}Z")
    return book


def node(name, gpus=2, gpu_mib=16384, cpu=32000) -> tuple[str, Resources]:
    model = "A10" if gpus else None
    return name, Resources(cpu, 131072, gpu_count=gpus, gpu_model=model, gpu_memory_mib=gpu_mib)


def test_filter_says_why_each_node_fails():
    book = book_of(node("a"), node("cpu", gpus=0), node("small", gpu_mib=2048), node("full"))
    book.put_pod("x", Holding("full", ONE, (0,)))
    book.put_pod("y", Holding("full", ONE, (1,)))
    verdict = book.filter(QUARTER, ["a", "cpu", "small", "full", "new"])
    assert verdict.passed == ["a"]
    assert verdict.failed == {
        "full": "no GPU with 250 milli-GPU and 4096 MiB free",
        "new": UNKNOWN_NODE,
    }
    assert verdict.unresolvable == {
        "cpu": "node has no GPUs",
        "small": "node's GPUs have less than 4096 MiB of memory",
    }


def test_prioritize_scores_the_engines_choice_alone():
    # halves are the workload; a GPU with 250 free is a fragment to them, and FGD fills it
    # with the quarter rather than cut into an idle GPU (the idle node ranks first on ties)
    book = book_of(node("idle"), node("used"))
    for i in range(10):
        book.meet(f"half-{i}", HALF)
    book.put_pod(
        "x", Holding("used", Resources(1000, 1024, gpu_milli=750, gpu_memory_mib=4096), (1,))
    )
    assert book.prioritize(QUARTER, ["idle", "used"]) == {"idle": 0, "used": 10}
    assert book.assume("q", QUARTER, "used", now=0.0) == (1,)


def test_bind_refuses_a_node_the_pod_no_longer_fits():
    book = book_of(node("a", gpus=1))
    book.assume("p1", HALF, "a", now=0.0)
    book.assume("p2", HALF, "a", now=0.0)
    with pytest.raises(NoFit):
        book.assume("p3", QUARTER, "a", now=0.0)
    assert book.assume("p2", HALF, "a", now=0.0) == (0,)  # the same bind asked twice books once


def test_a_failed_bind_frees_what_it_booked():
    book = book_of(node("a", gpus=1))
    book.assume("p1", ONE, "a", now=0.0)
    book.forget_pod("p1")
    assert book.filter(ONE, ["a"]).passed == ["a"]


def test_a_listing_keeps_binds_in_flight_and_takes_the_api_for_the_rest():
    book = book_of(node("a", gpus=1))
    book.assume("flying", HALF, "a", now=100.0)
    dropped = book.replace_all(
        [(*node("a", gpus=1), "")],
        [("bound", Holding("a", QUARTER, (0,)))],
        listed={"flying", "bound"},
        now=101.0,
    )
    assert dropped == []
    assert set(book.holdings) == {"flying", "bound"}
    assert book.filter(HALF, ["a"]).passed == []  # 250 + 500 booked, 250 left
    assert book.filter(QUARTER, ["a"]).passed == ["a"]


def test_a_booking_never_bound_does_not_outlive_its_bound():
    """The extender booked GPUs for a bind that never completed (its handler died, the API
    server never answered): after ASSUME_TTL_S the GPUs are free again."""
    book = book_of(node("a", gpus=1))
    book.assume("lost", ONE, "a", now=0.0)
    assert book.expire(now=ASSUME_TTL_S) == []
    assert book.filter(ONE, ["a"]).passed == []
    assert book.expire(now=ASSUME_TTL_S + 0.1) == ["lost"]
    assert book.filter(ONE, ["a"]).passed == ["a"] and book.holdings == {}


def test_a_listing_drops_bookings_of_pods_gone_or_never_bound_in_time():
    """Only pods bound to a node hold GPUs: a re-list keeps a young booking (its Binding may
    be on its way) but not one whose pod is gone, nor one older than the bound."""
    book = book_of(node("a", gpus=4))
    book.assume("young", ONE, "a", now=50.0)
    book.assume("deleted", ONE, "a", now=50.0)
    book.assume("stuck", ONE, "a", now=0.0)
    dropped = book.replace_all(
        [(*node("a", gpus=4), "")], [], listed={"young", "stuck"}, now=ASSUME_TTL_S + 1
    )
    assert sorted(dropped) == ["deleted", "stuck"]
    assert set(book.holdings) == {"young"}
    assert book.filter(Resources(1000, 1024, gpu_count=3), ["a"]).passed == ["a"]
    assert book.gpus_booked == 1.0


def test_a_booking_seen_bound_is_the_apis_and_never_expires():
    book = book_of(node("a", gpus=1))
    book.assume("p", ONE, "a", now=0.0)
    book.put_pod("p", Holding("a", ONE, (0,)))  # the watch saw it bound
    assert book.expire(now=10 * ASSUME_TTL_S) == []
    assert book.filter(ONE, ["a"]).passed == []


def test_books_rebuilt_from_annotated_pods_match_the_books_that_bound_them():
    nodes = [gpu_node("n1", gpus=2), gpu_node("n2", gpus=2)]
    first = GpuShareBook()
    for n in nodes:
        first.put_node(n["metadata"]["name"], node_capacity(n), "")
    pods = [share(f"s{i}", 25 if i % 2 else 50, 4096) for i in range(6)] + [whole("w", 1)]
    bound = []
    for p in pods:
        shape = pod_request(p)
        name = first.choose_node(shape, first.filter(shape, ["n1", "n2"]).passed)
        gpus = first.assume(p["metadata"]["uid"], shape, name, now=0.0)
        p["spec"]["nodeName"] = name
        p["metadata"]["annotations"]["ALIYUN_COM_GPU_MEM_IDX"] = ",".join(map(str, gpus))
        bound.append(p)
    second = GpuShareBook()
    second.replace_all(
        [(n["metadata"]["name"], node_capacity(n), "") for n in nodes],
        [(p["metadata"]["uid"], holding_of(p)) for p in bound],
        listed={p["metadata"]["uid"] for p in bound},
        now=0.0,
    )
    assert second.holdings == first.holdings
    for shape in (QUARTER, HALF, ONE):
        assert second.filter(shape, ["n1", "n2"]) == first.filter(shape, ["n1", "n2"])


def test_finished_and_deleted_pods_free_their_gpus():
    book = book_of(node("a", gpus=1))
    running = whole("p", 1, node="a", phase="Running")
    running["metadata"]["annotations"]["ALIYUN_COM_GPU_MEM_IDX"] = "0"
    observe_pod(book, "ADDED", running)
    assert book.filter(ONE, ["a"]).passed == []
    observe_pod(book, "MODIFIED", {**running, "status": {"phase": "Succeeded"}})
    assert book.filter(ONE, ["a"]).passed == ["a"]


SHAPES = st.sampled_from([QUARTER, HALF, ONE, BY_MEMORY, Resources(1000, 1024, gpu_count=2)])


def assert_books_hold(book: GpuShareBook) -> None:
    """Per GPU, from the holdings alone: share and memory within the GPU, and a GPU held whole
    by one pod held by no other."""
    for name, (capacity, _) in book.nodes.items():
        milli = [0] * capacity.gpu_count
        memory = [0] * capacity.gpu_count
        holders: list[list[bool]] = [[] for _ in range(capacity.gpu_count)]
        for held in book.holdings.values():
            if held.node == name:
                for g in held.gpus:
                    milli[g] += held.requests.gpu_milli_each
                    memory[g] += held.requests.gpu_memory_mib
                    holders[g].append(bool(held.requests.gpu_count))
        assert max(milli) <= 1000
        assert max(memory) <= capacity.gpu_memory_mib
        assert all(len(h) == 1 for h in holders if any(h)), holders


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(SHAPES, st.booleans()), max_size=40))
def test_no_gpu_is_over_committed_nor_shared_with_a_pod_holding_it_whole(steps):
    """Binds on whatever node the engine picks, and releases: never more than a GPU, and a
    GPU held whole never takes a share (a share sized by memory alone asks for no milli)."""
    book = book_of(node("a"), node("b", gpus=4, gpu_mib=24576))
    for i, (shape, release) in enumerate(steps):
        passed = book.filter(shape, ["a", "b"]).passed
        if passed:
            book.assume(str(i), shape, book.choose_node(shape, passed), now=0.0)
        if release and book.holdings:
            book.forget_pod(next(iter(book.holdings)))
        assert_books_hold(book)


def test_a_share_sized_by_memory_alone_stays_off_a_gpu_held_whole():
    book = book_of(node("a", gpus=1))
    book.assume("whole", ONE, "a", now=0.0)
    verdict = book.filter(BY_MEMORY, ["a"])
    assert verdict.passed == [] and "a" in verdict.failed
    with pytest.raises(NoFit):
        book.assume("by-memory", BY_MEMORY, "a", now=0.0)
    book.forget_pod("whole")
    assert book.assume("by-memory", BY_MEMORY, "a", now=0.0) == (0,)


def test_reserved_gpus_are_taken_for_every_pod_but_the_one_they_are_held_for():
    from tidewise.kube.api.reservation import GpuReservation

    book = book_of(node("a"), node("b"))
    book.put_pod("x", Holding("b", HALF, (0,)))
    book.put_pod("y", Holding("b", HALF, (1,)))
    assert book.reserve("a", GpuReservation("ml/job", "job", (0, 1), 100.0))
    assert not book.reserve("a", GpuReservation("ml/job", "job", (0, 1), 100.0))  # no change
    # a share: node a's GPUs are held, b has room on GPU 0 or 1
    assert book.filter(QUARTER, ["a", "b"], "share").passed == ["b"]
    assert book.prioritize(QUARTER, ["a", "b"], "share") == {"a": 0, "b": 10}
    held = book.filter(HALF, ["a", "b"], "share")
    assert held.failed == {"a": "no GPU with 500 milli-GPU and 8192 MiB free"}
    with pytest.raises(NoFit):
        book.assume("share", HALF, "a", now=0.0)
    # the pod they are held for sees them free, and binds there
    assert book.filter(ONE, ["a", "b"], "job").passed == ["a"]
    assert book.prioritize(ONE, ["a", "b"], "job") == {"a": 10, "b": 0}
    assert book.assume("job", ONE, "a", now=0.0) == (0,)
    # once it holds its GPUs, the hold stops counting: GPU 1 is free for others again
    assert book.filter(QUARTER, ["a"], "other").passed == ["a"]


def test_a_reservation_holds_only_its_gpus_and_ends_at_its_expiry_or_removal():
    from tidewise.kube.api.reservation import GpuReservation

    book = book_of(node("a"))
    book.reserve("a", GpuReservation("ml/job", "job", (1,), 100.0))
    assert book.assume("share", QUARTER, "a", now=0.0) == (0,)  # never on the held GPU
    assert book.filter(ONE, ["a"], "other").passed == []
    assert book.expire_reservations(99.0) == []
    assert book.expire_reservations(100.0) == ["a"]
    assert book.filter(ONE, ["a"], "other").passed == ["a"]
    book.reserve("a", GpuReservation("ml/job", "job", (1,), 100.0))
    assert book.reserve("a", None)
    assert book.filter(ONE, ["a"], "other").passed == ["a"]
