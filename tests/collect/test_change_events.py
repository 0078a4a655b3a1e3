"""diag.change_events is the one list of policy-changing events; its users and the SQL view agree with it."""

from __future__ import annotations

from diag import change_events as ce
from diag.collect import history
from diag.diagnosis import batch
from diag.ingest.sources import athena_sql as athena
from diag.resources import queries_dir


def test_replayed_events_are_decision_changes_and_history_replays_them() -> None:
    replayed = {n for names in ce.REPLAYED.values() for n in names}
    assert replayed <= set(ce.DECISION_CHANGES)
    assert set(ce.UNMODELED_CHANGES) <= set(ce.DECISION_CHANGES)
    assert set(history.ALL_EVENT_NAMES) == replayed
    assert batch.CHANGE_EVENTS == ce.DECISION_CHANGES
    assert set(athena.POLICY_CHANGE_EVENTS) == set(ce.KMS_CHANGES + ce.S3_CHANGES + ce.S3_ENCRYPTION_CHANGES)


def test_policy_timeline_view_lists_every_kms_and_iam_change() -> None:
    sql = (queries_dir() / "policy_timeline.sql").read_text()
    missing = [n for n in (*ce.KMS_CHANGES, *ce.IAM_CHANGES) if f"'{n}'" not in sql]
    assert missing == []
