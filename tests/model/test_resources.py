import pytest

from tidewise.model import Resources, parse_cpu, parse_duration, parse_memory


@pytest.mark.parametrize(
    ("text", "milli"), [("500m", 500), ("2", 2000), (1.5, 1500), ("0.25", 250), (3, 3000)]
)
def test_cpu_quantities(text, milli):
    assert parse_cpu(text) == milli


@pytest.mark.parametrize(
    ("text", "mib"),
    [("512Mi", 512), ("2Gi", 2048), ("1Ti", 1024 * 1024), ("1G", 954), ("1536Ki", 2)],
)
def test_memory_quantities_round_up_to_mib(text, mib):
    assert parse_memory(text) == mib


@pytest.mark.parametrize("bad", [2048, "2GB", "lots", "-1Gi"])
def test_memory_needs_a_kubernetes_unit(bad):
    with pytest.raises(ValueError):
        parse_memory(bad)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("5m", 300), ("7d", 604800), ("1w", 604800), (12, 12)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["10", "-5s", "soon"])
def test_durations_need_a_unit(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_resources_reject_negative_and_mixed_gpu_requests():
    with pytest.raises(ValueError, match="cpu_milli"):
        Resources(cpu_milli=-1)
    with pytest.raises(ValueError, match="not both"):
        Resources(gpu_count=1, gpu_milli=500)
    with pytest.raises(ValueError, match="whole GPUs"):
        Resources(gpu_milli=1000)


def test_share_request_is_a_gpu_share():
    share = Resources(cpu_milli=100, gpu_milli=250)
    assert share.wants_gpu and share.is_gpu_share
    assert not Resources(gpu_count=2).is_gpu_share
    assert not Resources(cpu_milli=100).wants_gpu
