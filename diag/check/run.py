"""Evaluate expected accesses against the collected policies: the policies in force for the caller's
account and the key's account (``diag.collect.inforce``), the engine (``diag.policy.engine``), and, for a
denial, the same diagnosis rules as ``kmsdiag explain`` when they are installed.

``check_access(con, request)`` answers one ``CheckRequest`` (one result per action);
``evaluate_access(con, caller, key_arn, action, ...)`` is the one-action core that the audit's access
matrix calls too, so that both always agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.check.evidence import engine_evidence
from diag.check.request import SESSION_NAME, CheckRequest, via_service_value
from diag.check.synthetic import CallerInfo, access_request, stated_context
from diag.diagnosis.engine_request import complete, inputs_from_inforce
from diag.errors import NotFoundError, UsageError
from diag.policy.model import Decision, EvaluationResult, Request

if TYPE_CHECKING:
    import duckdb

    from diag.collect.model import InForce, KeyInfo

_ACCOUNT_LEN = 12
# Key states in which KMS refuses cryptographic operations (DisabledException, KMSInvalidStateException).
_BLOCKING_STATES = frozenset({"Disabled", "PendingDeletion", "PendingImport", "Unavailable", "PendingReplicaDeletion"})
_STATE_FREE = frozenset(
    {
        "kms:describekey",
        "kms:getkeypolicy",
        "kms:putkeypolicy",
        "kms:listgrants",
        "kms:listresourcetags",
        "kms:enablekey",
        "kms:disablekey",
        "kms:schedulekeydeletion",
        "kms:cancelkeydeletion",
        "kms:tagresource",
        "kms:untagresource",
        "kms:getkeyrotationstatus",
        "kms:createalias",
        "kms:deletealias",
        "kms:updatealias",
        "kms:listaliases",
        "kms:updatekeydescription",
        "kms:revokegrant",
        "kms:retiregrant",
        "kms:importkeymaterial",
        "kms:getparametersforimport",
    }
)


@dataclass(frozen=True)
class ActionResult:
    """The answer for one action: the decision, the engine's result, and the findings or minimal evidence."""

    action: str
    decision: str
    result: EvaluationResult
    expected: str = "allowed"
    findings: tuple[dict[str, Any], ...] = ()
    verdict: str | None = None
    evidence: tuple[dict[str, Any], ...] = ()  # engine evidence (when the diagnosis rules are absent)
    findings_source: str = "engine"  # rules | engine
    blocked_by_key_state: str | None = None  # e.g. Disabled: KMS refuses the call whatever the policies say

    @property
    def allowed(self) -> bool:
        return self.decision == Decision.ALLOWED and self.blocked_by_key_state is None

    @property
    def as_expected(self) -> bool:
        return self.allowed == (self.expected == "allowed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "decision": self.decision,
            "allowed": self.allowed,
            "expected": self.expected,
            "as_expected": self.as_expected,
            "reason": self.result.reason,
            "blocked_by_key_state": self.blocked_by_key_state,
            "deciding_layers": [str(x) for x in self.result.deciding_layers],
            "unknown_layers": [str(x) for x in self.result.unknown],
            "verdict": self.verdict,
            "findings": list(self.findings),
            "evidence": list(self.evidence),
            "findings_source": self.findings_source,
            "context": self.result.request.context,
            "layers": [lt.to_dict() for lt in self.result.layers],
        }


@dataclass(frozen=True)
class CheckResult:
    """One ``CheckRequest`` answered: the caller and key resolved, every action's result, gaps and notes."""

    request: CheckRequest
    caller: CallerInfo
    key_arn: str
    key: KeyInfo | None
    results: tuple[ActionResult, ...]
    policies_as_of: dt.datetime | None = None
    snapshot_ids: tuple[int, ...] = ()
    gaps: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def all_allowed(self) -> bool:
        return all(r.allowed for r in self.results)

    @property
    def unverified(self) -> bool:
        """An allowed answer that rests on a layer that was not collected."""
        return any(r.allowed and r.result.unknown for r in self.results)

    @property
    def as_expected(self) -> bool:
        return all(r.as_expected for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.request.name,
            "request": self.request.to_dict(),
            "caller": self.caller.to_dict(),
            "key_arn": self.key_arn,
            "key_state": self.key.key_state if self.key else None,
            "key_manager": self.key.key_manager if self.key else None,
            "all_allowed": self.all_allowed,
            "as_expected": self.as_expected,
            "unverified": self.unverified,
            "results": [r.to_dict() for r in self.results],
            "policies_as_of": self.policies_as_of,
            "snapshot_ids": list(self.snapshot_ids),
            "gaps": list(self.gaps),
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------------------------- callers


def _principal_row(
    con: duckdb.DuckDBPyConnection, account: str, kind: str, name: str, at: dt.datetime | None
) -> tuple[bool | None, Any]:
    """(found, row of arn/unique_id) in the account's nearest snapshot; found None when its IAM is a gap."""
    from diag.collect.inforce import nearest_snapshot

    snap = nearest_snapshot(con, account, at)
    if snap is None:
        return None, None
    row = con.execute(
        "SELECT arn, unique_id FROM principals WHERE snapshot_id = ? AND account = ? AND kind = ? AND name = ?",
        [snap.snapshot_id, account, kind, name],
    ).fetchone()
    if row is not None:
        return True, row
    gap = con.execute(
        "SELECT 1 FROM collection_gaps WHERE snapshot_id = ? AND account = ? AND what = 'identity' LIMIT 1",
        [snap.snapshot_id, account],
    ).fetchone()
    has_iam = con.execute(
        "SELECT 1 FROM principals WHERE snapshot_id = ? AND account = ? LIMIT 1", [snap.snapshot_id, account]
    ).fetchone()
    return (None if gap or not has_iam else False), None


def resolve_caller(
    con: duckdb.DuckDBPyConnection,
    principal: str,
    at: dt.datetime | None = None,
    *,
    known: tuple[str, str | None] | None = None,
) -> CallerInfo:
    """A role ARN becomes a session of it (``assumed-role/NAME/kmsdiag-check``); a session ARN, user ARN,
    root ARN or bare account ID is taken as given. The role's path and unique ID come from the collected IAM
    (or ``known`` = (ARN, unique ID) when the caller already read them)."""

    def lookup(account: str, kind: str, name: str) -> tuple[bool | None, Any]:
        return (True, known) if known is not None else _principal_row(con, account, kind, name, at)

    p = principal.strip()
    if p.isdigit() and len(p) == _ACCOUNT_LEN:
        p = arns.root_arn(p)
    parts = arns.parse(p)
    if parts is None or not parts.account.isdigit() or len(parts.account) != _ACCOUNT_LEN:
        raise UsageError(
            f"--principal: not an IAM principal ARN: {principal!r}",
            hint="a role, user, root or assumed-role ARN, e.g. arn:aws:iam::222222222222:role/DataProcessingRole",
        )
    partition, service, account, resource = parts.partition, parts.service, parts.account, parts.resource
    if service == "iam" and resource == "root":
        return CallerInfo(p, p, account, "root", None, account, True)
    if service == "iam" and resource.startswith("role/"):
        name = parts.name
        found, row = lookup(account, "role", name)
        role_arn = row[0] if row else p
        session = arns.assumed_role_arn(account, name, SESSION_NAME, partition)
        return CallerInfo(session, role_arn, account, "role", name, row[1] if row else None, found)
    if service == "sts" and resource.startswith("assumed-role/"):
        bits = resource.split("/")
        if len(bits) < 3 or not bits[1] or not bits[2]:
            raise UsageError(f"--principal: an assumed-role ARN needs a role and a session name: {principal!r}")
        name = bits[1]
        found, row = lookup(account, "role", name)
        role_arn = row[0] if row else arns.role_arn(account, name, partition=partition)
        return CallerInfo(p, role_arn, account, "role", name, row[1] if row else None, found)
    if service == "iam" and resource.startswith("user/"):
        name = parts.name
        found, row = lookup(account, "user", name)
        return CallerInfo(
            row[0] if row else p, row[0] if row else p, account, "user", name, row[1] if row else None, found
        )
    raise UsageError(
        f"--principal: kmsdiag checks IAM roles, users and account roots, not {principal!r}",
        hint="for a service acting for a role, pass the role and --via-service",
    )


# ------------------------------------------------------------------------------------------------- keys


def _refuse_missing_key(con: duckdb.DuckDBPyConnection, arn: str, at: dt.datetime | None) -> None:
    """NotFoundError when the key's account and region were collected and the key is not among their keys:
    it does not exist (or did not then). In a region or account not collected the key is only unknown."""
    from diag.collect.inforce import collected_regions

    parts = arns.parse(arn)
    if parts is None:
        raise UsageError(f"--key: not a KMS key ARN: {arn!r}")
    region, account = parts.region, parts.account
    regions = collected_regions(con, account, at)
    if regions is not None and region in regions:
        raise NotFoundError(
            f"key not found in the collected snapshot: {arn} is not among the keys of account {account} in {region}",
            hint="check the key ID and region (aws kms list-keys), or collect again if the key is new (kmsdiag collect)",
        )


def resolve_key_ref(
    con: duckdb.DuckDBPyConnection, key: str, caller_account: str, at: dt.datetime | None = None
) -> tuple[str, KeyInfo | None]:
    """(key ARN, key info) for a key ARN, alias ARN, alias name or key ID. An alias name or key ID resolves
    in the caller's account, as AWS does (a cross-account call must name the key by ARN)."""
    from diag.collect.inforce import find_keys_elsewhere, resolve_key

    ref = key.strip()
    if arns.is_key_arn(ref):
        info = resolve_key(con, ref, region=None, account=None, at=at)
        if info is None:
            _refuse_missing_key(con, ref, at)
        return ref, info
    if arns.is_alias_arn(ref):
        info = resolve_key(con, ref, region=None, account=None, at=at)
        if info is None:
            raise NotFoundError(f"no collected key behind {ref}", hint="collect the key's account (kmsdiag collect)")
        return info.key_arn, info
    if ref.startswith("arn:"):  # an ARN, or meant as one, that names no key or alias
        raise UsageError(f"--key: not a KMS key or alias ARN: {key!r}")
    name = ref
    info = resolve_key(con, name, region=None, account=caller_account, at=at)
    if info is not None:
        return info.key_arn, info
    elsewhere = find_keys_elsewhere(con, name, account=caller_account, at=at)
    hint = "pass the key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID) or the alias ARN"
    if elsewhere:
        hint = "a cross-account call must name the key by ARN; collected: " + ", ".join(
            k.key_arn for k in elsewhere[:5]
        )
    raise NotFoundError(f"{ref} does not name one collected key in account {caller_account}", hint=hint)


# ------------------------------------------------------------------------------------------------ core


def evaluate_access(
    inforce: InForce,
    caller: CallerInfo,
    key_arn: str,
    action: str,
    *,
    via_service: str | None = None,
    encryption_context: dict[str, str] | None = None,
    condition_keys: dict[str, str] | None = None,
    at: dt.datetime | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[EvaluationResult, dict[str, Any], Request]:
    """The engine's answer for one action, with the synthetic record and request it was asked. With
    ``con``, the request is completed with the condition keys the policies read (the caller's tags,
    organization, the key's aliases…), as ``explain`` completes it."""
    from diag.policy.engine import evaluate

    record, request = access_request(
        caller,
        key_arn,
        action,
        via_service=via_service,
        encryption_context=encryption_context,
        condition_keys=condition_keys,
        at=at,
    )
    inputs = inputs_from_inforce(inforce)
    if con is not None:
        from diag.diagnosis.facts import facts_from_record

        request = complete(request, inputs, facts_from_record(record, origin="check"), con)
    return evaluate(request, inputs), record, request


def in_force_for(con: duckdb.DuckDBPyConnection, caller: CallerInfo, key_arn: str, at: dt.datetime | None) -> InForce:
    from diag.collect.inforce import policies_in_force

    return policies_in_force(con, caller_arn=caller.arn, caller_account=caller.account, key_arn=key_arn, at=at)


def _rules_findings(
    con: duckdb.DuckDBPyConnection, record: dict[str, Any], context: dict[str, str | list[str]]
) -> tuple[str, list[dict[str, Any]]] | None:
    """The diagnosis rules on the simulated call (as ``explain`` runs them, with the keys the check states)."""
    from diag.diagnosis.facts import facts_from_record
    from diag.diagnosis.sources import DbPolicySource
    from diag.explain import diagnose_facts
    from diag.policy.engine import evaluate

    facts = facts_from_record(record, origin="check")
    diag = diagnose_facts(facts, DbPolicySource(con), evaluate=evaluate, context=context)
    findings = [f.to_dict() for f in diag.findings if f.code != "RESOLVED_SINCE"]
    return diag.verdict or "UNKNOWN", findings  # the check builds a refused call: always a verdict


def _explained(
    con: duckdb.DuckDBPyConnection,
    action: str,
    record: dict[str, Any],
    context: dict[str, str | list[str]],
    result: EvaluationResult,
    caller: CallerInfo,
    key_arn: str,
    key: KeyInfo | None,
    blocked: str | None,
    notes: list[str],
    *,
    use_rules: bool,
) -> tuple[str | None, tuple[dict[str, Any], ...], tuple[dict[str, Any], ...], str]:
    """(verdict, findings, evidence, findings source) of a refused action: the diagnosis rules' findings when
    they have something to say, else the engine's evidence (with the key state first when it blocks)."""
    ruled = None
    if use_rules:
        try:
            ruled = _rules_findings(con, record, context)
        except Exception as exc:  # the engine's answer stands; say why the findings are minimal
            notes.append(f"the diagnosis rules failed on {action} ({type(exc).__name__}: {exc})")
    if ruled is not None and ruled[1]:
        return ruled[0], tuple(ruled[1]), (), "rules"
    # no rules installed, or they found nothing to say (e.g. only the key state blocks)
    evidence = tuple(engine_evidence(result, caller.principal_arn, key_arn))
    if blocked:
        evidence = (
            {
                "layer": "key_state",
                "account": key.account if key else None,
                "result": blocked,
                "reason": f"the key is {blocked}: KMS refuses {action} whatever the policies say",
                "fix": {
                    "summary": "enable the key (cancel its deletion first if it is pending deletion)",
                    "statement": None,
                },
            },
            *evidence,
        )
    return None, (), evidence, "engine"


def check_access(con: duckdb.DuckDBPyConnection, req: CheckRequest, *, use_rules: bool = True) -> CheckResult:
    """Answer one expected access against the collected policies (both accounts), one result per action."""
    caller = resolve_caller(con, req.principal, req.as_of)
    key_arn, key = resolve_key_ref(con, req.key, caller.account, req.as_of)
    region = arns.region_of(key_arn)
    via = via_service_value(req.via_service, region)
    inf = in_force_for(con, caller, key_arn, req.as_of)
    notes = list(inf.uncertain)
    if caller.found is False:
        notes.append(f"{caller.principal_arn} is not in the collected IAM of account {caller.account}")
    if key is None and inf.key is None:
        notes.append(f"the key {key_arn} is not in the collected data")
    key = key or inf.key
    if key is not None and key.key_state not in (None, "Enabled"):
        notes.append(f"the key is {key.key_state}: KMS refuses cryptographic operations whatever the policies say")
    results = []
    for action in req.actions:
        result, record, _ = evaluate_access(
            inf,
            caller,
            key_arn,
            action,
            via_service=via,
            encryption_context=req.encryption_context,
            condition_keys=req.condition_keys,
            at=req.as_of,
            con=con,
        )
        blocked = (
            key.key_state
            if key is not None and key.key_state in _BLOCKING_STATES and action.lower() not in _STATE_FREE
            else None
        )
        verdict: str | None = None
        findings: tuple[dict[str, Any], ...] = ()
        evidence: tuple[dict[str, Any], ...] = ()
        source = "engine"
        if result.decision != Decision.ALLOWED or blocked:
            context = stated_context(action, via, req.condition_keys)
            verdict, findings, evidence, source = _explained(
                con, action, record, context, result, caller, key_arn, key, blocked, notes, use_rules=use_rules
            )
        results.append(
            ActionResult(
                action=action,
                decision=str(result.decision),
                result=result,
                expected=req.expect,
                findings=findings,
                verdict=verdict,
                evidence=evidence,
                findings_source=source,
                blocked_by_key_state=blocked,
            )
        )
    gaps = tuple(
        {"what": g.what, "account": g.account, "resource": g.resource, "reason": g.reason, "collect": g.how_to_collect}
        for g in inf.gaps
    )
    return CheckResult(
        request=dataclasses.replace(req, via_service=via),
        caller=caller,
        key_arn=key_arn,
        key=key,
        results=tuple(results),
        policies_as_of=inf.at or inf.collected_at,
        snapshot_ids=inf.snapshot_ids,
        gaps=gaps,
        notes=tuple(dict.fromkeys(notes)),
    )
