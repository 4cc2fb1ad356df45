import pytest

from tidewise.model import Resources
from tidewise.sim.gpupack.openb import TraceFormatError, load_nodes, load_pods


def test_real_openb_files_load(shared_data):
    folder = shared_data / "alibaba-gpu-v2023"
    nodes = load_nodes(folder / "openb_node_list_gpu_node.csv")
    assert len(nodes) == 1213 and sum(n.gpu_count for n in nodes) == 6212
    pods = load_pods(folder / "openb_pod_list_default.csv")
    assert len(pods) == 8152
    assert pods[0] == Resources(12000, 16384, gpu_count=1)
    assert sum(p.gpu_milli_total for p in pods) == 6_086_800
    pinned = load_pods(folder / "openb_pod_list_gpuspec10.csv")
    assert any(p.gpu_models and len(p.gpu_models) > 1 for p in pinned)
    assert len(load_pods(folder / "openb_pod_list_multigpu20.csv")) > 0  # five columns only


def test_bad_rows_name_the_line(tmp_path):
    path = tmp_path / "pods.csv"
    path.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1000,10,2,500\n")
    with pytest.raises(TraceFormatError, match=r"pods.csv:2: a multi-GPU pod takes whole GPUs"):
        load_pods(path)
    path.write_text("name,cpu_milli,memory_mib,num_gpu\n")
    with pytest.raises(TraceFormatError, match="missing column"):
        load_pods(path)
    path.write_text("sn,cpu_milli,memory_mib,gpu,model\nn,lots,1,1,T4\n")
    with pytest.raises(TraceFormatError, match=":2: cpu_milli must be an integer"):
        load_nodes(path)
