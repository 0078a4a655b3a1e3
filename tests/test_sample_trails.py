"""Structural validation of sample_trails/ (DESIGN.md section 8): layout, parseable files, CloudTrail and
AWS-CLI shapes, expected.json consistent with the trails, every diagnosis code covered, and the generator
reproducing the committed files byte for byte.

It does not run the diagnosis: the scenario walk-through through ingest/collect/explain is the diagnosis
issue's acceptance test.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent / "sample_trails"
SCENARIOS = sorted(p for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))

# DESIGN.md section 6 (stable codes); test_codes_match_design cross-checks this list with the document.
CODES = {
    "KEY_POLICY_NO_PRINCIPAL",
    "KEY_POLICY_NO_ACTION",
    "KEY_POLICY_PRINCIPAL_TYPO",
    "KEY_POLICY_ROOT_DELEGATION_MISSING",
    "KEY_POLICY_PRINCIPAL_ORPHANED",
    "IAM_POLICY_MISSING",
    "IAM_RESOURCE_MISMATCH",
    "WRONG_REGION",
    "WRONG_ASSUMED_ROLE",
    "KEY_POLICY_OVERWRITTEN",
    "CONDITION_VIA_SERVICE",
    "CONDITION_ENCRYPTION_CONTEXT",
    "CONDITION_OTHER",
    "EXPLICIT_DENY",
    "SCP_NO_ALLOW",
    "RCP_NO_ALLOW",
    "PERMISSION_BOUNDARY",
    "SESSION_POLICY",
    "GRANT_MISSING",
    "CREATE_GRANT_MISSING",
    "AWS_MANAGED_KEY_CROSS_ACCOUNT",
    "KEY_DISABLED",
    "KEY_PENDING_DELETION",
    "KEY_NOT_FOUND",
    "S3_BUCKET_POLICY_MISSING",
    "RESOLVED_SINCE",
    "UNKNOWN",
}
# Codes added since (DESIGN.md section 6 grows: non-authorization failures, other services); the README's
# code table documents them (tests/test_docs.py).
ADDED_CODES = {
    "KEY_STATE_OTHER",
    "CUSTOM_KEY_STORE_UNAVAILABLE",
    "KEY_USAGE_MISMATCH",
    "WRONG_KEY_FOR_CIPHERTEXT",
    "INVALID_CIPHERTEXT",
    "NOT_ACCESS_FAILURE",
    "OTHER_SERVICE",
}
ALL_CODES = CODES | ADDED_CODES

LOG_RE = re.compile(
    r"^AWSLogs/(?P<acct>\d{12})/CloudTrail/(?P<region>[a-z]{2}(-[a-z]+)+-\d)/(?P<y>\d{4})/(?P<m>\d\d)/(?P<d>\d\d)/"
    r"(?P=acct)_CloudTrail_(?P=region)_(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
DIGEST_RE = re.compile(
    r"^AWSLogs/(?P<acct>\d{12})/CloudTrail-Digest/(?P<region>[a-z]{2}(-[a-z]+)+-\d)/\d{4}/\d\d/\d\d/"
    r"(?P=acct)_CloudTrail-Digest_(?P=region)_[A-Za-z0-9-]+_[a-z]{2}(-[a-z]+)+-\d_\d{8}T\d{6}Z\.json\.gz$"
)
RECORD_KEYS = {
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "eventID",
    "eventType",
    "recipientAccountId",
}
KEY_ARN_RE = re.compile(r"^arn:aws:kms:[a-z]{2}(-[a-z]+)+-\d:\d{12}:key/[0-9a-f-]{36}$")
ISO_Z = "%Y-%m-%dT%H:%M:%SZ"


def _load_records(scn: Path) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for f in sorted((scn / "trails").rglob("*.json.gz")):
        rel = f.relative_to(scn / "trails").as_posix()
        if "/CloudTrail-Digest/" in rel:
            continue
        with gzip.open(f, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
        out.extend((rel, r) for r in doc["Records"])
    return out


@pytest.fixture(scope="module")
def records() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    return {s.name: _load_records(s) for s in SCENARIOS}


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 27
    names = [s.name for s in SCENARIOS]
    assert any("walkthrough" in n for n in names)
    assert all(re.fullmatch(r"\d\d-[a-z0-9-]+", n) for n in names), names


@pytest.mark.parametrize("scn", SCENARIOS, ids=lambda p: p.name)
def test_layout(scn: Path) -> None:
    for name in ("expected.json", "README.md", "bundle/manifest.json"):
        assert (scn / name).is_file(), f"{scn.name}: {name} missing"
    assert len((scn / "README.md").read_text(encoding="utf-8").split()) > 40, "README tells the story and the fix"
    trail_files = [p for p in (scn / "trails").rglob("*") if p.is_file()]
    assert trail_files
    logs = digests = 0
    for f in trail_files:
        rel = f.relative_to(scn / "trails").as_posix()
        mlog, mdig = LOG_RE.match(rel), DIGEST_RE.match(rel)
        assert mlog or mdig, f"not the CloudTrail S3 layout: {rel}"
        if mlog:
            logs += 1
            assert mlog["stamp"].startswith(mlog["y"] + mlog["m"] + mlog["d"]), rel
        else:
            digests += 1
    assert logs and digests


@pytest.mark.parametrize("scn", SCENARIOS, ids=lambda p: p.name)
def test_trail_files_are_cloudtrail(scn: Path) -> None:
    for f in sorted((scn / "trails").rglob("*.json.gz")):
        rel = f.relative_to(scn / "trails").as_posix()
        raw = f.read_bytes()
        assert raw[4:8] == b"\x00\x00\x00\x00", "gzip mtime is fixed (reproducible files)"
        doc = json.loads(gzip.decompress(raw))
        if "/CloudTrail-Digest/" in rel:
            assert "Records" not in doc
            for lf in doc["logFiles"]:
                target = scn / "trails" / lf["s3Object"]
                assert target.is_file(), lf["s3Object"]
                assert hashlib.sha256(target.read_bytes()).hexdigest() == lf["hashValue"]
            continue
        m = LOG_RE.match(rel)
        assert m
        assert isinstance(doc, dict) and list(doc) == ["Records"] and doc["Records"]
        for r in doc["Records"]:
            missing = RECORD_KEYS - set(r)
            assert not missing, f"{rel}: {r.get('eventID')} lacks {missing}"
            assert r["recipientAccountId"] == m["acct"], "a record sits in its recipient account's folder"
            assert r["awsRegion"] == m["region"]
            assert r["eventVersion"] in {"1.08", "1.09", "1.10", "1.11"}
            t = dt.datetime.strptime(r["eventTime"], ISO_Z)
            stamp = dt.datetime.strptime(m["stamp"], "%Y%m%dT%H%MZ")
            assert dt.timedelta(0) < stamp - t <= dt.timedelta(minutes=5), "delivered in the 5 minutes after the event"
            ui = r["userIdentity"]
            if ui.get("type") == "AssumedRole":
                issuer = ui["sessionContext"]["sessionIssuer"]
                assert ui["arn"].startswith(f"arn:aws:sts::{ui['accountId']}:assumed-role/{issuer['userName']}/")
                assert ui["principalId"].startswith(issuer["principalId"] + ":")
            for res in r.get("resources") or []:
                if res["type"] == "AWS::KMS::Key":
                    assert KEY_ARN_RE.match(res["ARN"]), res
                    assert res["accountId"] == res["ARN"].split(":")[4]


def test_event_ids_unique_across_all_scenarios(records: dict[str, list[tuple[str, dict[str, Any]]]]) -> None:
    """The demo ingests every scenario into one database: eventIDs never collide (no duplicates shipped)."""
    counts = Counter(r["eventID"] for recs in records.values() for _, r in recs)
    dup = [e for e, n in counts.items() if n > 1]
    assert not dup


def test_accounts_do_not_overlap_between_scenarios() -> None:
    """One database holds every bundle: a scenario's accounts belong to it alone."""
    seen: dict[str, str] = {}
    for scn in SCENARIOS:
        for acct in json.loads((scn / "bundle" / "manifest.json").read_text())["accounts"]:
            assert acct not in seen, f"account {acct} in {seen.get(acct)} and {scn.name}"
            seen[acct] = scn.name


@pytest.mark.parametrize("scn", SCENARIOS, ids=lambda p: p.name)
def test_expected_events(scn: Path, records: dict[str, list[tuple[str, dict[str, Any]]]]) -> None:
    expected = json.loads((scn / "expected.json").read_text())
    assert expected, "every scenario labels at least one failed event"
    by_id = Counter(r["eventID"] for _, r in records[scn.name])
    failed = {r["eventID"]: r for _, r in records[scn.name] if r.get("errorCode")}
    for eid, exp in expected.items():
        assert by_id[eid] == 1, f"{eid} must occur exactly once"
        assert eid in failed, f"{eid} is not a failed event"
        assert set(exp) == {"verdict", "codes"}
        assert exp["verdict"] in exp["codes"]
        assert set(exp["codes"]) <= ALL_CODES, set(exp["codes"]) - ALL_CODES
        assert len(exp["codes"]) == len(set(exp["codes"]))


def test_every_code_has_a_scenario() -> None:
    verdicts = set()
    for scn in SCENARIOS:
        for exp in json.loads((scn / "expected.json").read_text()).values():
            verdicts.add(exp["verdict"])
    assert verdicts == ALL_CODES, f"codes without a scenario whose verdict they are: {ALL_CODES - verdicts}"


def test_codes_match_design(shared_dir: Path) -> None:
    text = (shared_dir / "DESIGN.md").read_text(encoding="utf-8")
    section = text.split("## 6.")[1].split("## 7.")[0]
    documented = set(re.findall(r"`([A-Z0-9_]{5,})`", section))
    assert documented >= CODES, CODES - documented


@pytest.mark.parametrize("scn", SCENARIOS, ids=lambda p: p.name)
def test_cross_account_copies(scn: Path, records: dict[str, list[tuple[str, dict[str, Any]]]]) -> None:
    """A cross-account call: success (or key-state error) in both trails with one sharedEventID, the key
    owner's copy as AWSAccount; AccessDenied only in the caller's trail."""
    recs = [r for _, r in records[scn.name]]
    by_shared: dict[str, list[dict[str, Any]]] = {}
    for r in recs:
        if "sharedEventID" in r:
            by_shared.setdefault(r["sharedEventID"], []).append(r)
    for copies in by_shared.values():
        assert len(copies) == 2
        assert copies[0]["recipientAccountId"] != copies[1]["recipientAccountId"]
        assert copies[0]["requestID"] == copies[1]["requestID"]
        assert {c["userIdentity"]["type"] for c in copies} >= {"AWSAccount"}
        owner = next(c for c in copies if c["userIdentity"]["type"] == "AWSAccount")
        assert "arn" not in owner["userIdentity"]
    request_ids = Counter(r["requestID"] for r in recs if "requestID" in r)
    for r in recs:
        if r["eventSource"] != "kms.amazonaws.com" or r.get("errorCode") != "AccessDenied":
            continue
        key_accounts = {res["accountId"] for res in r.get("resources") or []}
        if key_accounts and r["recipientAccountId"] not in key_accounts:
            assert "sharedEventID" not in r and request_ids[r["requestID"]] == 1


# ------------------------------------------------------------------------------------------- the bundle


def _policy_doc(text: str) -> dict[str, Any]:
    doc = json.loads(text)
    assert (
        isinstance(doc, dict) and doc.get("Version") == "2012-10-17" and isinstance(doc.get("Statement"), list | dict)
    )
    return doc


def _check_bundle_file(rel: str, doc: Any) -> None:
    name = rel.rsplit("/", 1)[-1]
    if rel == "manifest.json":
        dt.datetime.strptime(doc["collected_at"], ISO_Z)
        return
    acct = rel.split("/", 1)[0]
    assert re.fullmatch(r"\d{12}", acct), rel
    if name == "errors.json":
        assert isinstance(doc, list)
        for e in doc:
            assert {"call", "resource", "error"} <= set(e)
    elif name == "get-account-authorization-details.json":
        assert set(doc) == {"UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"}
        for role in doc["RoleDetailList"]:
            assert role["Arn"] == f"arn:aws:iam::{acct}:role{role['Path']}{role['RoleName']}"
            assert role["RoleId"].startswith("AROA")
            assert isinstance(role["AssumeRolePolicyDocument"], dict), "the CLI prints documents as objects"
            for p in role["RolePolicyList"]:
                assert isinstance(p["PolicyDocument"], dict)
            if "PermissionsBoundary" in role:
                assert role["PermissionsBoundary"]["PermissionsBoundaryType"] == "Policy"
        for user in doc["UserDetailList"]:
            assert user["UserId"].startswith("AIDA")
        arns = {p["Arn"] for p in doc["Policies"]}
        for p in doc["Policies"]:
            versions = p["PolicyVersionList"]
            assert any(v["IsDefaultVersion"] and v["VersionId"] == p["DefaultVersionId"] for v in versions)
            assert all(isinstance(v["Document"], dict) for v in versions)
        for entity in doc["RoleDetailList"] + doc["UserDetailList"]:
            for a in entity["AttachedManagedPolicies"]:
                assert a["PolicyArn"] in arns, "attached policies are listed in Policies"
    elif name == "list-aliases.json":
        for a in doc["Aliases"]:
            assert a["AliasName"].startswith("alias/") and a["AliasArn"].endswith(":" + a["AliasName"])
    elif name == "describe-key.json":
        md = doc["KeyMetadata"]
        key_id = rel.split("/")[-2]
        assert md["KeyId"] == key_id and KEY_ARN_RE.match(md["Arn"]) and md["Arn"].endswith(key_id)
        assert md["AWSAccountId"] == acct and md["KeyManager"] in {"AWS", "CUSTOMER"}
        assert md["KeyState"] in {"Enabled", "Disabled", "PendingDeletion", "PendingImport", "Unavailable"}
        assert md["Enabled"] == (md["KeyState"] == "Enabled")
    elif name == "get-key-policy.json":
        assert set(doc) == {"Policy", "PolicyName"} and doc["PolicyName"] == "default"
        assert isinstance(doc["Policy"], str), "the key policy is a JSON string"
        _policy_doc(doc["Policy"])
    elif name == "list-grants.json":
        for g in doc["Grants"]:
            assert KEY_ARN_RE.match(g["KeyId"]) and g["Operations"] and g["GranteePrincipal"]
    elif name == "list-resource-tags.json":
        assert set(doc) == {"Tags", "Truncated"} and doc["Truncated"] is False
        assert all(set(t) == {"TagKey", "TagValue"} for t in doc["Tags"])
    elif name == "get-bucket-policy.json":
        assert set(doc) == {"Policy"} and isinstance(doc["Policy"], str)
        _policy_doc(doc["Policy"])
    elif name == "get-bucket-encryption.json":
        assert doc["ServerSideEncryptionConfiguration"]["Rules"]
    elif name == "get-bucket-location.json":
        assert set(doc) == {"LocationConstraint"}
    elif "/describe-policy/" in rel:
        summary = doc["Policy"]["PolicySummary"]
        assert summary["Id"] == name[:-5] and summary["Type"] in {"SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"}
        _policy_doc(doc["Policy"]["Content"])
    elif "/list-targets-for-policy/" in rel:
        for tg in doc["Targets"]:
            assert tg["Type"] in {"ROOT", "ORGANIZATIONAL_UNIT", "ACCOUNT"}
    elif "/list-parents/" in rel:
        assert len(doc["Parents"]) == 1 and doc["Parents"][0]["Type"] in {"ROOT", "ORGANIZATIONAL_UNIT"}
    else:
        raise AssertionError(f"unexpected bundle file {rel}")


@pytest.mark.parametrize("scn", SCENARIOS, ids=lambda p: p.name)
def test_bundle_files(scn: Path) -> None:
    bundle = scn / "bundle"
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    manifest = json.loads((bundle / "manifest.json").read_text())
    for acct in manifest["accounts"]:
        assert (bundle / acct / "errors.json").is_file()
    for f in files:
        rel = f.relative_to(bundle).as_posix()
        text = f.read_text(encoding="utf-8")
        assert text.endswith("\n") and text.startswith(("{\n    ", "[\n    ", "[]")), f"AWS CLI formatting: {rel}"
        _check_bundle_file(rel, json.loads(text))


def test_generator_is_deterministic(tmp_path: Path) -> None:
    """The committed files are exactly what the generator writes (so they can be regenerated and reviewed)."""
    build = ROOT / "_build"
    code = (
        "import sys, pathlib; sys.path.insert(0, sys.argv[1]); sys.dont_write_bytecode = True; "
        "import build_scenarios; build_scenarios.build(pathlib.Path(sys.argv[2]))"
    )
    subprocess.run([sys.executable, "-B", "-c", code, str(build), str(tmp_path)], check=True, timeout=120)
    assert sorted(p.name for p in tmp_path.iterdir()) == [s.name for s in SCENARIOS]
    for scn in SCENARIOS:
        mine = sorted(p.relative_to(scn).as_posix() for p in scn.rglob("*") if p.is_file())
        theirs = sorted(
            p.relative_to(tmp_path / scn.name).as_posix() for p in (tmp_path / scn.name).rglob("*") if p.is_file()
        )
        assert mine == theirs, scn.name
        for rel in mine:
            assert (scn / rel).read_bytes() == (tmp_path / scn.name / rel).read_bytes(), f"{scn.name}/{rel}"


def test_sample_trails_stay_small() -> None:
    total = sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert total < 2_000_000, total


@pytest.mark.parametrize("scn", SCENARIOS, ids=lambda p: p.name)
def test_role_sessions_link_to_their_assume_role(
    scn: Path, records: dict[str, list[tuple[str, dict[str, Any]]]]
) -> None:
    """Every labelled call made with role credentials (other than SSO console sessions) can be traced to the
    sts:AssumeRole that issued them: responseElements.credentials.accessKeyId = userIdentity.accessKeyId,
    logged in the caller's account (where a session policy, if any, is in requestParameters.policy)."""
    expected = json.loads((scn / "expected.json").read_text())
    issued = {
        (r["recipientAccountId"], r["responseElements"]["credentials"]["accessKeyId"]): r
        for _, r in records[scn.name]
        if r["eventName"] == "AssumeRole" and not r.get("errorCode")
    }
    for _, r in records[scn.name]:
        ui = r["userIdentity"]
        if r["eventID"] not in expected or ui.get("type") != "AssumedRole":
            continue
        if ui["sessionContext"]["sessionIssuer"]["userName"].startswith("AWSReservedSSO_"):
            continue
        origin = issued.get((ui["accountId"], ui["accessKeyId"]))
        assert origin is not None, f"no AssumeRole issued {ui['accessKeyId']}"
        assert origin["responseElements"]["assumedRoleUser"]["arn"] == ui["arn"]
        assert origin["eventTime"] <= r["eventTime"]
        if "policy" in origin["requestParameters"]:
            _policy_doc(origin["requestParameters"]["policy"])
