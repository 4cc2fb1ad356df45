"""Where the shared real data sits: the repository is checked out beside ``shared/``."""

from tests.factories import SHARED_DATA

AWS_SUBSET = SHARED_DATA / "catalog" / "skypilot_aws_vms_v9_us-east-1_subset.csv"
ALICLOUD_BEIJING = SHARED_DATA / "catalog" / "alicloud_gpu_vms_cn-beijing.csv"
ADVISOR_2025 = SHARED_DATA / "spot" / "spot-advisor-data_2025-06-28.json"
ADVISOR_2024 = SHARED_DATA / "spot" / "spot-advisor-data_2024-02-28.json"
