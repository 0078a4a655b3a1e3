"""The access matrix builds the engine's request directly (``diag.audit.request``); it must be the request
`kmsdiag check` asks (a synthetic CloudTrail record read by ``diag.policy.context``), field for field, for
every kind of caller the matrix evaluates, directly and through a service, for every matrix action."""

from __future__ import annotations

import datetime as dt

import pytest

from diag.audit.access import MATRIX_ACTIONS
from diag.audit.request import SESSION_NAME, base_request, cell_request, matrix_caller
from diag.check.request import SESSION_NAME as CHECK_SESSION_NAME
from diag.check.run import access_request, resolve_caller

KEY = "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
GOV_KEY = "arn:aws-us-gov:kms:us-gov-west-1:111111111111:key/mrk-1234abcd12ab34cd56ef1234567890ab"
CALLERS = [
    ("arn:aws:iam::222222222222:role/App", "222222222222", "role", "AROAEXAMPLEEXAMPLE01"),
    ("arn:aws:iam::222222222222:role/team/a/Pathed", "222222222222", "role", None),
    ("arn:aws-us-gov:iam::111111111111:role/GovRole", "111111111111", "role", "AROAEXAMPLEEXAMPLE02"),
    ("arn:aws:iam::111111111111:user/alice", "111111111111", "user", "AIDAEXAMPLEEXAMPLE03"),
    ("arn:aws:iam::333333333333:user/ops/bob", "333333333333", "user", None),
]
VIAS = [
    None,
    "s3.eu-west-1.amazonaws.com",
    "secretsmanager.us-gov-west-1.amazonaws.com",
    "bad name.eu-west-1.amazonaws.com",
]
WHEN = dt.datetime(2026, 11, 28, 12, 30, 5)


def test_session_name_is_checks() -> None:
    assert SESSION_NAME == CHECK_SESSION_NAME


@pytest.mark.parametrize("who", CALLERS, ids=lambda c: c[0].rsplit(":", 1)[-1])
@pytest.mark.parametrize("key_arn", [KEY, GOV_KEY], ids=["aws", "gov"])
def test_request_is_checks(who: tuple[str, str, str, str | None], key_arn: str) -> None:
    arn, account, kind, unique_id = who
    mine = matrix_caller(arn, account, kind, unique_id)
    theirs = resolve_caller(None, arn, known=(arn, unique_id))  # type: ignore[arg-type]  # known: no database read
    assert (mine.arn, mine.principal_arn, mine.account, mine.kind, mine.name, mine.unique_id) == (
        theirs.arn,
        theirs.principal_arn,
        theirs.account,
        theirs.kind,
        theirs.name,
        theirs.unique_id,
    )
    for via in VIAS:
        base = base_request(mine, key_arn, via, WHEN)
        for action in (*MATRIX_ACTIONS, "kms:ListGrants", "kms:RevokeGrant", "s3:GetObject"):
            expected = access_request(theirs, key_arn, action, via_service=via, at=WHEN)[1]
            got = cell_request(base, action)
            assert got == expected, (arn, via, action)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        matrix_caller("arn:aws:iam::111111111111:group/G", "111111111111", "group", None)
