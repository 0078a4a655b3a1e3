"""cloudtrail_regions() comes from botocore's endpoint data, across partitions."""

from __future__ import annotations

import botocore.session

from diag.aws_regions import cloudtrail_regions


def test_regions_are_botocores_for_every_partition() -> None:
    regions = cloudtrail_regions()
    session = botocore.session.get_session()
    for partition in session.get_available_partitions():
        assert set(session.get_available_regions("cloudtrail", partition_name=partition)) <= set(regions)
    assert list(regions) == sorted(set(regions))
    # commercial, China and GovCloud partitions are all present
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= set(regions)
