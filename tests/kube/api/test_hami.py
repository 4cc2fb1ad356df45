"""HAMi v2.10.0's annotations: the node register read, a pod's devices written.

The golden strings are HAMi's own test fixtures (Project-HAMi/HAMi tag v2.10.0,
``pkg/device/devices_test.go``: ``TestUnMarshalNodeDevices``, ``TestMarshalNodeDevices``,
``TestDecodeNodeDevices``, ``TestDecodePodDevices``). The round trips read our text back with
:func:`hami_decode_pod`, a reading of HAMi's ``DecodePodDevices`` / ``DecodeContainerDevices``
and of its device plugin's ``popNextContainerDevices``, and write registers as its
``MarshalNodeDevices`` does (Go's ``omitempty``: zero, ``false`` and ``""`` leave their key out).
"""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidewise.kube.api.gpu import Gpu
from tidewise.kube.api.hami import (
    ALLOCATED,
    ALLOCATING,
    ASSIGNED_NODE,
    ASSIGNED_TIME,
    BIND_PHASE,
    BIND_TIME,
    REGISTER,
    TO_ALLOCATE,
    HamiError,
    hami_metadata,
    pod_devices,
    register_annotation,
    registered_gpus,
    sized_by_register,
)
from tidewise.kube.api.resources import (
    GPU_COUNT,
    GPU_MEM,
    GPU_MEMORY_LABEL,
    HAMI_GPU_CORES,
    HAMI_GPU_MEM,
    NVIDIA_GPU,
    node_capacity,
)

UUID_A = "GPU-8dcd427f-483b-b48f-d7e5-75fb19a52b76"  # HAMi's fixtures' UUIDs
UUID_B = "GPU-ebe7c3f7-303d-558d-435e-99a160631fe4"


# -- HAMi's side, as its Go code reads and writes ---------------------------------------------


def hami_decode_pod(text):
    """``DecodePodDevices`` for one device type: per container (split on ``;``, the trailing
    one giving a last empty entry), its devices (split on ``:``; parts without a comma
    skipped) as (uuid, type, memory, cores)."""
    containers = []
    for entry in text.split(";"):
        devices = []
        for part in entry.split(":") if entry else []:
            if "," in part:
                fields = part.split(",")
                assert len(fields) >= 4, part
                devices.append((fields[0], fields[1], int(fields[2]), int(fields[3])))
        containers.append(devices)
    return containers


def hami_allocations(pod, text):
    """What HAMi's device plugin hands out, Allocate after Allocate: the first non-empty
    entry each time, resolved to a container (init containers first); name -> devices."""
    spec = pod["spec"]
    init, regular = spec.get("initContainers") or [], spec["containers"]
    served = {}
    for position, devices in enumerate(hami_decode_pod(text)):
        if devices:
            container = init[position] if position < len(init) else regular[position - len(init)]
            served[container["name"]] = devices
    return served


def go_marshal_register(devices):
    """``MarshalNodeDevices``: each field ``omitempty``."""
    keys = ("id", "index", "count", "devmem", "devcore", "type", "numa", "mode", "health")
    return json.dumps(
        [{k: d[k] for k in keys if k in d and d[k] not in (0, "", False)} for d in devices]
    )


def container(name, **asks):
    return {"name": name, "resources": {"limits": dict(asks), "requests": dict(asks)}}


def table(*uuids):
    """A register's GPUs by index."""
    return {i: Gpu(i, u, "NVIDIA-NVIDIA A10", 24576) for i, u in enumerate(uuids)}


def pod_of(containers, init=()):
    return {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"initContainers": list(init), "containers": list(containers)},
    }


# -- the register ----------------------------------------------------------------------------


def test_hamis_own_register_fixtures_read_as_their_gpus():
    one = (
        '[{"index":1,"id":"id-1","count":1,"devmem":1024,"devcore":10,"type":"type",'
        '"health":true}]\n'
    )
    two = (
        '[{"index":1,"id":"id-1","count":1,"devmem":1024,"devcore":10,"type":"type",'
        '"health":true},{"index":2,"id":"id-2","count":2,"devmem":4096,"devcore":20,'
        '"type":"type2","health":false}]'
    )
    marshalled = (
        '[{"index":1,"id":"id-1","count":1,"devmem":1024,"devcore":10,"type":"type",'
        '"numa":0,"health":true}]'
    )
    first = Gpu(1, "id-1", "type", 1024)
    assert registered_gpus("n", one) == {1: first}
    assert registered_gpus("n", two) == {1: first, 2: Gpu(2, "id-2", "type2", 4096)}
    assert registered_gpus("n", marshalled) == {1: first}


def test_the_register_annotation_is_read_off_the_node():
    assert register_annotation({"metadata": {"annotations": {REGISTER: "[]"}}}) == "[]"
    assert register_annotation({"metadata": {"annotations": {}}}) is None
    assert register_annotation({"metadata": {}}) is None


def test_the_colon_separated_register_of_hami_up_to_2_7_is_refused_by_name():
    legacy = f"{UUID_B},10,7680,100,NVIDIA-Tesla P4,0,true,1,hami-core:"  # TestDecodeNodeDevices
    with pytest.raises(HamiError) as refused:
        registered_gpus("gpu-node-7", legacy)
    message = str(refused.value)
    assert message.startswith(f"node gpu-node-7: annotation {REGISTER} is HAMi's colon-separated")
    assert "v2.10.0" in message and "--no-hami-annotations" in message and "\n" not in message


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "not JSON"),
        ("{not json", "not JSON"),
        ("[]", "not a non-empty JSON list"),
        ('{"id": "GPU-a"}', "not a non-empty JSON list"),
        ('["GPU-a"]', "GPU #0 is not a JSON object"),
        ('[{"index": 0}]', "'id' must be the GPU's UUID"),
        ('[{"id": ""}]', "'id' must be the GPU's UUID"),
        ('[{"id": "GPU-a,b"}]', "'id' must be the GPU's UUID"),
        ('[{"id": "GPU-a", "index": -1}]', "'index' must be a whole number >= 0"),
        ('[{"id": "GPU-a", "index": "1"}]', "'index' must be a whole number >= 0"),
        ('[{"id": "GPU-a", "index": true}]', "'index' must be a whole number >= 0"),
        ('[{"id": "GPU-a", "devmem": 1.5}]', "'devmem' must be a whole number >= 0"),
        ('[{"id": "GPU-a", "count": -2}]', "'count' must be a whole number >= 0"),
        ('[{"id": "GPU-a", "type": 3}]', "'type' must be a string"),
        ('[{"id": "GPU-a", "health": "true"}]', "'health' must be true or false"),
        ('[{"id": "GPU-a"}, {"id": "GPU-b"}]', "lists GPU index 0 twice"),
        ('[{"id": "GPU-a"}, {"id": "GPU-a", "index": 1}]', "lists GPU GPU-a twice"),
    ],
)
def test_a_malformed_register_is_refused_naming_the_node(text, why):
    with pytest.raises(HamiError) as refused:
        registered_gpus("gpu-node-7", text)
    assert str(refused.value).startswith(f"node gpu-node-7: annotation {REGISTER}")
    assert why in str(refused.value)


uuids = st.integers(0, 2**64 - 1).map(lambda n: f"GPU-{n:016x}-0000")  # cheap to draw
registers = st.lists(
    st.fixed_dictionaries(
        {
            "id": uuids,
            "index": st.integers(0, 15),
            "count": st.integers(0, 20),
            "devmem": st.integers(0, 200_000),
            "devcore": st.integers(0, 200),
            "type": st.sampled_from(["", "NVIDIA-NVIDIA A10", "NVIDIA-Tesla T4"]),
            "numa": st.integers(0, 3),
            "mode": st.sampled_from(["", "hami-core", "mig"]),
            "health": st.booleans(),
        }
    ),
    min_size=1,
    max_size=8,
    unique_by=(lambda d: d["index"], lambda d: d["id"]),
)


@given(registers)
def test_a_register_as_hami_marshals_it_reads_back_as_its_gpus(devices):
    assert registered_gpus("n", go_marshal_register(devices)) == {
        d["index"]: Gpu(d["index"], d["id"], d["type"], d["devmem"]) for d in devices
    }


def hami_node(allocatable, register, labels=None):
    return {
        "metadata": {"name": "h1", "labels": labels or {}, "annotations": {REGISTER: register}},
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi", **allocatable}},
    }


def test_a_node_only_hamis_plugin_serves_counts_the_gpus_it_registered():
    """HAMi's plugin advertises nvidia.com/gpu as GPUs x deviceSplitCount: 4 GPUs are 40."""
    register = go_marshal_register(
        [{"id": f"GPU-{i}", "index": i, "count": 10, "devmem": 24000 + i} for i in range(4)]
    )
    node = hami_node({NVIDIA_GPU: "40"}, register)
    assert node_capacity(node).gpu_count == 40  # what the node says
    sized = sized_by_register(node, node_capacity(node))
    assert (sized.gpu_count, sized.gpu_memory_mib) == (4, 24000)
    labelled = hami_node({NVIDIA_GPU: "40"}, register, {GPU_MEMORY_LABEL: "23028"})
    assert sized_by_register(labelled, node_capacity(labelled)).gpu_memory_mib == 23028
    ours = hami_node({NVIDIA_GPU: "40", GPU_COUNT: "4", GPU_MEM: "64"}, "not even read")
    assert sized_by_register(ours, node_capacity(ours)) == node_capacity(ours)
    bare = hami_node({NVIDIA_GPU: "4"}, register)
    del bare["metadata"]["annotations"][REGISTER]
    assert sized_by_register(bare, node_capacity(bare)) == node_capacity(bare)
    broken = hami_node({NVIDIA_GPU: "40"}, "[]")
    with pytest.raises(HamiError, match=r"^node h1: annotation hami.io/node-nvidia-register"):
        sized_by_register(broken, node_capacity(broken))


# -- a pod's devices -------------------------------------------------------------------------


def test_hamis_own_two_container_fixture_is_what_we_write():
    """TestDecodePodDevices' "annos having two device": two containers of one GPU each."""
    each = {NVIDIA_GPU: "1", HAMI_GPU_MEM: "500", HAMI_GPU_CORES: "3"}
    pod = pod_of([container("a", **each), container("b", **each)])
    assert pod_devices(pod, (0, 1), table(UUID_A, UUID_B), "n") == (
        f"{UUID_A},NVIDIA,500,3:;{UUID_B},NVIDIA,500,3:;"
    )


def test_a_share_is_written_with_its_memory_in_mib_and_cores_in_percent():
    asks = {NVIDIA_GPU: "1", GPU_MEM: "2", HAMI_GPU_MEM: "512", HAMI_GPU_CORES: "30"}
    pod = pod_of([container("sidecar", cpu="1"), container("main", **asks)])
    text = pod_devices(pod, (3,), {3: Gpu(3, UUID_A, "", 0)}, "n")
    assert text == f";{UUID_A},NVIDIA,2560,30:;"  # 2 GiB + 512 MiB; the sidecar's entry empty
    assert hami_allocations(pod, text) == {"main": [(UUID_A, "NVIDIA", 2560, 30)]}


def test_a_pod_asking_no_nvidia_gpu_gets_no_hami_devices():
    """gpushare's names only: HAMi's plugin is never called for the pod."""
    pod = pod_of([container("main", **{GPU_MEM: "8"})])
    assert pod_devices(pod, (0,), table(UUID_A), "n") is None


def test_a_gpu_missing_from_the_register_is_refused_naming_the_node():
    pod = pod_of([container("main", **{NVIDIA_GPU: "1", HAMI_GPU_CORES: "50"})])
    with pytest.raises(HamiError) as refused:
        pod_devices(pod, (2,), table(UUID_A, UUID_B), "gpu-node-7")
    assert str(refused.value).startswith(
        f"node gpu-node-7: annotation {REGISTER} has no GPU index 2"
    )


def test_a_decision_of_another_size_than_asked_is_refused_naming_the_pod():
    pod = pod_of([container("main", **{NVIDIA_GPU: "1", HAMI_GPU_CORES: "50"})])
    with pytest.raises(HamiError, match=r"pod ns/p asks for 1 nvidia.com/gpu but holds 2"):
        pod_devices(pod, (0, 1), table(UUID_A, UUID_B), "n")


def test_the_annotations_and_label_are_hamis_schedulers():
    assert hami_metadata("x", "node-1", 1_700_000_000) == {
        "annotations": {
            TO_ALLOCATE: "x",
            ALLOCATED: "x",
            ASSIGNED_NODE: "node-1",
            ASSIGNED_TIME: "1700000000",
            BIND_PHASE: ALLOCATING,
            BIND_TIME: "1700000000",
        },
        "labels": {ASSIGNED_NODE: "node-1"},
    }
    long = "n" * 64  # a valid node name, too long for a label value: the label left out
    assert hami_metadata("x", long, 0)["labels"] == {}
    assert hami_metadata("x", "n" * 63, 0)["labels"] == {ASSIGNED_NODE: "n" * 63}


asks = st.fixed_dictionaries(
    {},
    optional={
        NVIDIA_GPU: st.integers(0, 2).map(str),
        GPU_MEM: st.integers(0, 40).map(str),
        HAMI_GPU_MEM: st.integers(0, 40_000).map(str),
        HAMI_GPU_CORES: st.integers(0, 100).map(str),
    },
)


@given(
    st.lists(asks, max_size=3),
    st.lists(asks, min_size=1, max_size=4),
    st.lists(uuids, min_size=8, max_size=8, unique=True),
    st.permutations(range(8)),
)
def test_what_we_write_hamis_plugin_hands_each_container_as_our_plugin_would(
    init_asks, regular_asks, gpu_uuids, order
):
    """Round trip: every container asking ``nvidia.com/gpu`` gets, from HAMi's reading, its
    own slice of the pod's GPUs (init containers from the first, the others in turn) with its
    own memory (GiB x 1024 + MiB) and cores; no other container gets anything."""
    init = [container(f"i{k}", **a) for k, a in enumerate(init_asks)]
    regular = [container(f"c{k}", **a) for k, a in enumerate(regular_asks)]
    pod = pod_of(regular, init)
    count = lambda a: int(a.get(NVIDIA_GPU, "0"))  # noqa: E731
    wanted = max([sum(map(count, regular_asks)), *map(count, init_asks)])
    gpus = tuple(order[:wanted])
    text = pod_devices(pod, gpus, table(*gpu_uuids), "n")
    if wanted == 0:
        assert text is None
        return
    assert len(hami_decode_pod(text)) == len(init) + len(regular) + 1  # the trailing ";"
    expected, start = {}, 0
    for k, a in enumerate([*init_asks, *regular_asks]):
        name = f"i{k}" if k < len(init_asks) else f"c{k - len(init_asks)}"
        first = 0 if k < len(init_asks) else start
        if count(a):
            memory = int(a.get(GPU_MEM, "0")) * 1024 + int(a.get(HAMI_GPU_MEM, "0"))
            cores = int(a.get(HAMI_GPU_CORES, "0"))
            mine = gpus[first : first + count(a)]
            expected[name] = [(gpu_uuids[g], "NVIDIA", memory, cores) for g in mine]
        if k >= len(init_asks):
            start += count(a)
    assert hami_allocations(pod, text) == expected
