"""OTHER_SERVICE: a call to a service other than KMS and S3: kmsdiag says what the record says, no KMS advice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding
from diag.rules._nonauth import kind, record_says
from diag.rules.base import Rule


class OtherService(Rule):
    code = "OTHER_SERVICE"
    title = "Not a KMS or S3 call"
    description = (
        "kmsdiag explains KMS and S3 calls; this one went to another service (sts, organizations, ec2, …). The"
        " finding repeats what the record says (and AWS's message's claim), with no diagnosis."
    )
    fix_template = "Read AWS's message; use the IAM policy simulator or IAM Access Analyzer for that service."
    supersedes = ("UNKNOWN",)

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if kind(case) != "other_service":
            return []
        f = case.facts
        service = (f.event_source or "an unknown service").removesuffix(".amazonaws.com")
        what = f"{f.event_name or 'a call'} to {service}"
        if f.error_code:
            what += f" failed with {f.error_code}"
        return [
            self.finding(
                "scope",
                f.caller_account,
                f"kmsdiag explains KMS and S3 calls; this is {what}. The record says no more than its error"
                " message; kmsdiag has not evaluated any policy for it",
                record_says(case),
            )
        ]
