"""A policy source and evaluator for pipeline tests: canned policies in force and canned engine results."""

from __future__ import annotations

import datetime as dt
from typing import Any

from diag.collect.model import InForce, KeyInfo, PolicyChange
from diag.diagnosis.case import GrantChange
from diag.policy.model import EvaluationResult, NamedPolicy, PolicyInputs, Request


class FakeSource:
    def __init__(
        self,
        inforce: InForce | None,
        *,
        now: InForce | None = None,
        keys: list[KeyInfo] | None = None,
        elsewhere: list[KeyInfo] | None = None,
        put_key_policy: list[PolicyChange] | None = None,
    ) -> None:
        self.inforce = inforce
        self.now = now
        self.keys = keys or []
        self.elsewhere = elsewhere or []
        self.put_key_policy = put_key_policy or []
        self.calls: list[tuple[str, Any]] = []

    def in_force(
        self,
        *,
        caller_arn: str | None,
        caller_account: str | None,
        key_arn: str | None,
        bucket: str | None,
        at: dt.datetime | None,
    ) -> InForce:
        self.calls.append(("in_force", at))
        if at is None and self.now is not None:
            return self.now
        assert self.inforce is not None
        return self.inforce

    def resolve_key(
        self, key_ref: str, *, region: str | None, account: str | None, at: dt.datetime | None
    ) -> KeyInfo | None:
        for k in self.keys:
            if key_ref in (k.key_arn, k.key_id, *k.aliases) and k.region == region:
                return k
        return None

    def keys_elsewhere(self, key_ref: str, *, region: str | None, account: str | None) -> list[KeyInfo]:
        return list(self.elsewhere)

    def key_policy_changes(self, key_arn: str, before: dt.datetime | None) -> list[PolicyChange]:
        return list(self.put_key_policy)

    def grant_changes(self, key_arn: str, before: dt.datetime | None) -> list[GrantChange]:
        return []

    def session_policy(
        self, access_key_id: str | None, at: dt.datetime | None
    ) -> tuple[NamedPolicy, dict[str, Any]] | None:
        return None

    def latest_snapshot_time(self) -> dt.datetime | None:
        return dt.datetime(2030, 1, 1)  # a snapshot after every test event: "now" is always re-evaluated

    def s3_kms_event(self, facts: Any) -> Any:
        return None

    def known_accounts(self) -> frozenset[str]:
        return frozenset({"111111111111", "222222222222"})


class FakeEngine:
    """Returns ``results[i]`` for the i-th evaluation (the last one repeats); records the requests."""

    def __init__(self, *results: EvaluationResult) -> None:
        self.results = results
        self.requests: list[tuple[Request, PolicyInputs]] = []

    def __call__(self, request: Request, inputs: PolicyInputs) -> EvaluationResult:
        self.requests.append((request, inputs))
        return self.results[min(len(self.requests) - 1, len(self.results) - 1)]
