"""The AWS regions CloudTrail runs in, from botocore's own endpoint data (never a hand-written list).

botocore ships the list of regions per service and partition (``aws``, ``aws-cn``, ``aws-us-gov``, …); a
newer botocore knows newer regions. Used where kmsdiag must enumerate regions without asking AWS (the
Athena DDL's partition projection, checks of ``--region`` values).
"""

from __future__ import annotations

import functools


@functools.cache
def cloudtrail_regions() -> tuple[str, ...]:
    """Every region botocore lists for CloudTrail, across all partitions, sorted and without duplicates."""
    import botocore.session

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("cloudtrail", partition_name=partition))
    return tuple(sorted(regions))
