"""CUSTOM_KEY_STORE_UNAVAILABLE: the key's custom key store (CloudHSM or external/XKS) could not serve the call."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from diag.diagnosis.case import Case
from diag.diagnosis.honesty import is_custom_key_store_error
from diag.diagnosis.model import Finding, Fix
from diag.rules._helpers import key_account
from diag.rules._nonauth import SUPERSEDES_AUTH, describe_key_command, record_says
from diag.rules.base import Rule


class CustomKeyStoreUnavailable(Rule):
    code = "CUSTOM_KEY_STORE_UNAVAILABLE"
    title = "The custom key store could not serve the call"
    description = (
        "Not an access refusal: the key lives in a custom key store (AWS CloudHSM or an external key store"
        " proxy, XKS) that was disconnected, unreachable or failing (`KMSInvalidStateException` naming the key"
        " store, `XksProxy…Exception`, `CloudHsmCluster…Exception`, `CustomKeyStore…Exception`)."
    )
    fix_template = "Check the key store's connection state and its proxy or CloudHSM cluster, then retry."
    supersedes = SUPERSEDES_AUTH

    def check(self, case: Case, prior: Sequence[Finding]) -> Iterable[Finding]:
        f = case.facts
        if f.event_source != "kms.amazonaws.com" or not is_custom_key_store_error(f.error_code, f.error_message):
            return []
        region = f.key_region or f.region
        where = f" --region {region}" if region else ""
        return [
            self.finding(
                "key_store",
                key_account(case),
                f"{f.event_name} failed in the key's custom key store ({f.error_code}): the key store could not"
                " serve the call (disconnected, proxy unreachable or failing); this is not an access refusal, and"
                " not the key's deletion",
                record_says(case),
                Fix(
                    summary="check the custom key store's ConnectionState and the XKS proxy or CloudHSM cluster"
                    " behind it; reconnect it, then retry",
                    commands=(describe_key_command(case), f"aws kms describe-custom-key-stores{where} --output json"),
                ),
            )
        ]
