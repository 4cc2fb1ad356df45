"""Generate tidewise's shipped default catalog from redistributable sources only.

The SkyPilot, anycloud and Alibaba catalogs in ``../shared/data/catalog`` carry no licence, so
tidewise does not ship them. This script derives a small AWS us-east-1 catalog, in SkyPilot v9
``vms.csv`` columns, from two Apache-2.0 sources (see data/README.md for commits):

* on-demand Price: Karpenter's generated us-east-1 price table (aws/karpenter-provider-aws);
* vCPUs, MemoryGiB, the spot savings ``s`` and the interruption band: the AWS Spot Advisor
  feed as committed on 2025-06-28 in alexei-led/spotinfo. SpotPrice = Price x (1 - s/100),
  the advisor's 30-day average saving, identical in every zone (the feed has no zone detail);
* GPU count, model and per-GPU memory: the hand table below, from AWS's public "Accelerated
  computing instance specifications" (docs.aws.amazon.com/ec2/latest/instancetypes/ac.html),
  memory in MiB as EC2 DescribeInstanceTypes reports it (GpuInfo.Gpus[].MemoryInfo).

It also writes the us-east-1 Linux part of the same advisor feed, with its ``ranges``, for
tidewise's spot interruption model. Output is deterministic: run it again and nothing changes.

    python data/build_default_catalog.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
KARPENTER_CSV = SHARED / "catalog" / "aws_ondemand_us-east-1_karpenter.csv"
ADVISOR_JSON = SHARED / "spot" / "spot-advisor-data_2025-06-28.json"
OUT_DIR = REPO / "tidewise" / "data"
CATALOG_NAME = "aws_us-east-1_vms.csv"
ADVISOR_NAME = "spot_advisor_us-east-1.json"

REGION = "us-east-1"
ZONES = ("use1-az1", "use1-az2", "use1-az4")
CPU_TYPES = (
    "m6i.large",
    "m6i.xlarge",
    "m6i.2xlarge",
    "m6i.4xlarge",
    "c6i.xlarge",
    "c6i.2xlarge",
    "c6i.4xlarge",
    "r6i.xlarge",
    "r6i.2xlarge",
)
# type: (GPU count, model, memory per GPU in MiB), AWS public specs (see module docstring).
GPU_TYPES = {
    "g4dn.xlarge": (1, "T4", 16384),
    "g5.xlarge": (1, "A10G", 22888),
    "g5.2xlarge": (1, "A10G", 22888),
    "g5.12xlarge": (4, "A10G", 22888),
    "g6.xlarge": (1, "L4", 22888),
    "g6e.xlarge": (1, "L40S", 45776),
    "p4d.24xlarge": (8, "A100", 40960),
}
# SkyPilot v9 aws/vms.csv header, kept whole so that the file reads like an upstream one.
HEADER = (
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "GpuInfo",
    "Price",
    "SpotPrice",
    "Region",
    "AvailabilityZone",
    "Arch",
    "LocalDiskType",
    "NVMeSupported",
    "LocalDiskSize",
    "LocalDiskCount",
)


def gpu_info(count: int, model: str, memory_mib: int) -> str:
    """GpuInfo as SkyPilot v9 writes it: the repr of EC2's GpuInfo dict (fields we know)."""
    gpus = [
        {
            "Name": model,
            "Manufacturer": "NVIDIA",
            "Count": count,
            "MemoryInfo": {"SizeInMiB": memory_mib},
        }
    ]
    return repr({"Gpus": gpus, "TotalGpuMemoryInMiB": count * memory_mib})


def main(out_dir: Path = OUT_DIR) -> None:
    """Write both files into ``out_dir`` (the package's data folder unless testing)."""
    with KARPENTER_CSV.open(newline="") as file:
        on_demand = {
            r["InstanceType"]: r["OnDemandPriceUSDPerHour"]
            for r in csv.DictReader(file)
            if r["Region"] == REGION
        }
    feed = json.loads(ADVISOR_JSON.read_text())
    advisor = feed["spot_advisor"][REGION]["Linux"]
    rows = []
    for name in (*CPU_TYPES, *GPU_TYPES):
        shape = feed["instance_types"][name]
        price = on_demand[name]
        spot = float(price) * (1 - advisor[name]["s"] / 100)
        common = {
            "InstanceType": name,
            "vCPUs": f"{shape['cores']:.1f}",
            "MemoryGiB": f"{shape['ram_gb']:.1f}",
            "Price": price,
            "SpotPrice": f"{spot:.6f}",
            "Region": REGION,
            "Arch": "x86_64",
        }
        if name in GPU_TYPES:
            count, model, memory = GPU_TYPES[name]
            common |= {
                "AcceleratorName": model,
                "AcceleratorCount": f"{count:.1f}",
                "GpuInfo": gpu_info(count, model, memory),
            }
        rows.extend({**common, "AvailabilityZone": zone} for zone in ZONES)
    with (out_dir / CATALOG_NAME).open("w", newline="") as file:
        # Columns we have no source for (local disks) stay empty, as upstream leaves unknowns.
        writer = csv.DictWriter(file, fieldnames=HEADER, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    subset = {"ranges": feed["ranges"], "spot_advisor": {REGION: {"Linux": advisor}}}
    (out_dir / ADVISOR_NAME).write_text(
        json.dumps(subset, sort_keys=True, separators=(",", ":")) + "\n"
    )


if __name__ == "__main__":
    main()
