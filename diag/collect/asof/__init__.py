"""The policies in force at a time: the nearest snapshot plus the CloudTrail changes around it.

``steps`` decides one facet's value at a time (pure); ``history`` reads the policy changes of one request,
``snapshots`` finds the nearest snapshot, ``keys``/``resolve`` the key, its policy and grants,
``principals`` the caller's identity policies and boundary, ``organizations`` the SCPs/RCPs, ``bucket``
the bucket policy, and ``inforce`` puts them together (``policies_in_force``).
"""

from diag.collect.asof.steps import ABSENT, UNKNOWN, AsOf, Step, value_at

__all__ = ["ABSENT", "UNKNOWN", "AsOf", "Step", "value_at"]
