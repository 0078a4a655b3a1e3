"""The key a KMS call names: its ARN from an ID or alias, and the same key found in other regions when it is
not where the call was made (the facts ``kmsdiag explain`` evaluates, and the ``keys_elsewhere`` of the case)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diag.diagnosis.honesty import KEY_STATE_CODES
from diag.diagnosis.model import EventFacts

if TYPE_CHECKING:
    from diag.collect.model import KeyInfo
    from diag.diagnosis.sources import PolicySource

Safe = Callable[..., Any]  # (what, lookup, default): a failed lookup is a recorded gap, not an error


def _elsewhere(source: PolicySource, facts: EventFacts, ref: str, account: str | None, safe: Safe) -> tuple[Any, ...]:
    found = safe("key search", lambda: source.keys_elsewhere(ref, region=facts.region, account=account), [])
    return tuple(found or ())


def resolve_key_facts(source: PolicySource, facts: EventFacts, safe: Safe) -> tuple[EventFacts, tuple[KeyInfo, ...]]:
    """Fill in the key ARN from an ID or alias; find the key in other regions when it is not where called."""
    if facts.is_s3:
        return facts, ()
    ref = facts.key_arn or facts.key_id_given
    if not ref:
        return facts, ()
    account = facts.key_account or facts.caller_account

    def resolve() -> Any:
        return safe(
            "key resolution",
            lambda: source.resolve_key(ref, region=facts.region, account=account, at=facts.event_time),
        )

    if facts.key_arn and facts.key_region == facts.region:
        # the key is named by ARN in the region called: policies_in_force describes it, unless KMS said it is
        # not there and it is not collected there (an ARN built with the caller's own region): look elsewhere
        if facts.error_code != "NotFoundException" or resolve():
            return facts, ()
        return facts, _elsewhere(source, facts, ref, account, safe)
    info = resolve()
    if info is not None and info.region == facts.region:
        if not facts.key_arn:
            facts = dataclasses.replace(facts, key_arn=info.key_arn, key_account=info.account)
        return facts, ()
    elsewhere = _elsewhere(source, facts, ref, account, safe)
    if info is not None and info.region != facts.region and info not in elsewhere:
        elsewhere = (info, *elsewhere)
    if facts.key_arn and facts.key_region and facts.region and facts.key_region != facts.region and not elsewhere:
        elsewhere = ()
    if not facts.key_arn and facts.error_code not in KEY_STATE_CODES and len({k.key_arn for k in elsewhere}) == 1:
        # the key exists only elsewhere: evaluate against it (the region rule says so)
        facts = dataclasses.replace(facts, key_arn=elsewhere[0].key_arn, key_account=elsewhere[0].account)
    return facts, elsewhere
