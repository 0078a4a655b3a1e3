"""WRONG_KEY_FOR_CIPHERTEXT: the KeyId given to Decrypt/ReEncrypt is not the key that encrypted the data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.model import Finding, Fix
from diag.rules._helpers import key_account
from diag.rules._nonauth import SUPERSEDES_AUTH, record_says
from diag.rules.base import Rule


class WrongKeyForCiphertext(Rule):
    code = "WRONG_KEY_FOR_CIPHERTEXT"
    title = "Another key encrypted this data"
    description = (
        "Not an access refusal: the key named in the call is not the key that encrypted the ciphertext"
        " (`IncorrectKeyException`)."
    )
    fix_template = "Call Decrypt with the key that encrypted the data (or without KeyId for symmetric ciphertext)."
    supersedes = SUPERSEDES_AUTH

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if f.error_code != "IncorrectKeyException" or f.event_source != "kms.amazonaws.com":
            return []
        key = f.key_arn or f.key_id_given or "the key given"
        return [
            self.finding(
                "ciphertext",
                key_account(case),
                f"{f.event_name} named `{key}`, but the ciphertext was encrypted under another key"
                " (IncorrectKeyException): the caller was not refused access",
                record_says(case),
                Fix(
                    summary="decrypt with the key that encrypted the data: for symmetric ciphertext omit KeyId"
                    " (KMS reads the key from the ciphertext), or find the key in the Encrypt/GenerateDataKey"
                    " event that produced it",
                ),
            )
        ]
