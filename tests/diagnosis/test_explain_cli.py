"""`kmsdiag explain` end to end on a database: lookups, exit codes, escaping, --event-file, --error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diag.store import open_db

from .dbutil import decrypt_record, insert_record

EVIL = "[bold red]pwned[/bold red]\x1b[31mRED\x1b]0;title\x07"


@pytest.fixture
def db(db_path: Path) -> Path:
    con = open_db(db_path)
    insert_record(con, decrypt_record("ev-1", request_id="req-aaa", shared="shared-1"))
    insert_record(con, decrypt_record("ev-evil", session="s" + EVIL[:20], user_agent=EVIL))
    con.close()
    return db_path


@pytest.mark.parametrize("ident", ["ev-1", "req-aaa", "shared-1"])
def test_lookup_by_event_request_and_shared_id(run_cli, db: Path, ident: str) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("explain", ident, "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["event"]["event_id"] == "ev-1"
    assert set(doc) >= {"event", "verdict", "findings", "layers", "policies_as_of"}
    assert doc["event"]["key_arn"].endswith("1234abcd-12ab-34cd-56ef-1234567890ab")
    for f in doc["findings"]:
        assert set(f) >= {"code", "layer", "account", "summary", "evidence", "fix"}


def test_unknown_id_exits_1(run_cli, db: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("explain", "no-such-id", "--db", db)
    assert code == 1 and out == "" and "no event" in err


def test_usage_errors(run_cli, db: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("explain", "--db", db)[0] == 2
    assert run_cli("explain", "ev-1", "--error", "x", "--db", db)[0] == 2


def test_untrusted_strings_print_literally(run_cli, db: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("explain", "ev-evil", "--db", db)
    assert code == 0, err
    assert "[bold red]pwned[/bold red]" in out
    assert "\x1b" not in out and "\x07" not in out


def test_event_file(run_cli, db: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "rec.json"
    p.write_text(json.dumps({"Records": [decrypt_record("ev-file", error=False), decrypt_record("ev-file-2")]}))
    code, out, err = run_cli("explain", "--event-file", p, "--db", db, "--json")
    assert code == 0, err
    assert json.loads(out)["event"]["event_id"] == "ev-file-2"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run_cli("explain", "--event-file", bad, "--db", db)[0] == 3


def test_error_text_with_request_id_explains_the_stored_event(run_cli, db: Path) -> None:  # type: ignore[no-untyped-def]
    text = (
        "An error occurred (AccessDeniedException) when calling the Decrypt operation: User: "
        "arn:aws:sts::222222222222:assumed-role/DataProcessingRole/etl is not authorized to perform: kms:Decrypt on the"
        " resource associated with this ciphertext because the resource does not exist in this Region, no resource-based"
        " policies allow access, or a resource-based policy explicitly denies access (Service: AWSKMS; Status Code: 400;"
        " Error Code: AccessDeniedException; Request ID: req-aaa-0000-0000-0000-000000000000)"
    )
    code, out, err = run_cli("explain", "--error", text, "--db", db, "--json")
    assert code == 0, err
    doc = json.loads(out)
    # the request ID is not stored (req-aaa is too short to be one): the text is diagnosed on its own,
    # and the key comes from the caller's recent Decrypt events
    assert doc["event"]["origin"] == "error-text"
    assert doc["event"]["key_arn"].endswith("1234abcd-12ab-34cd-56ef-1234567890ab")


def test_unrecognized_error_text_is_bad_input(run_cli, db: Path) -> None:  # type: ignore[no-untyped-def]
    code, _out, err = run_cli("explain", "--error", "something broke", "--db", db)
    assert code == 3 and "not an AWS access-denied" in err
