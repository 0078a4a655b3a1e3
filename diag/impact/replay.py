"""Change impact: replay the distinct successful calls of a window against the policies as they would be.

For each distinct call (``diag.impact.observed``) the engine's request is built the way ``explain``
builds it (``diag.diagnosis.engine_request`` on the recorded event, its context completed for the
policies) and evaluated with the proposed changes applied to a copy of the policies in force
(``diag.proof.change``; or the layers of a whole bundle, ``diag.impact.bundle``), and with the policies
in force when the change refuses it. Calls with one engine-level decision key (``diag.audit.decision_key``)
share one evaluation, so the cost grows with decision keys. A call the policies allow now and the changed
policies refuse **breaks**; a call the policies in force do not even allow now is counted as unexplained
(kmsdiag lacks a layer that allowed it), never as a break. New access comes from the access matrix before
and after (``diag.proof.blast``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from diag.diagnosis.engine_request import complete, inputs_from_inforce, request_for
from diag.impact.outcome import KeyDeletion, NotReplayed
from diag.policy.model import Decision, EvaluationResult, PolicyInputs, Request
from diag.proof.change import Change, apply

if TYPE_CHECKING:
    import duckdb

    from diag.diagnosis.model import EventFacts
    from diag.impact.bundle import ProposedSide
    from diag.impact.observed import ObservedCall

_KEY_KINDS = frozenset({"key_policy", "grants"})
_PRINCIPAL_KINDS = frozenset({"identity", "permission_boundary", "session_policy"})
_EC_PREFIX = "kms:encryptioncontext:"


@dataclass
class ImpactReport:
    changes: list[str]
    since: dt.datetime | None
    until: dt.datetime | None
    events: int = 0
    distinct_calls: int = 0
    decision_keys: int = 0
    unnamed_events: int = 0
    breaks: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    unexplained: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    new_access: list[dict[str, Any]] | None = None
    removed_access: list[dict[str, Any]] | None = None
    notes: list[str] = field(default_factory=list)  # informational
    not_replayed: list[NotReplayed] = field(default_factory=list)  # what the proposal could not replay
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": self.changes,
            "window": {"since": self.since, "until": self.until},
            "observed": {
                "events": self.events,
                "distinct_calls": self.distinct_calls,
                "decision_keys": self.decision_keys,
                "events_without_caller": self.unnamed_events,
            },
            "breaks": self.breaks,
            "unchanged": self.unchanged,
            "unexplained": self.unexplained,
            "unknown": self.unknown,
            "new_access": self.new_access,
            "removed_access": self.removed_access,
            # every remark as text, as before ``not_replayed`` existed: the notes, then what was not replayed
            "notes": self.notes + [n.text() for n in self.not_replayed],
            "not_replayed": [n.to_dict() for n in self.not_replayed],
            "seconds": round(self.seconds, 3),
        }


def scope(changes: list[Change]) -> dict[str, list[str] | None]:
    """Which observed calls a set of changes can touch: keys, principals, accounts (None: no narrowing)."""
    kinds = {c.kind for c in changes}
    out: dict[str, list[str] | None] = {"keys": None, "principals": None, "accounts": None}
    if kinds <= _KEY_KINDS:
        keys = [c.target for c in changes if c.kind == "key_policy" and c.target]
        keys += [c.grant.key_arn for c in changes if c.kind == "grants" and c.grant is not None]
        out["keys"] = sorted(set(keys))
    elif kinds <= _PRINCIPAL_KINDS and all(c.target for c in changes):
        # a group's policy reaches its users (``members``), not the group itself
        out["principals"] = sorted(
            {m for c in changes for m in (c.members if ":group/" in str(c.target) else (str(c.target),))}
        )
    elif kinds <= {"scp", "rcp"} and all(c.target and c.target.isdigit() for c in changes):
        out["accounts"] = sorted({str(c.target) for c in changes})
    return out


def _refusal(res: EvaluationResult) -> dict[str, Any]:
    layers = [str(x) for x in res.deciding_layers]
    statements = []
    for lt in res.layers:
        if layers and str(lt.layer) not in layers:
            continue
        for s in lt.denying():
            statements.append(
                {"layer": str(lt.layer), "policy": s.policy_name, "sid": s.sid, "index": s.index, "effect": "Deny"}
            )
    return {"decision": str(res.decision), "layers": layers, "statements": statements, "reason": res.reason}


class Replayer:
    """Evaluates observed calls before and after changes, reading each caller's and key's policies once."""

    def __init__(self, con: duckdb.DuckDBPyConnection, proposed: ProposedSide | None = None) -> None:
        from diag.audit.decision_key import KeyMemo
        from diag.proof.blast import MatrixDiff

        self.con = con
        self.matrix = MatrixDiff(con)
        self.proposed = proposed  # a whole bundle: its layers replace those in force (diag.impact.bundle)
        self.memo: dict[tuple[str, str], _Pair] = {}
        self.match_memo = KeyMemo()  # principal matches, for diag.audit.decision_key
        self.key_memo: dict[Any, tuple[Any, ...] | None] = {}

    def request(self, call: ObservedCall) -> tuple[Request, EventFacts]:
        """The engine's request for the call's representative record, as ``explain`` builds it (before the
        context is completed for the policies: ``complete``)."""
        from diag.diagnosis.facts import facts_from_record

        facts = facts_from_record(call.raw, origin="event")
        return request_for(facts, call.key_arn, call.key_account), facts

    def inputs(self, call: ObservedCall, changes: list[Change], facts: EventFacts | None = None) -> _Pair:
        """The policies now and after the changes for the call's principal and key, built once per pair
        (``diag.diagnosis.engine_request``: the caller's kind applies, as in ``explain``)."""
        pk = (call.principal, call.key_arn)
        if pk not in self.memo:
            from diag.audit.decision_key import inputs_key

            if facts is None:
                facts = self.request(call)[1]
            inf = self.matrix.inforce(call.caller_arn, call.caller_account, call.key_arn, call.principal)
            principal = inf.principal.arn if inf.principal is not None else call.principal
            before_in = inputs_from_inforce(inf, facts=facts)
            base = before_in
            if self.proposed is not None:
                from diag.impact.bundle import overlay

                theirs = self.proposed.inforce(call.caller_arn, call.caller_account, call.key_arn, call.principal)
                base = inputs_from_inforce(overlay(inf, theirs), facts=facts)
            probe = Request(principal=call.caller_arn, action=call.action, resource=call.key_arn)
            after_in = apply(base, changes, probe, principal)
            no_grants = not before_in.grants and not after_in.grants
            bk, ak = inputs_key(before_in), inputs_key(after_in)
            reads = frozenset((*(bk[-1] if bk else ()), *(ak[-1] if ak else ()), "aws:userid"))
            self.memo[pk] = _Pair(before_in, after_in, bk, ak, no_grants, reads)
        return self.memo[pk]

    def needles(self, calls: list[ObservedCall], changes: list[Change]) -> tuple[bool, bool]:
        """Whether a policy in force (or changed) for these calls names sessions, or source IPs."""
        import json

        from diag.diagnosis.batch import _IP_NEEDLES, _SESSION_NEEDLES

        texts: list[str] = []
        for pk in dict.fromkeys((c.principal, c.key_arn) for c in calls):
            call = next(c for c in calls if (c.principal, c.key_arn) == pk)
            pair = self.inputs(call, changes)
            for inputs in (pair.before, pair.after):
                texts.append(json.dumps(inputs, default=lambda o: getattr(o, "__dict__", str(o))))
        blob = "\n".join(texts).lower()
        return any(n.lower() in blob for n in _SESSION_NEEDLES), any(n.lower() in blob for n in _IP_NEEDLES)

    def decision_key(self, req: Request, pair: _Pair) -> tuple[Any, ...] | None:
        """The engine-level decision key of ``req`` under both versions of the policies
        (``diag.audit.decision_key``, as the audit matrix shares answers); None: no sharing.

        ``decision_key`` reads only the context keys the policies read, the encryption context and
        ``aws:userid``: it is computed on the request reduced to those (an encryption context no condition
        names is dropped when neither side has grants) and remembered for it, so calls that differ only
        in keys nothing reads cost one dictionary lookup."""
        from diag.audit.decision_key import decision_key

        if pair.before_key is None or pair.after_key is None:
            return None
        ctx = {
            k: v
            for k, v in req.context.items()
            if (low := k.lower()) in pair.reads or (not pair.unread_ec and low.startswith(_EC_PREFIX))
        }
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in ctx.items()))
        mk = (id(pair), req.principal, req.action, req.resource, req.resource_account, frozen)
        if mk not in self.key_memo:
            small = dataclasses.replace(req, context=ctx)
            after = decision_key(small, pair.after, pair.after_key, self.match_memo)
            before = decision_key(small, pair.before, pair.before_key, self.match_memo) if after is not None else None
            self.key_memo[mk] = None if before is None else (after, before)
        return self.key_memo[mk]

    def replay(self, calls: list[ObservedCall], changes: list[Change], report: ImpactReport) -> None:
        """Each call evaluated with the changed policies; with the policies now only when the change refuses
        it (a call still allowed is unchanged). The request is completed with the condition keys either
        version of the policies reads (``complete``), and calls with one decision key share one decision;
        a call the change touches is evaluated for itself, so its refusal names its own policies."""
        decided: dict[Any, tuple[EvaluationResult, EvaluationResult | None]] = {}
        traces: dict[Any, tuple[EvaluationResult, EvaluationResult | None]] = {}  # per (principal, key, dk)
        alone = 0  # calls without a decision key (a policy that cannot be fingerprinted): evaluated each
        for call in calls:
            req, facts = self.request(call)
            pair = self.inputs(call, changes, facts)
            req = complete(complete(req, pair.after, facts, self.con), pair.before, facts, self.con)
            dk = self.decision_key(req, pair)
            if dk is None:
                alone += 1
                outcome = _decide(req, pair.before, pair.after)
            else:
                if dk not in decided:
                    decided[dk] = traces[(call.principal, call.key_arn, dk)] = _decide(req, pair.before, pair.after)
                outcome = decided[dk]
                if outcome[1] is not None:  # not unchanged: the trace of this principal's own policies
                    own = (call.principal, call.key_arn, dk)
                    if own not in traces:
                        traces[own] = _decide(req, pair.before, pair.after)
                    outcome = traces[own]
            _record(call, outcome, report)
        report.decision_keys = len(decided) + alone


@dataclass(frozen=True)
class _Pair:
    """The policies for one (principal, key) before and after the changes, with their decision-key parts."""

    before: PolicyInputs
    after: PolicyInputs
    before_key: tuple[Any, ...] | None
    after_key: tuple[Any, ...] | None
    unread_ec: bool = False  # neither side has grants: only conditions read the encryption context
    reads: frozenset[str] = frozenset()  # context keys either side reads, and aws:userid


def _record(
    call: ObservedCall, outcome: tuple[EvaluationResult, EvaluationResult | None], report: ImpactReport
) -> None:
    after, before = outcome
    if before is None:
        report.unchanged += 1
        return
    row = call.to_dict()
    if before.decision != Decision.ALLOWED:
        report.unexplained.append({**row, "now": str(before.decision), "reason": before.reason})
    elif after.decision != Decision.ALLOWED:
        report.breaks.append({**row, "refused_by": _refusal(after)})
    elif after.unknown and not before.unknown:
        report.unknown.append({**row, "unknown_layers": [str(u) for u in after.unknown]})
    else:
        report.unchanged += 1


def _decide(req: Any, before_in: Any, after_in: Any) -> tuple[EvaluationResult, EvaluationResult | None]:
    """(after, before); before is None when the call is unchanged (the changed policies still allow it)."""
    from diag.policy.engine import evaluate

    after = evaluate(req, after_in)
    if after.decision == Decision.ALLOWED and (not after.unknown or after_in == before_in):
        return after, None
    return after, (after if after_in == before_in else evaluate(req, before_in))


def run_impact(
    con: duckdb.DuckDBPyConnection,
    changes: list[Change],
    *,
    days: float = 30.0,
    until: dt.datetime | None = None,
    new_access: bool = True,
    proposed: ProposedSide | None = None,
    deleted: Sequence[KeyDeletion] = (),
) -> ImpactReport:
    """Replay the window's distinct successful calls against ``changes`` (and the policies of a whole
    bundle, ``proposed``); the new access they grant. Every call on a ``deleted`` key breaks."""
    from diag.impact.observed import observed_calls, window_end

    started = time.perf_counter()
    end = until or window_end(con)
    labels = [c.label() for c in changes] + ([proposed.label()] if proposed is not None else [])
    report = ImpactReport(changes=labels, since=None, until=end)
    if end is not None:
        report.since = end - dt.timedelta(days=days)
        sc = scope(changes) if proposed is None else {"keys": None, "principals": None, "accounts": None}
        calls, _, unnamed = observed_calls(
            con, since=report.since, until=end, keys=sc["keys"], principals=sc["principals"], accounts=sc["accounts"]
        )
        rep = Replayer(con, proposed)
        sessions, ips = rep.needles(calls, changes)
        if sessions or ips:  # a policy names sessions or source IPs: those split the calls too
            calls, _, unnamed = observed_calls(
                con,
                since=report.since,
                until=end,
                keys=sc["keys"],
                principals=sc["principals"],
                accounts=sc["accounts"],
                sessions=sessions,
                source_ips=ips,
            )
        gone = {d.key_arn: d.by for d in deleted}
        calls = [c for c in calls if c.key_arn not in gone]
        report.events, report.distinct_calls, report.unnamed_events = sum(c.count for c in calls), len(calls), unnamed
        rep.replay(calls, changes, report)
        if gone:  # unnamed events on them are counted already unless the calls were narrowed
            _deleted_keys(con, gone, report, count_unnamed=sc["keys"] is not None or sc["principals"] is not None)
        unnamed = report.unnamed_events
        if unnamed:
            report.notes.append(
                f"{unnamed} successful event(s) name no caller (the key owner's copy of a cross-account call):"
                " ingest the caller's trail to replay them"
            )
    else:
        report.notes.append("no successful KMS call is stored: ingest CloudTrail first (kmsdiag ingest)")
        rep = Replayer(con, proposed)
    if new_access and proposed is not None:
        report.notes.append(
            "new access is not computed for a whole bundle: run `kmsdiag audit` on a database collected from it"
            " and compare the access matrices"
        )
    elif new_access:
        _access(rep, changes, report)
    report.seconds = time.perf_counter() - started
    return report


def _deleted_keys(
    con: duckdb.DuckDBPyConnection, gone: dict[str, str], report: ImpactReport, *, count_unnamed: bool
) -> None:
    """Every observed call on a key the change deletes breaks: KMS refuses cryptographic operations on a key
    pending deletion, and every call once the waiting period ends and the key is gone."""
    from diag.impact.observed import observed_calls

    assert report.since is not None and report.until is not None
    calls, events, unnamed = observed_calls(con, since=report.since, until=report.until, keys=sorted(gone))
    report.events += events
    report.distinct_calls += len(calls)
    report.unnamed_events += unnamed if count_unnamed else 0
    for call in calls:
        by = gone[call.key_arn]
        statement = f"key scheduled for deletion by {by}"
        refusal = {
            "decision": "KeyDeleted",
            "layers": ["key_state"],
            "statements": [
                {
                    "layer": "key_state",
                    "policy": by,
                    "sid": None,
                    "index": None,
                    "effect": "Deny",
                    "statement": statement,
                }
            ],
            "reason": f"{statement}: KMS refuses cryptographic operations on a key pending deletion, and every"
            " call once the waiting period ends",
        }
        report.breaks.append({**call.to_dict(), "refused_by": refusal})


def _access(rep: Replayer, changes: list[Change], report: ImpactReport) -> None:
    from diag.proof.blast import keys_touched

    sc = scope(changes)
    keys = sc["keys"] if sc["keys"] is not None else keys_touched(rep.matrix, changes) if sc["principals"] else None
    try:
        diff = rep.matrix.diff(changes, keys, sc["principals"])
    except Exception as exc:  # no collected IAM or keys: say so rather than claim "no new access"
        report.notes.append(f"new access not computed: {type(exc).__name__}: {exc}")
        return
    report.new_access = diff.rows(diff.added)
    report.removed_access = diff.rows(diff.removed)
    if diff.unverified:
        report.notes.append("some access rests on a layer that was not collected (unverified)")
    report.notes.append(
        f"new access computed over {diff.principals} collected principal(s) × {len(diff.keys)} key(s) ×"
        f" {len(diff.actions)} action(s)"
    )
