"""The `failures` view and `kmsdiag diagnose` count the same error codes as failures."""

from __future__ import annotations

import re

from diag.diagnosis.batch import KMS_FAILURES, S3_FAILURES
from diag.resources import queries_dir


def test_failures_view_lists_the_error_codes_diagnosis_uses() -> None:
    sql = (queries_dir() / "failures.sql").read_text()
    kms = re.search(r"kms\.amazonaws\.com' AND e\.error_code IN \(([^)]*)\)", sql, re.S)
    s3 = re.search(r"s3\.amazonaws\.com' AND e\.error_code IN \(([^)]*)\)", sql, re.S)
    assert kms and s3
    assert set(re.findall(r"'(\w+)'", kms.group(1))) == set(KMS_FAILURES)
    assert set(re.findall(r"'(\w+)'", s3.group(1))) == set(S3_FAILURES)
