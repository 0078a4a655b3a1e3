"""NOT_ACCESS_FAILURE: a KMS or S3 error that is not a refusal (NoSuchBucketPolicy, ValidationException, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding
from diag.rules._nonauth import kind, record_says
from diag.rules.base import Rule


class NotAccessFailure(Rule):
    code = "NOT_ACCESS_FAILURE"
    title = "Not an access refusal"
    description = (
        'The call got an error that is not an access or key-state refusal: a normal "there is none" answer'
        " (`NoSuchLifecycleConfiguration`, `NoSuchBucketPolicy`, `NoSuchKey`), a bad parameter"
        " (`ValidationException`), throttling or a limit. No policy is evaluated for it."
    )
    fix_template = "Nothing to change in policies; read the error code (a missing configuration, a bad parameter)."
    supersedes = ("UNKNOWN",)

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        if kind(case) != "not_access":
            return []
        f = case.facts
        return [
            self.finding(
                "scope",
                f.caller_account,
                f"{f.event_name or 'the call'} got {f.error_code}, which no policy decides (not an authorization"
                " refusal: a missing configuration, a bad parameter, throttling, or the credentials themselves),"
                " so kmsdiag names no policy layer",
                record_says(case),
            )
        ]
