import pytest

from tests.catalog.paths import ALICLOUD_BEIJING, AWS_SUBSET
from tidewise.catalog import CatalogError
from tidewise.catalog.skypilot import read_skypilot_vms
from tidewise.model import InstanceType

HEADER = (
    "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,"
    "Price,SpotPrice,Region,AvailabilityZone\n"
)


def quote(vms, name, zone):
    (found,) = [q for q in vms.quotes if q.instance_type.name == name and q.zone == zone]
    return found


def write(tmp_path, *rows, header=HEADER):
    path = tmp_path / "vms.csv"
    path.write_text(header + "".join(row + "\n" for row in rows))
    return path


def test_aws_subset_loads_every_row():
    vms = read_skypilot_vms(AWS_SUBSET)
    assert len(vms.quotes) == 138
    assert vms.rejected == ()


def test_aws_gpu_row_is_parsed_exactly():
    g4dn = quote(read_skypilot_vms(AWS_SUBSET), "g4dn.8xlarge", "use1-az1")
    assert g4dn.instance_type == InstanceType("g4dn.8xlarge", 32.0, 131072, 1, "T4", 16384)
    assert (g4dn.on_demand_per_hour, g4dn.spot_per_hour) == (2.176, 0.6461)
    assert g4dn.region == "us-east-1"


def test_aws_gpu_info_memory_is_per_gpu():
    g5 = quote(read_skypilot_vms(AWS_SUBSET), "g5.12xlarge", "use1-az1").instance_type
    assert (g5.gpu_count, g5.gpu_model, g5.gpu_memory_mib) == (4, "A10G", 22888)


def test_fractional_gpu_is_one_named_partition():
    g6f = quote(read_skypilot_vms(AWS_SUBSET), "g6f.2xlarge", "use1-az1").instance_type
    assert (g6f.gpu_count, g6f.gpu_model, g6f.gpu_memory_mib) == (1, "L4/4", 5722)


def test_empty_accelerator_is_a_cpu_type():
    m6i = quote(read_skypilot_vms(AWS_SUBSET), "m6i.large", "use1-atl2-az1")
    assert m6i.instance_type == InstanceType("m6i.large", 2.0, 8192)
    assert (m6i.on_demand_per_hour, m6i.spot_per_hour) == (0.096, 0.0143)


def test_empty_spot_price_means_no_spot_offer():
    p5 = quote(read_skypilot_vms(AWS_SUBSET), "p5.4xlarge", "use1-az1")
    assert (p5.on_demand_per_hour, p5.spot_per_hour) == (6.88, None)


def test_alicloud_text_gpu_info():
    vms = read_skypilot_vms(ALICLOUD_BEIJING)
    gn6i = quote(vms, "ecs.gn6i-c4g1.xlarge", "cn-beijing-h")
    assert gn6i.instance_type == InstanceType("ecs.gn6i-c4g1.xlarge", 4.0, 15360, 1, "T4", 16384)
    assert (gn6i.on_demand_per_hour, gn6i.spot_per_hour) == (1.616532, 0.5091234)
    slice_ = quote(vms, "ecs.sgn7i-vws-m2.xlarge", "cn-beijing-i").instance_type
    assert (slice_.memory_mib, slice_.gpu_model, slice_.gpu_memory_mib) == (15872, "A10*1/12", 2048)
    no_size = quote(vms, "ecs.ebmgi6s.24xlarge", "cn-beijing-e").instance_type
    assert (no_size.gpu_count, no_size.gpu_model, no_size.gpu_memory_mib) == (1, "intel SG1", 0)


def test_alicloud_implausible_price_is_rejected_with_reason():
    vms = read_skypilot_vms(ALICLOUD_BEIJING)
    assert len(vms.quotes) == 150
    (reason,) = vms.rejected
    assert "row 77: ecs.gn5i-c12g1.6xlarge in cn-beijing-k" in reason
    assert "0.000483 $/vCPU-h" in reason
    assert not [
        q
        for q in vms.quotes
        if q.instance_type.name == "ecs.gn5i-c12g1.6xlarge" and q.zone == "cn-beijing-k"
    ]


def test_sanity_floor_keeps_cheap_but_real_rows(tmp_path):
    # t4g.nano: 0.0042 $/h for 2 vCPUs, the cheapest real AWS on-demand rate, stays.
    path = write(
        tmp_path, "t4g.nano,,,2,0.5,,0.0042,0.0001,us-east-1,use1-az1", "x.big,,,100,1,,0.05,,r,z"
    )
    vms = read_skypilot_vms(path)
    assert [q.instance_type.name for q in vms.quotes] == ["t4g.nano"]
    assert "row 3: x.big in z" in vms.rejected[0]


def test_filters(tmp_path):
    vms = read_skypilot_vms(
        AWS_SUBSET,
        region="us-east-1",
        zones={"use1-az2"},
        instance_types={"g4dn.xlarge", "m6i.large"},
    )
    assert sorted(q.instance_type.name for q in vms.quotes) == ["g4dn.xlarge", "m6i.large"]
    assert {q.zone for q in vms.quotes} == {"use1-az2"}
    assert read_skypilot_vms(AWS_SUBSET, region="us-west-2").quotes == ()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("m.x,,,two,8,,0.1,,r,z", "row 2, column 'vCPUs': expected a number, got 'two'"),
        ("m.x,,,0,8,,0.1,,r,z", "row 2, column 'vCPUs': expected a number > 0, got 0"),
        (
            "m.x,,,2,8,,-0.1,,r,z",
            "row 2, column 'Price': expected a finite number >= 0, got '-0.1'",
        ),
        (
            "m.x,,,2,8,,0.1,nan,r,z",
            "row 2, column 'SpotPrice': expected a finite number >= 0, got 'nan'",
        ),
        (",,,2,8,,0.1,,r,z", "row 2, column 'InstanceType': empty"),
        ("m.x,,,2,8,,0.1,,r", "row 2, column 'AvailabilityZone': empty"),
        ("g.x,T4,,2,8,,0.1,,r,z", "row 2, column 'AcceleratorCount': empty"),
        (
            "g.x,T4,1.5,2,8,,0.1,,r,z",
            "row 2, column 'AcceleratorCount': expected a whole number or 1/n, got 1.5",
        ),
        (
            "g.x,T4,1,2,8,\"{'Gpus': [\",0.1,,r,z",
            "row 2, column 'GpuInfo': expected a dict with Gpus[0].MemoryInfo.SizeInMiB",
        ),
        ("g.x,T4,1,2,8,\"{'Gpus': []}\",0.1,,r,z", "row 2, column 'GpuInfo': expected a dict"),
        (
            "g.x,T4,1,2,8,\"{'Gpus': [{'MemoryInfo': {'SizeInMiB': '16'}}]}\",0.1,,r,z",
            "row 2, column 'GpuInfo': SizeInMiB must be a whole number >= 0, got '16'",
        ),
    ],
)
def test_malformed_row_names_file_row_and_column(tmp_path, row, message):
    path = write(tmp_path, row)
    with pytest.raises(CatalogError) as caught:
        read_skypilot_vms(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert "\n" not in str(caught.value)
    assert (caught.value.path, caught.value.row) == (path, 2)


def test_gpu_info_is_never_evaluated_as_code(tmp_path):
    marker = tmp_path / "evaluated"
    code = f"{{'Gpus': open({str(marker)!r}, 'w')}}"
    path = write(tmp_path, f'g.x,T4,1,2,8,"{code}",0.1,,r,z')
    with pytest.raises(CatalogError, match="column 'GpuInfo'"):
        read_skypilot_vms(path)
    assert not marker.exists()


def test_missing_column_is_reported_on_the_header(tmp_path):
    path = write(
        tmp_path, "m.x,2,8,r,z", header="InstanceType,vCPUs,MemoryGiB,Region,AvailabilityZone\n"
    )
    with pytest.raises(CatalogError, match=r": row 1, column 'Price': required column missing"):
        read_skypilot_vms(path)


def test_duplicate_offer_and_conflicting_shape_are_errors(tmp_path):
    path = write(tmp_path, "m.x,,,2,8,,0.1,,r,z", "m.x,,,2,8,,0.2,,r,z")
    with pytest.raises(
        CatalogError, match=r"row 3, column 'AvailabilityZone': m.x in z already listed on row 2"
    ):
        read_skypilot_vms(path)
    path = write(tmp_path, "m.x,,,2,8,,0.1,,r,z1", "m.x,,,4,8,,0.2,,r,z2")
    with pytest.raises(
        CatalogError, match=r"row 3, column 'InstanceType': m.x has a different shape on row 2"
    ):
        read_skypilot_vms(path)


def test_optional_columns_may_be_absent(tmp_path):
    path = write(
        tmp_path,
        "m.x,2,8,0.1,r,z",
        header="InstanceType,vCPUs,MemoryGiB,Price,Region,AvailabilityZone\n",
    )
    (only,) = read_skypilot_vms(path).quotes
    assert only.instance_type == InstanceType("m.x", 2.0, 8192)
    assert only.spot_per_hour is None
