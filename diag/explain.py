"""One failed call → context → policies in force then (both accounts) → engine → rules → Diagnosis.

``diagnose_facts(facts, source)`` is the whole pipeline for facts from any origin; ``explain_id`` finds the
event by eventID, sharedEventID or requestID first; ``explain_error`` starts from an application's error
text (no CloudTrail event needed). The engine is re-run with the latest policies for ``RESOLVED_SINCE``,
and with the key policy as it was before each PutKeyPolicy for ``KEY_POLICY_OVERWRITTEN``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diag import times
from diag.diagnosis.callers import service_principal
from diag.diagnosis.case import Case, PriorPolicy
from diag.diagnosis.engine_request import ContextValues, complete, inputs_from_inforce, request_for
from diag.diagnosis.key_resolve import resolve_key_facts
from diag.diagnosis.model import Diagnosis, EventFacts, Finding
from diag.diagnosis.s3_kms import kms_facts_for_s3, s3_resource
from diag.diagnosis.session import SessionLookup
from diag.diagnosis.sources import PolicySource
from diag.diagnosis.succeeded import claim, layer_rows, success
from diag.diagnosis.verdict import choose_verdict
from diag.policy.model import EvaluationResult, Layer, LayerResult, PolicyInputs, Request

if TYPE_CHECKING:
    import duckdb

    from diag.collect.model import InForce
    from diag.errortext import ParsedError

Evaluator = Callable[[Request, PolicyInputs], EvaluationResult]
# (source, request, policies' time) -> the blast-radius function of diag.proof.attach, or None. The caller passes
# it (the command line passes diag.proof.blast.blast_for_source, which reads the audit matrix: a layer above).
BlastFactory = Callable[[Any, Request, "dt.datetime | None"], Any]
_MAX_PRIOR = 3  # how many earlier key policies to try for KEY_POLICY_OVERWRITTEN


def default_evaluator() -> Evaluator:
    # the engine, deciding both ways over condition keys kmsdiag could not determine
    from diag.policy.undetermined import evaluate

    return evaluate


@dataclasses.dataclass(frozen=True)
class _Evaluated:
    """The engine's answer for one event: as of the event, and as of now (None where it could not run)."""

    request: Request | None = None
    inputs: PolicyInputs | None = None
    result: EvaluationResult | None = None
    now_inforce: InForce | None = None
    now_result: EvaluationResult | None = None


class _Pipeline:
    def __init__(
        self,
        source: PolicySource,
        evaluate: Evaluator | None,
        *,
        depth: int = 0,
        blast: BlastFactory | None = None,
        context: ContextValues | None = None,
    ) -> None:
        self.source = source
        self.context = context  # condition keys stated for the call (kmsdiag check), over the record's
        self.blast = blast  # computes each fix's blast radius (explain of one event; not the batch)
        self._evaluate = evaluate
        self.depth = depth  # 1 for the KMS call derived from an S3 request
        self.notes: list[str] = []

    def evaluate(self, request: Request, inputs: PolicyInputs) -> EvaluationResult:
        if self._evaluate is None:
            self._evaluate = default_evaluator()
        return self._evaluate(request, inputs)

    def fill_context(self, request: Request, inputs: PolicyInputs, facts: EventFacts) -> Request:
        """The request with the condition keys the policies read, as of the event (diag.diagnosis.engine_request)."""
        con = getattr(self.source, "con", None)
        return self.safe("request context", lambda: complete(request, inputs, facts, con), request)

    def session(self, facts: EventFacts, at: dt.datetime | None) -> SessionLookup:
        """The session policy of this call (diag.diagnosis.session): known, found, or a gap to fill. A source
        without ``session_lookup`` (a test double) answers with ``session_policy`` (None: none)."""
        lookup = getattr(self.source, "session_lookup", None)
        if lookup is not None:
            found = self.safe("session policy lookup", lambda: lookup(facts, at))
            return found if found is not None else SessionLookup(known=False)
        old = self.safe("session policy lookup", lambda: self.source.session_policy(facts.access_key_id, at))
        return SessionLookup(known=True, policy=old[0], event=old[1]) if old else SessionLookup(known=True)

    def key_users(self, facts: EventFacts, result: EvaluationResult | None) -> tuple[Any, ...]:
        """Who used this key for this operation successfully (for WRONG_ASSUMED_ROLE); only for a denial."""
        if result is None or result.decision == "Allowed" or not facts.key_arn:
            return ()
        from diag.diagnosis.intent import key_users

        con = getattr(self.source, "con", None)
        return self.safe("key users", lambda: key_users(con, facts.key_arn, facts.event_name), ()) or ()

    def intent(self, facts: EventFacts, result: EvaluationResult | None) -> dict[str, Any]:
        """``key_users`` and, when someone used the key, ``identity_intent``: the roles and users whose own
        identity policies name this key (diag.diagnosis.intent; for WRONG_ASSUMED_ROLE); for a refused AWS
        service principal, ``source_candidates`` (diag.diagnosis.callers; for the aws:SourceArn inference)."""
        con = getattr(self.source, "con", None)
        out: dict[str, Any] = {"key_users": self.key_users(facts, result)}
        if result is not None and result.decision != "Allowed" and service_principal(facts):
            from diag.diagnosis.callers import source_candidates

            out["source_candidates"] = self.safe("source candidates", lambda: source_candidates(con, facts)) or []
        caller = {facts.principal_arn, facts.caller_arn}
        others = tuple(u[0] for u in out["key_users"] if u[0] not in caller)
        if not others or result is None:
            return out  # only another principal's successful use can point at a wrong principal
        from diag.diagnosis.intent import identity_intended

        action, at = result.request.action, facts.event_time
        found = self.safe("identity intent", lambda: identity_intended(con, facts.key_arn, action, at, others))
        out["identity_intent"] = found or {}
        return out

    def safe(self, what: str, fn: Callable[[], Any], default: Any = None) -> Any:
        try:
            return fn()
        except Exception as exc:  # a lookup that fails must not stop the diagnosis: it is a recorded gap
            self.notes.append(f"{what} failed: {type(exc).__name__}: {exc}")
        return default

    def s3_kms_facts(self, facts: EventFacts, inforce: InForce | None) -> EventFacts | None:
        """The KMS call that S3 made for this S3 request (diag.diagnosis.s3_kms)."""
        return kms_facts_for_s3(self.source, facts, inforce, self.safe)

    def proven(
        self,
        findings: Any,
        request: Request | None,
        inforce: InForce | None,
        inputs: PolicyInputs | None,
        who: Any,
        now: Any,
        s3: bool,
    ) -> Any:
        """The findings with each fix proven by the engine (diag.proof), and its blast radius when the
        policies come from the database. ``inputs``: the engine inputs the verdict was decided on."""
        from diag.proof.attach import attach_proofs, unevaluated

        if request is None or inforce is None or inputs is None or self._evaluate is None:
            return unevaluated(findings)
        # a blast radius is a fix's: without a fix, its modules are not even imported
        fixes = any(f.fix is not None for f in findings)
        blast = self.blast(self.source, request, inforce.at) if self.blast is not None and fixes and not s3 else None
        evaluate = self._evaluate
        return self.safe(
            "fix proofs",
            lambda: attach_proofs(findings, request, inputs, evaluate, principal_arn=who, now_result=now, blast=blast),
            findings,
        )

    def unchanged_since(self, inforce: InForce) -> bool:
        """The policies at event time are the latest: no change after it, and no snapshot taken after it."""
        if inforce.later_changes or inforce.at is None:
            return inforce.at is None and not inforce.later_changes
        latest = self.safe("latest snapshot", lambda: self.source.latest_snapshot_time())
        return latest is not None and latest <= inforce.at

    def run(self, facts: EventFacts, claimed: ParsedError | None = None) -> Diagnosis:
        from diag.diagnosis.honesty import failure_kind, needs_policies

        kind = failure_kind(facts)
        if not needs_policies(kind):
            return self._without_policies(facts, claimed, kind)
        return self._with_policies(facts, claimed, kind)

    def _without_policies(self, facts: EventFacts, claimed: ParsedError | None, kind: str) -> Diagnosis:
        """A call kmsdiag does not judge by policies (another service, an error that is not a refusal): the
        rules say what the record says; no policy is looked up, no gap is asked for."""
        from diag.diagnosis.honesty import based_on
        from diag.rules import run_rules

        case = Case(facts=facts, claimed=claimed, notes=tuple(self.notes), extra={"kind": kind})
        findings = run_rules(case)
        return Diagnosis(
            facts=facts,
            verdict=choose_verdict(findings),
            findings=tuple(findings),
            based_on=based_on(facts, None, None, claim=claim(facts, claimed)),
        )

    def _inforce_at(self, facts: EventFacts, principal: str | None, when: dt.datetime | None) -> InForce | None:
        """The policies in force for the event's caller, key and bucket at ``when`` (None: now)."""
        return self.safe(
            "policies in force",
            lambda: self.source.in_force(
                caller_arn=principal,
                caller_account=facts.caller_account,
                key_arn=facts.key_arn,
                bucket=facts.bucket if facts.is_s3 else None,
                at=when,
            ),
        )

    def _inputs(self, inforce: InForce, facts: EventFacts, session: SessionLookup, *, s3: bool) -> PolicyInputs:
        # a session policy not seen is unknown (service principals: none, whatever `known` says)
        return inputs_from_inforce(
            inforce, s3=s3, session_policy=session.policy, session_policy_known=session.known, facts=facts
        )

    def _evaluate_event(
        self,
        facts: EventFacts,
        resource: str | None,
        principal: str | None,
        inforce: InForce | None,
        session: SessionLookup,
    ) -> _Evaluated:
        """The engine's answer as of the event and, when the policies changed since, as of now."""
        if not (resource and inforce is not None and principal and facts.action):
            return _Evaluated()
        res_account = facts.key_account
        if facts.is_s3:
            res_account = inforce.bucket_policy.account if inforce.bucket_policy else None
        request = request_for(facts, resource, res_account, context=self.context)
        inputs = self._inputs(inforce, facts, session, s3=facts.is_s3)
        request = self.fill_context(request, inputs, facts)
        result = self.evaluate(request, inputs)
        now_inforce = inforce if self.unchanged_since(inforce) else self._inforce_at(facts, principal, None)
        now_result = None
        if now_inforce is inforce:
            now_result = result
        elif now_inforce is not None:
            now_inputs = self._inputs(now_inforce, facts, session, s3=facts.is_s3)
            now_result = self.evaluate(self.fill_context(request, now_inputs, facts), now_inputs)
        return _Evaluated(request, inputs, result, now_inforce, now_result)

    def _prior_key_policies(
        self, facts: EventFacts, principal: str | None, request: Request, session: SessionLookup
    ) -> tuple[PriorPolicy, ...]:
        """The engine's answer under the key policies in force before the latest changes (oldest first)."""
        at = facts.event_time
        changes = (
            self.safe("key policy history", lambda: self.source.key_policy_changes(facts.key_arn or "", at), []) or []
        )
        prior: list[PriorPolicy] = []
        for change in list(reversed(changes))[:_MAX_PRIOR]:
            before = self._inforce_at(facts, principal, change.event_time - dt.timedelta(milliseconds=1))
            if before is None or before.key_policy is None:
                continue
            res = self.evaluate(request, self._inputs(before, facts, session, s3=False))
            prior.insert(0, PriorPolicy(change=change, result=res))
        return tuple(prior)

    def _case(
        self,
        facts: EventFacts,
        claimed: ParsedError | None,
        kind: str,
        inforce: InForce | None,
        ev: _Evaluated,
        **more: Any,
    ) -> Case:
        """The case the rules read; ``more``: the other Case fields gathered by :meth:`_with_policies`."""
        extra: dict[str, Any] = {"kind": kind}
        later_use = getattr(self.source, "key_used_after", None)
        at = facts.event_time
        if later_use is not None and facts.key_arn and at is not None and kind == "key_state":
            extra["later_success"] = self.safe("later use of the key", lambda: later_use(facts.key_arn, at))
        return Case(
            facts=facts,
            inforce=inforce,
            result=ev.result,
            now_inforce=ev.now_inforce,
            now_result=ev.now_result,
            claimed=claimed,
            notes=tuple(self.notes),
            extra={**extra, **self.intent(facts, ev.result)},
            **more,
        )

    def _via_s3(
        self, facts: EventFacts, inforce: InForce | None, findings: list[Finding], layers: list[dict[str, Any]]
    ) -> tuple[list[Finding], list[dict[str, Any]]]:
        """S3 allowed the request itself: the refusal came from the KMS call S3 made for the caller."""
        kms = self.s3_kms_facts(facts, inforce)
        if kms is None:
            return findings, layers
        sub = _Pipeline(self.source, self._evaluate, depth=1, blast=self.blast, context=self.context).run(kms)
        if sub.verdict != "UNKNOWN" or not [f for f in findings if f.code != "UNKNOWN"]:
            via = {
                "kms_request": kms.action,
                "kms_event_id": kms.event_id,
                "key_arn": kms.key_arn,
                "note": "S3 allowed the request; the KMS call it made for the caller was refused",
            }
            findings = [dataclasses.replace(f, evidence={**f.evidence, "via_s3": via}) for f in sub.findings]
            layers = layers + list(sub.layers)
        return findings, layers

    def _with_policies(self, facts: EventFacts, claimed: ParsedError | None, kind: str) -> Diagnosis:
        from diag.diagnosis.honesty import SUCCEEDED, based_on, proven_decision
        from diag.rules import run_rules
        from diag.rules.unknown import gap_list

        facts, elsewhere = resolve_key_facts(self.source, facts, self.safe)
        at = facts.event_time
        principal = facts.principal_arn or facts.caller_arn or service_principal(facts)
        resource = s3_resource(facts) if facts.is_s3 and facts.bucket else facts.key_arn
        inforce = self._inforce_at(facts, principal, at) if (resource or principal) else None
        if inforce is not None and inforce.key is not None and not facts.key_account:
            facts = dataclasses.replace(facts, key_account=inforce.key.account)
        session = self.session(facts, at)
        if inforce is not None and session.gap is not None:  # the session policy is a gap: say what to ingest
            inforce = dataclasses.replace(inforce, gaps=(*inforce.gaps, session.gap))
        ev = self._evaluate_event(facts, resource, principal, inforce, session)
        result = ev.result
        key_denied = result is not None and any(
            t.result == LayerResult.IMPLICITLY_DENIED for t in result.layer(Layer.KEY_POLICY)
        )
        prior: tuple[PriorPolicy, ...] = ()
        if key_denied and facts.key_arn and ev.request is not None:
            prior = self._prior_key_policies(facts, principal, ev.request, session)
        grants = ()
        if result is not None and result.decision != "Allowed" and facts.key_arn:
            grants = tuple(
                self.safe("grant history", lambda: self.source.grant_changes(facts.key_arn or "", at), []) or ()
            )
        accounts = self.safe("known accounts", self.source.known_accounts, frozenset()) if key_denied else frozenset()
        basis = based_on(facts, result, inforce, claim=claim(facts, claimed))
        if kind == SUCCEEDED:  # what allowed it; or, when a deciding layer was not seen, how to collect it
            return success(facts, result, inforce, basis, tuple(gap_list(Case(facts, inforce=inforce, result=result))))
        case = self._case(
            facts,
            claimed,
            kind,
            inforce,
            ev,
            keys_elsewhere=elsewhere,
            prior_key_policies=prior,
            session_policy_event=session.event,
            grant_changes=grants,
            known_accounts=frozenset(accounts or ()),
        )
        findings = run_rules(case)
        findings = self.proven(findings, ev.request, inforce, ev.inputs, principal, ev.now_result, facts.is_s3)
        layers = layer_rows(result)
        if facts.is_s3 and self.depth == 0 and (result is None or result.decision == "Allowed"):
            findings, layers = self._via_s3(facts, inforce, findings, layers)
        return Diagnosis(
            facts=facts,
            verdict=choose_verdict(findings),
            findings=tuple(findings),
            layers=tuple(layers),
            policies_as_of=(inforce.at or inforce.collected_at) if inforce is not None else None,
            decision=proven_decision(result),  # "Unknown" also when the decision is undetermined
            snapshot_id=inforce.snapshot_id if inforce is not None else None,
            gaps=tuple(gap_list(case)),
            based_on=basis,
        )


def diagnose_facts(
    facts: EventFacts,
    source: PolicySource,
    *,
    evaluate: Evaluator | None = None,
    claimed: ParsedError | None = None,
    blast_radius: BlastFactory | None = None,
    context: ContextValues | None = None,
) -> Diagnosis:
    """The diagnosis of one failed call, whatever its origin. ``claimed``: the parsed error text, when the
    caller has it (else the UNKNOWN rule parses the event's message if it needs AWS's claim). Every fix
    is proven by the engine; ``blast_radius``: also compute the access each fix adds (e.g.
    ``diag.proof.blast.blast_for_source``); ``context``: condition keys stated for the call, over the
    record's (``kmsdiag check``)."""
    return _Pipeline(source, evaluate, blast=blast_radius, context=context).run(facts, claimed)


def explain_id(
    con: duckdb.DuckDBPyConnection,
    ident: str,
    *,
    source: PolicySource | None = None,
    blast_radius: BlastFactory | None = None,
) -> Diagnosis:
    """Explain the event with this eventID, sharedEventID or requestID (NotFoundError if none)."""
    from diag.diagnosis.find import find_event
    from diag.diagnosis.sources import DbPolicySource

    facts = find_event(con, ident)
    return diagnose_facts(facts, source or DbPolicySource(con, one_explain=True), blast_radius=blast_radius)


def explain_record(
    con: duckdb.DuckDBPyConnection,
    record: dict[str, Any],
    *,
    source: PolicySource | None = None,
    blast_radius: BlastFactory | None = None,
) -> Diagnosis:
    """Explain a CloudTrail record given directly (``--event-file``), against the collected policies."""
    from diag.diagnosis.facts import facts_from_record
    from diag.diagnosis.sources import DbPolicySource

    return diagnose_facts(
        facts_from_record(record, origin="event-file"),
        source or DbPolicySource(con, one_explain=True),
        blast_radius=blast_radius,
    )


def explain_error(
    con: duckdb.DuckDBPyConnection,
    text: str,
    *,
    key: str | None = None,
    region: str | None = None,
    at: dt.datetime | None = None,
    source: PolicySource | None = None,
    blast_radius: BlastFactory | None = None,
) -> Diagnosis:
    """Explain an application's error text before CloudTrail delivers the event.

    A request ID in the text that matches a stored event explains that event instead. Without a key ARN
    (the "resource associated with this ciphertext" form) the caller's recent failures of the same action
    name the key when they agree on one; otherwise the diagnosis says to pass ``--key``.
    """
    from diag.diagnosis.facts import facts_from_record, record_from_error
    from diag.diagnosis.find import find_event_or_none, recent_key_for
    from diag.diagnosis.sources import DbPolicySource
    from diag.errors import BadInputError
    from diag.errortext import parse_error

    parsed = parse_error(text)
    if parsed.request_id:
        stored = find_event_or_none(con, parsed.request_id)
        if stored is not None:
            return diagnose_facts(
                stored, source or DbPolicySource(con, one_explain=True), claimed=parsed, blast_radius=blast_radius
            )
    if not parsed.recognized:
        raise BadInputError(
            "this text is not an AWS access-denied or KMS key-state error that kmsdiag recognizes",
            hint="paste the whole message, e.g. 'User: arn:aws:sts::…:assumed-role/… is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:…'",
        )
    when = at or times.utcnow()
    guessed = None
    if not key and parsed.resource_kind != "arn" and parsed.principal and parsed.action:
        guessed = recent_key_for(con, parsed.principal, parsed.action)
    record = record_from_error(parsed, at=when, region=region, key=key or guessed)
    facts = facts_from_record(record, origin="error-text")
    return diagnose_facts(
        facts, source or DbPolicySource(con, one_explain=True), claimed=parsed, blast_radius=blast_radius
    )
