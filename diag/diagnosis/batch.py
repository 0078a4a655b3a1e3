"""`kmsdiag diagnose`: diagnose every stored failure, each distinct decision key once (DESIGN.md section 2).

A decision key is a hash of what can change the answer: the caller (its role, or the session when a
collected policy names sessions), the service and action, the key (ARN or the ID/alias given) and its
account, the region, the calling service, the error code, the encryption context, the bucket, the VPC
endpoint, the source IP only when a collected policy mentions one, the session policy passed at
AssumeRole, and the *policy epoch*: how many policy changes (PutKeyPolicy, PutRolePolicy, grants, key
state, snapshots…) happened before the event. Events with one key share one diagnosis: the cost grows with
distinct failures, not with events. Keys and joins are computed in SQL; only one representative event per
key goes through the Python pipeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from diag import times
from diag.change_events import DECISION_CHANGES
from diag.diagnosis import basis
from diag.diagnosis.epochs import build_epochs, q_list
from diag.store.bulk import insert_columns

if TYPE_CHECKING:
    import datetime as dt

    import duckdb

    from diag.diagnosis.sources import PolicySource
    from diag.explain import Evaluator

# Error codes that mean "KMS (or S3) refused this caller or this key", as opposed to throttling or bad input.
KMS_FAILURES = (
    "AccessDenied",
    "AccessDeniedException",
    "NotFoundException",
    "DisabledException",
    "KMSInvalidStateException",
    "InvalidCiphertextException",
    "IncorrectKeyException",
    "InvalidKeyUsageException",
    "InvalidGrantTokenException",
    "InvalidGrantIdException",
)
S3_FAILURES = ("AccessDenied", "AccessDeniedException")
# Events that may change a decision: the decision cache is split at their times (diag.change_events).
CHANGE_EVENTS = DECISION_CHANGES
_SESSION_NEEDLES = (
    "assumed-role",
    "aws:userid",
    "aws:username",
    "aws:SourceIdentity",
    "RoleSessionName",
    "aws:PrincipalTag",  # session tags: each session may have its own
)
_IP_NEEDLES = ("aws:SourceIp", "aws:VpcSourceIp")


def policies_mention(con: duckdb.DuckDBPyConnection, needles: tuple[str, ...]) -> bool:
    """Whether any collected policy text mentions one of ``needles`` (tables named *polic*, text columns).
    No policy tables: False (nothing collected can name a session or an IP)."""
    cols = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
        " AND lower(table_name) LIKE '%polic%' AND data_type IN ('VARCHAR', 'JSON')"
    ).fetchall()
    if not cols:
        return False
    for table, column in cols:
        for needle in needles:
            row = con.execute(
                f'SELECT 1 FROM "{table}" WHERE CAST("{column}" AS VARCHAR) ILIKE ? LIMIT 1', [f"%{needle}%"]
            ).fetchone()  # names come from the catalog
            if row:
                return True
    return False


def _sessions(con: duckdb.DuckDBPyConnection) -> None:
    """``_dx_sessions(access_key_id, policy_hash)``: every session an STS record issued, with a hash of the
    session policy it passed ('' for none). A role session whose key is not in it has an unknown session
    policy (diag.diagnosis.session): its decision key differs from one whose STS record was found."""
    from diag.diagnosis.session import STS_SESSION_EVENTS

    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dx_sessions AS SELECT DISTINCT ON (access_key_id) access_key_id, policy_hash"
        " FROM (SELECT json_extract_string(raw, '$.responseElements.credentials.accessKeyId') AS access_key_id,"
        " CASE WHEN json_extract_string(raw, '$.requestParameters.policy') IS NULL"
        "  AND json_extract(raw, '$.requestParameters.policyArns') IS NULL THEN ''"
        " ELSE md5(coalesce(json_extract_string(raw, '$.requestParameters.policy'), '')"
        " || coalesce(CAST(json_extract(raw, '$.requestParameters.policyArns') AS VARCHAR), '')) END AS policy_hash"
        f" FROM events WHERE event_source = 'sts.amazonaws.com' AND event_name IN ({q_list(STS_SESSION_EVENTS)})"
        " AND error_code IS NULL) WHERE access_key_id IS NOT NULL"
    )


def select_failures(con: duckdb.DuckDBPyConnection, *, redo: bool) -> int:
    """Fill the temp table ``_dx_fail(event_id, event_time, decision_key)``; return its row count."""
    build_epochs(con)
    _sessions(con)
    who = "coalesce(e.caller_arn, '')" if policies_mention(con, _SESSION_NEEDLES) else "''"
    ip = "coalesce(e.source_ip, '')" if policies_mention(con, _IP_NEEDLES) else "''"
    session_join = (
        " LEFT JOIN _dx_sessions s ON s.access_key_id = json_extract_string(e.raw, '$.userIdentity.accessKeyId')"
    )
    # the session policy: none possible (not a session), the one its STS record passed, or not known
    session_col = (
        "CASE WHEN coalesce(e.caller_type, '') IN ('AssumedRole', 'FederatedUser') OR e.caller_arn LIKE '%:assumed-role/%'"
        " OR e.caller_arn LIKE '%:federated-user/%' THEN coalesce(s.policy_hash, 'not-ingested') ELSE '' END"
    )
    not_done = "" if redo else " AND NOT EXISTS (SELECT 1 FROM diagnoses d WHERE d.event_id = e.event_id)"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dx_fail AS SELECT e.event_id, e.event_time, md5(concat_ws('|',"
        " coalesce(e.caller_role_arn, e.caller_arn, e.caller_principal_id, ''), "
        + who
        + ", coalesce(e.caller_account, ''),"
        " coalesce(e.caller_type, ''), e.event_source, e.event_name, coalesce(e.key_arn, e.key_id_given, ''),"
        " coalesce(e.key_account, ''), coalesce(e.aws_region, ''), coalesce(e.invoked_by, ''), coalesce(e.error_code, ''),"
        " coalesce(CAST(e.encryption_context AS VARCHAR), ''), coalesce(e.bucket, ''), coalesce(e.vpc_endpoint_id, ''), "
        + ip
        + ", coalesce(CAST(c.epoch AS VARCHAR), '0'), "
        + session_col
        + ")) AS decision_key"
        " FROM events e ASOF LEFT JOIN _dx_epochs c ON e.event_time >= c.t"
        + session_join
        + f" WHERE e.error_code IS NOT NULL AND ((e.event_source = 'kms.amazonaws.com' AND e.error_code IN ({q_list(KMS_FAILURES)}))"
        f" OR (e.event_source = 's3.amazonaws.com' AND e.error_code IN ({q_list(S3_FAILURES)})))"
        " AND NOT (coalesce(e.caller_type, '') = 'AWSAccount' AND e.shared_event_id IS NOT NULL AND EXISTS ("
        "  SELECT 1 FROM events x WHERE x.shared_event_id = e.shared_event_id AND coalesce(x.caller_type, '') <> 'AWSAccount'))"
        + not_done
    )
    row = con.execute("SELECT count(*) FROM _dx_fail").fetchone()
    return int(row[0]) if row else 0


def _engine_version() -> str:
    from diag.policy.engine import ENGINE_VERSION

    return ENGINE_VERSION


_RESULT_COLUMNS = (
    "decision_key",
    "verdict",
    "codes",
    "findings",
    "layers",
    "policies_as_of",
    "snapshot_id",
    "decision",
    "based_on",
    "basis_group",
)


def _results(con: duckdb.DuckDBPyConnection, bases: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (verdict, decision, basis group): how many events and decision keys, and what the answers
    rest on (explain's ``based_on``, merged over the group: diag.diagnosis.basis)."""
    rows = con.execute(
        "SELECT r.verdict, r.decision, r.basis_group, count(*), count(DISTINCT r.decision_key)"
        " FROM _dx_fail f JOIN _dx_result r USING (decision_key) GROUP BY ALL ORDER BY 4 DESC, 1, 2 NULLS LAST, 3"
    ).fetchall()
    return [
        {
            "verdict": verdict,
            "decision": decision,
            "events": int(events),
            "decision_keys": int(keys),
            "based_on": basis.merge(bases.get(group) or []),
        }
        for verdict, decision, group, events, keys in rows
    ]


def _layer_summary(layers: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [{k: layer.get(k) for k in ("layer", "account", "result", "reason", "org_identifier")} for layer in layers]


def _representatives(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """(decision_key, *event columns) of the first failure of each decision key in ``_dx_fail``."""
    from diag.diagnosis.find import COLUMNS

    cols = ", ".join(f"e.{c}" for c in COLUMNS)
    return con.execute(
        f"SELECT r.decision_key, {cols} FROM (SELECT decision_key, arg_min(event_id, event_time) AS event_id"
        " FROM _dx_fail GROUP BY decision_key) r JOIN events e ON e.event_id = r.event_id ORDER BY e.event_time, e.event_id"
    ).fetchall()


def _diagnose_representatives(
    reps: list[tuple[Any, ...]],
    source: PolicySource,
    evaluate: Evaluator | None,
    progress: Callable[[int, int], None] | None,
) -> tuple[list[tuple[Any, ...]], dict[str, list[dict[str, Any]]]]:
    """Diagnose one failure per decision key: the ``_dx_result`` rows, and the bases of each basis group."""
    from diag.diagnosis.facts import facts_from_row
    from diag.diagnosis.find import COLUMNS
    from diag.explain import diagnose_facts
    from diag.jsonout import to_json

    rows: list[tuple[Any, ...]] = []
    bases: dict[str, list[dict[str, Any]]] = {}  # basis group → the bases of its decision keys
    for i, (dkey, *values) in enumerate(reps, 1):
        diag = diagnose_facts(facts_from_row(dict(zip(COLUMNS, values, strict=True))), source, evaluate=evaluate)
        group = basis.group_key(diag.based_on)
        bases.setdefault(group, []).append(diag.based_on)
        rows.append(
            (
                dkey,
                diag.verdict,
                diag.codes,
                to_json([f.to_dict() for f in diag.findings], indent=False),
                to_json(_layer_summary(diag.layers), indent=False),
                diag.policies_as_of,
                diag.snapshot_id,
                diag.decision,
                to_json(diag.based_on, indent=False) if diag.based_on else None,
                group,
            )
        )
        if progress is not None:
            progress(i, len(reps))
    return rows, bases


def _insert_diagnoses(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]], *, redo: bool, now: dt.datetime
) -> None:
    """Every failure of ``_dx_fail`` gets the diagnosis of its decision key (inside the caller's transaction)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _dx_result (decision_key VARCHAR, verdict VARCHAR, codes VARCHAR[], findings JSON,"
        " layers JSON, policies_as_of TIMESTAMP, snapshot_id BIGINT, decision VARCHAR, based_on JSON,"
        " basis_group VARCHAR)"
    )
    insert_columns(
        con,
        "_dx_result",
        _RESULT_COLUMNS,
        rows,
        types={"codes": "VARCHAR[]", "policies_as_of": "TIMESTAMP", "snapshot_id": "BIGINT"},
    )
    con.execute(
        "INSERT INTO diagnoses (event_id, verdict, codes, findings, layers, decision_key, policies_as_of, snapshot_id,"
        " engine_version, diagnosed_at, decision, based_on) SELECT f.event_id, r.verdict, r.codes, r.findings,"
        " r.layers, f.decision_key, r.policies_as_of, r.snapshot_id, ?, ?, r.decision, r.based_on"
        " FROM _dx_fail f JOIN _dx_result r USING (decision_key)",
        [_engine_version(), now],
    )
    # the key owner's AWSAccount copy of a call shares the diagnosis of the caller's copy
    con.execute(
        "INSERT INTO diagnoses (event_id, verdict, codes, findings, layers, decision_key, policies_as_of, snapshot_id,"
        " engine_version, diagnosed_at, decision, based_on) SELECT DISTINCT ON (o.event_id) o.event_id, r.verdict,"
        " r.codes, r.findings, r.layers, f.decision_key, r.policies_as_of, r.snapshot_id, ?, ?, r.decision,"
        " r.based_on FROM events o"
        " JOIN events c ON c.shared_event_id = o.shared_event_id AND coalesce(c.caller_type, '') <> 'AWSAccount'"
        " JOIN _dx_fail f ON f.event_id = c.event_id JOIN _dx_result r USING (decision_key)"
        " WHERE o.caller_type = 'AWSAccount' AND o.error_code IS NOT NULL AND o.shared_event_id IS NOT NULL"
        + ("" if redo else " AND NOT EXISTS (SELECT 1 FROM diagnoses d WHERE d.event_id = o.event_id)"),
        [_engine_version(), now],
    )


def diagnose_pending(
    con: duckdb.DuckDBPyConnection,
    *,
    redo: bool = False,
    source: PolicySource | None = None,
    evaluate: Evaluator | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Diagnose every failure not yet in ``diagnoses`` (every failure with ``redo``); return a summary."""
    from diag.diagnosis.sources import DbPolicySource

    started = time.perf_counter()
    if source is None:  # policy-change events ingested since the last collect must count as history
        from diag.collect.history import build_policy_changes

        build_policy_changes(con)
    source = source or DbPolicySource(con, memo=True)
    failures = select_failures(con, redo=redo)
    reps = _representatives(con)
    rows, bases = _diagnose_representatives(reps, source, evaluate, progress)
    now = times.utcnow()
    con.execute("BEGIN TRANSACTION")
    try:
        _insert_diagnoses(con, rows, redo=redo, now=now)
        copies = con.execute("SELECT count(*) FROM diagnoses WHERE diagnosed_at = ?", [now]).fetchone()
        by_verdict = dict(
            con.execute(
                "SELECT r.verdict, count(*) FROM _dx_fail f JOIN _dx_result r USING (decision_key) GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
        )
        results = _results(con, bases)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    seconds = time.perf_counter() - started
    diagnosed = int(copies[0]) if copies else failures
    return {
        "failures": failures,
        "decision_keys": len(reps),
        "diagnosed": diagnosed,  # failures + the key owner's copies of them
        "by_verdict": by_verdict,
        "results": results,  # by verdict, decision and what the answers rest on
        "seconds": round(seconds, 3),
        "diagnoses_per_second": round(failures / seconds, 1) if seconds > 0 else None,
        "diagnosed_at": now,
        "redo": redo,
    }
