"""Injection: hostile strings in every CloudTrail field that reaches output stay inert in the terminal
(explain, diagnose, report md, ingest summary), Markdown, HTML and JSON; bundle paths cannot escape."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from diag.ingest import Blob, ingest_blobs
from tests.reliability.crashutil import REPO
from tests.reliability.hostile import (
    COMBINED,
    HOSTILE,
    assert_html_inert,
    assert_markdown_inert,
    assert_terminal_inert,
)

pytestmark = pytest.mark.slow  # kill loops, moto servers or fuzzing budgets: `python3 -m pytest -m slow`

SCENARIO = REPO / "sample_trails" / "01-guide-walkthrough"
BASE_EVENT = "fe484d97-78dd-57a5-8c06-ae79d94c358d"
KEY = "arn:aws:kms:us-east-1:111111111111:key/085c09ad-f85a-5531-8e2f-151b581e7234"


def _base_record() -> dict[str, Any]:
    for path in (SCENARIO / "trails").rglob("*.json.gz"):
        for rec in json.loads(gzip.decompress(path.read_bytes())).get("Records", []):
            if rec["eventID"] == BASE_EVENT:
                return rec
    raise AssertionError("base event not found")


def _set_session(r: dict[str, Any], p: str) -> None:
    r["userIdentity"]["arn"] = f"arn:aws:sts::222222222222:assumed-role/DataProcessingRole/{p}"
    r["userIdentity"]["principalId"] = f"AROAUIQFUISYJN2OSNMTA:{p}"


def _set_role(r: dict[str, Any], p: str) -> None:
    r["userIdentity"]["arn"] = f"arn:aws:sts::222222222222:assumed-role/{p}/etl"
    issuer = r["userIdentity"]["sessionContext"]["sessionIssuer"]
    issuer["userName"] = p
    issuer["arn"] = f"arn:aws:iam::222222222222:role/{p}"


def _set_key(r: dict[str, Any], p: str) -> None:
    r["requestParameters"]["keyId"] = p
    r["resources"][0]["ARN"] = f"arn:aws:kms:us-east-1:111111111111:key/{p}"


def _set_bucket(r: dict[str, Any], p: str) -> None:
    r["requestParameters"]["encryptionContext"] = {"aws:s3:arn": f"arn:aws:s3:::{p}/obj"}
    r["requestParameters"]["bucketName"] = p
    r["userIdentity"]["invokedBy"] = "s3.amazonaws.com"


FIELDS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "userAgent": lambda r, p: r.__setitem__("userAgent", p),
    "session name": _set_session,
    "role name": _set_role,
    "errorMessage": lambda r, p: r.__setitem__("errorMessage", p),
    "errorCode": lambda r, p: r.__setitem__("errorCode", "AccessDenied" + p),
    "keyId": _set_key,
    "encryption context": lambda r, p: r["requestParameters"].__setitem__("encryptionContext", {p: p, "k": p}),
    "bucket": _set_bucket,
    "request parameters": lambda r, p: r["requestParameters"].__setitem__("x" + p, p),
    "sourceIPAddress": lambda r, p: r.__setitem__("sourceIPAddress", p),
}


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The scenario's bundle, plus one failed event per (field, payload) and per field with all payloads."""
    from diag.cli.app import main
    from diag.store import open_db

    db = tmp_path_factory.mktemp("inj") / "inj.duckdb"
    base = _base_record()
    records = []
    combined_ids: dict[str, str] = {}
    for fname, setter in FIELDS.items():
        for i, payload in enumerate((*HOSTILE, COMBINED)):
            rec = copy.deepcopy(base)
            setter(rec, payload)
            rec["eventID"] = f"inj-{len(records):04d}"
            rec["requestID"] = f"req-{len(records):04d}"
            if i == len(HOSTILE):
                combined_ids[fname] = rec["eventID"]
            records.append(rec)
    con = open_db(db)
    try:
        summary = ingest_blobs(con, [Blob(name="mem://hostile", data=json.dumps({"Records": records}).encode())])
        assert summary.events_stored == len(records), summary
    finally:
        con.close()
    assert main(["--db", str(db), "-q", "collect", "--from-dir", str(SCENARIO / "bundle")]) == 0
    assert main(["--db", str(db), "-q", "diagnose"]) == 0
    return db, combined_ids


def test_sql_quote_tricks_changed_nothing(hostile_db: tuple[Path, dict[str, str]]) -> None:
    import duckdb

    con = duckdb.connect(str(hostile_db[0]), read_only=True)
    try:
        n = con.execute("SELECT count(*) FROM events WHERE event_id LIKE 'inj-%'").fetchone()[0]
        assert n == len(FIELDS) * (len(HOSTILE) + 1)
        dx = con.execute("SELECT count(*) FROM diagnoses WHERE event_id LIKE 'inj-%'").fetchone()[0]
        assert dx >= n - (len(HOSTILE) + 1)  # a hostile errorCode is not a recognized denial: not a failure
        ua = con.execute("SELECT user_agent FROM events WHERE user_agent = ?", [COMBINED]).fetchall()
        assert ua == [(COMBINED,)]  # stored exactly as received: escaping happens at output, not in the data
    finally:
        con.close()


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_explain_terminal_and_json(hostile_db: tuple[Path, dict[str, str]], run_cli: Any, field: str) -> None:
    db, ids = hostile_db
    code, out, err = run_cli("--db", db, "explain", ids[field])
    assert code == 0, err
    assert_terminal_inert(out + err)
    code, out, err = run_cli("--db", db, "--json", "explain", ids[field])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["event"]["event_id"] == ids[field]
    assert "\x1b" not in out  # JSON escapes control characters (\u001b); values keep full fidelity


def test_diagnose_and_report_outputs(hostile_db: tuple[Path, dict[str, str]], run_cli: Any, tmp_path: Path) -> None:
    db, _ = hostile_db
    code, out, err = run_cli("--db", db, "diagnose", "--all")
    assert code == 0, err
    assert_terminal_inert(out + err)

    code, md, err = run_cli("--db", db, "report", "--no-record", "--since", "3650d", "--format", "md", "--out", "-")
    assert code == 0, err
    assert_terminal_inert(md + err)
    assert_markdown_inert(md)

    html_path = tmp_path / "r.html"
    code, out, err = run_cli("--db", db, "report", "--no-record", "--since", "3650d", "--out", html_path)
    assert code == 0, err
    assert_terminal_inert(out + err)
    html = html_path.read_text()
    assert_html_inert(html)
    assert "PWN_" in html  # the hostile values did reach the report (escaped)

    code, out, err = run_cli("--db", db, "report", "--no-record", "--since", "3650d", "--format", "json", "--out", "-")
    assert code == 0, err
    doc = json.loads(out)
    assert doc and "\x1b" not in out


@pytest.mark.parametrize("payload", HOSTILE)
def test_explain_error_text(hostile_db: tuple[Path, dict[str, str]], run_cli: Any, payload: str) -> None:
    text = (
        f"User: arn:aws:sts::222222222222:assumed-role/DataProcessingRole/{payload} is not authorized to perform: "
        f"kms:Decrypt on resource: {KEY} because {payload}"
    )
    code, out, err = run_cli("--db", hostile_db[0], "explain", "--error", text)
    assert code in (0, 3), err
    assert_terminal_inert(out + err)
    code, out, err = run_cli("--db", hostile_db[0], "explain", "--error", payload)
    assert code in (1, 3), err
    assert_terminal_inert(out + err)


def test_ingest_summary_with_hostile_file_names(tmp_path: Path, run_cli: Any) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i, payload in enumerate(HOSTILE):
        name = payload.replace("/", "_").replace("\x00", "") + f"-{i}.json"
        (folder / name).write_bytes(json.dumps({"Records": [{"eventID": payload}], "x": payload})[:-3].encode())
    good = copy.deepcopy(_base_record())
    good["userAgent"] = COMBINED
    (folder / f"{COMBINED.replace('/', '_')[:150]}.json").write_text(json.dumps({"Records": [good]}))
    code, out, err = run_cli("--db", tmp_path / "i.duckdb", "ingest", folder, "--workers", "1")
    assert code == 0, err
    assert "refused" in out
    assert_terminal_inert(out + err)


# ------------------------------------------------------------------------------------------ bundles


def test_bundle_writer_refuses_traversal(tmp_path: Path) -> None:
    import datetime as dt

    from diag.collect.bundle import Bundle, bucket_dir, key_dir, write_bundle

    bundle = Bundle(collected_at=dt.datetime(2026, 11, 28, 12))
    for rel in (
        key_dir("111111111111", "us-east-1", "../../../../etc") + "/describe-key.json",
        bucket_dir("111111111111", "../../etc/passwd") + "/get-bucket-policy.json",
        "111111111111/s3/../../../../tmp/x/get-bucket-policy.json",
        "../outside/manifest.json",
    ):
        with pytest.raises(ValueError):
            bundle.put(rel, {"x": 1})
    bundle.docs["111111111111/kms/us-east-1/../../../../../escape/describe-key.json"] = {"x": 1}  # bypass put()
    target = tmp_path / "deep" / "out"
    with pytest.raises(ValueError):
        write_bundle(bundle, target)
    assert not (tmp_path / "escape").exists() and not list(tmp_path.rglob("describe-key.json"))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    from diag.errors import KmsdiagError

    with pytest.raises(KmsdiagError):
        write_bundle(Bundle(collected_at=dt.datetime(2026, 11, 28, 12)), link)


def test_bundle_reader_refuses_symlinks_and_odd_names(tmp_path: Path, run_cli: Any) -> None:
    import shutil

    from diag.collect.bundle import read_bundle
    from diag.errors import BadInputError

    outside = tmp_path / "secret.json"
    outside.write_text('{"Policy": "{}"}')
    cases = {
        "file symlink": lambda b: (
            (b / "111111111111/iam/get-account-authorization-details.json").unlink()
            or (b / "111111111111/iam/get-account-authorization-details.json").symlink_to(outside)
        ),
        "dir symlink": lambda b: shutil.rmtree(b / "111111111111/iam") or (b / "111111111111/iam").symlink_to(tmp_path),
        "traversal name": lambda b: (b / "111111111111" / "..%2f..%2fetc%2fpasswd.json").write_text("{}"),
        "dotdot bucket": lambda b: (
            (b / "111111111111/s3/..").exists() or (b / "111111111111/s3/a..b").mkdir(parents=True)
        ),
        "hostile name": lambda b: (b / "111111111111" / (HOSTILE[4].replace("/", "_") + ".json")).write_text("{}"),
    }
    for label, make in cases.items():
        b = tmp_path / label.replace(" ", "-")
        shutil.copytree(SCENARIO / "bundle", b, symlinks=True)
        make(b)
        with pytest.raises(BadInputError):
            read_bundle(b)
        code, out, err = run_cli("--db", tmp_path / f"{b.name}.duckdb", "collect", "--from-dir", b)
        assert code == 3, (label, err)
        assert_terminal_inert(out + err)
