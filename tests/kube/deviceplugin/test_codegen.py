"""The committed kubelet API stubs are exactly what grpcio-tools makes of the protos."""

from tidewise.kube.deviceplugin.apis import codegen


def test_committed_stubs_match_a_fresh_generation(tmp_path):
    written = codegen.generate(tmp_path)
    assert len(written) == 6
    for path in written:
        fresh, committed = (tmp_path / path).read_bytes(), (codegen.ROOT / path).read_bytes()
        assert fresh == committed, f"{path} is stale: run `make protos`"


def test_the_services_have_the_kubelet_s_wire_names():
    from tidewise.kube.deviceplugin.apis.deviceplugin.v1beta1 import api_pb2 as dp
    from tidewise.kube.deviceplugin.apis.podresources.v1 import api_pb2 as pr

    plugin = dp.DESCRIPTOR.services_by_name["DevicePlugin"]
    assert plugin.full_name == "v1beta1.DevicePlugin"
    assert [m.name for m in plugin.methods] == [
        "GetDevicePluginOptions",
        "ListAndWatch",
        "GetPreferredAllocation",
        "Allocate",
        "PreStartContainer",
    ]
    assert dp.DESCRIPTOR.services_by_name["Registration"].full_name == "v1beta1.Registration"
    assert pr.DESCRIPTOR.services_by_name["PodResourcesLister"].full_name == (
        "v1.PodResourcesLister"
    )
    fields = dp.ContainerAllocateResponse.DESCRIPTOR.fields_by_name
    assert {name: f.number for name, f in fields.items()} == {
        "envs": 1,
        "mounts": 2,
        "devices": 3,
        "annotations": 4,
        "cdi_devices": 5,
    }
