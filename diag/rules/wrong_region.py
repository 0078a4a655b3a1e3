"""WRONG_REGION: the call went to a region where the key does not exist; the key lives elsewhere."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.rules.base import Rule
from diag.shell import q


class WrongRegion(Rule):
    code = "WRONG_REGION"
    title = "The call went to the wrong region"
    description = (
        "The call went to a region where the key does not exist (`NotFoundException`); the key lives in another region."
    )
    fix_template = (
        "Call KMS in the region where the key lives (or replicate a multi-Region key to the caller's region)."
    )
    supersedes = ("KEY_NOT_FOUND", "KEY_POLICY_NO_PRINCIPAL", "IAM_POLICY_MISSING", "IAM_RESOURCE_MISMATCH")

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        call_region = f.region
        if not call_region:
            return []
        elsewhere = [k for k in case.keys_elsewhere if k.region != call_region]
        in_region = case.inforce is not None and case.inforce.key is not None and case.inforce.key.region == call_region
        if in_region or not elsewhere:
            return []
        if f.error_code not in {
            "NotFoundException",
            "AccessDenied",
            "AccessDeniedException",
        }:
            return []
        key = elsewhere[0]
        regions = sorted({k.region for k in elsewhere})
        commands = [
            f"aws kms describe-key --key-id {q(key.key_arn)} --region {q(key.region)}",
            f"# call KMS in {key.region}: e.g. AWS_REGION={q(key.region)}, or the SDK client's region_name={key.region!r}",
        ]
        if key.multi_region:
            commands.append(
                f"aws kms replicate-key --key-id {q(key.key_arn)} --replica-region {q(call_region)} --region {q(key.region)}"
            )
        return [
            self.finding(
                "region",
                key.account,
                f"{f.event_name} went to {call_region}, where `{f.key_id_given or f.key_arn}` does not exist; the key"
                f" lives in {', '.join(regions)} (`{key.key_arn}`)",
                {
                    "called_region": call_region,
                    "key_given": f.key_id_given or f.key_arn,
                    "key_regions": regions,
                    "key_arn": key.key_arn,
                    "multi_region": key.multi_region,
                },
                Fix(
                    summary=f"call KMS in {key.region}, where the key lives"
                    + (f", or replicate this multi-Region key to {call_region}" if key.multi_region else ""),
                    commands=tuple(commands),
                    target=key.key_arn,
                ),
            )
        ]
