"""Per-input size limit (KMSDIAG_MAX_INPUT_MB) and per-record limit: a gzip bomb is refused after unpacking
only up to the limit, files up to the limit are accepted, and a 10 MB record is stored (it was refused as
"larger than 16 MB": the limit was applied to the record plus its repeated columns)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from diag.ingest import ingest_paths
from diag.ingest.parse import MAX_INPUT_ENV, Refused, decompress, max_input_bytes
from diag.store import open_db


def _record(eid: str, **extra: object) -> dict[str, object]:
    return {
        "eventVersion": "1.08",
        "eventID": eid,
        "eventTime": "2026-11-20T10:00:00Z",
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "eu-west-1",
        "userIdentity": {"type": "AssumedRole", "accountId": "111111111111"},
        "recipientAccountId": "111111111111",
        **extra,
    }


def _log_file(n: int, pad: int = 0) -> bytes:
    return json.dumps({"Records": [_record(f"e-{i}", requestParameters={"p": "x" * pad}) for i in range(n)]}).encode()


def test_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MAX_INPUT_ENV, raising=False)
    assert max_input_bytes() == 128 << 20
    monkeypatch.setenv(MAX_INPUT_ENV, "3")
    assert max_input_bytes() == 3 << 20


def test_gzip_bomb_is_refused_after_unpacking_only_the_limit() -> None:
    bomb = gzip.compress(b" " * (64 << 20), compresslevel=9)  # 64 MB of blanks in ~64 KB
    assert len(bomb) < 1 << 20
    with pytest.raises(Refused, match=r"uncompresses to more than 4 MB.*KMSDIAG_MAX_INPUT_MB"):
        decompress(bomb, 4 << 20)
    assert len(decompress(gzip.compress(b"x" * (4 << 20)), 4 << 20)) == 4 << 20  # exactly the limit: accepted


def test_files_over_the_limit_are_refused_and_files_under_it_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MAX_INPUT_ENV, "2")
    under = _log_file(40, pad=40_000)  # ~1.6 MB
    over = _log_file(60, pad=40_000)  # ~2.4 MB
    assert len(under) < 2 << 20 < len(over)
    (tmp_path / "under.json").write_bytes(under)
    (tmp_path / "over.json").write_bytes(over.replace(b'"e-', b'"o-'))
    (tmp_path / "over.json.gz").write_bytes(gzip.compress(over.replace(b'"e-', b'"g-')))
    con = open_db(tmp_path / "db.duckdb")
    try:
        s = ingest_paths(con, [tmp_path], workers=1)
        stored = con.execute("SELECT count(*) FROM events").fetchone()
    finally:
        con.close()
    reasons = {Path(n).name: r for n, r in s.refused}
    assert set(reasons) == {"over.json", "over.json.gz"}
    assert reasons["over.json"].startswith("is 2.") and "more than the 2 MB" in reasons["over.json"]
    assert reasons["over.json.gz"].startswith("uncompresses to more than 2 MB")
    assert stored == (40,)


def test_a_10_mb_record_is_stored(tmp_path: Path) -> None:
    big = _record("e-big", userAgent="A" * (10 << 20))  # the user agent is also a column: row ~20 MB
    (tmp_path / "big.json").write_text(json.dumps({"Records": [big]}))
    con = open_db(tmp_path / "db.duckdb")
    try:
        s = ingest_paths(con, [tmp_path], workers=1)
        row = con.execute("SELECT length(user_agent) FROM events").fetchone()
    finally:
        con.close()
    assert s.refused == [] and row == (10 << 20,)
