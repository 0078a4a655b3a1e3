"""AWS regions as botocore's bundled endpoint data lists them, never a hand-written list.

A hand-written list goes stale as AWS opens regions (ap-east-2, ap-southeast-6, ap-southeast-7, ...), and
anything projected or listed from it silently misses the new ones. botocore ships the data with every
release, so upgrading boto3 is enough to learn a new region.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def cloudtrail_regions() -> tuple[str, ...]:
    """Every region where botocore knows a CloudTrail endpoint, in all partitions (aws, aws-cn,
    aws-us-gov, the isolated partitions...), sorted and without duplicates."""
    import botocore.session

    session = botocore.session.Session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("cloudtrail", partition_name=partition))
    return tuple(sorted(regions))
