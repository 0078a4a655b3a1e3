"""KEY_USAGE_MISMATCH: the key's usage or spec does not allow this operation (InvalidKeyUsageException)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.rules._helpers import key_account
from diag.rules._nonauth import SUPERSEDES_AUTH, describe_key_command, record_says
from diag.rules.base import Rule


class KeyUsageMismatch(Rule):
    code = "KEY_USAGE_MISMATCH"
    title = "The key cannot do this operation"
    description = (
        "Not an access refusal: the key's usage or key spec does not support the operation"
        " (`InvalidKeyUsageException`), e.g. Encrypt with a SIGN_VERIFY or HMAC key, Sign with an"
        " ENCRYPT_DECRYPT key, or an algorithm the key spec does not offer."
    )
    fix_template = "Use a key whose KeyUsage and KeySpec support the operation (describe-key shows both)."
    supersedes = SUPERSEDES_AUTH

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if f.error_code != "InvalidKeyUsageException" or f.event_source != "kms.amazonaws.com":
            return []
        key = f.key_arn or f.key_id_given or "the key"
        return [
            self.finding(
                "key_usage",
                key_account(case),
                f"KMS refused {f.event_name} on `{key}` because the key's usage or key spec does not support it"
                " (InvalidKeyUsageException): the caller was not refused access, the wrong kind of key was used",
                record_says(case),
                Fix(
                    summary="check the key's KeyUsage, KeySpec and algorithms, then call with a key made for this"
                    " operation (or the algorithm the key supports)",
                    commands=(describe_key_command(case),),
                ),
            )
        ]
