"""`kmsdiag athena-ddl` with hostile locations, and its region projection taken from botocore's data."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import botocore.session
import pytest

from diag.aws_regions import cloudtrail_regions
from diag.ingest.sources.athena_ddl import athena_ddl
from diag.ingest.sources.athena_sql import AthenaTable

Run = Callable[..., tuple[int, str, str]]
TABLE = AthenaTable.parse("security.ct")
# Hive's lexer: a single-quoted literal holds anything but an unescaped quote or backslash.
_LITERAL_RE = re.compile(r"'(?:[^'\\]|\\.)*'")


@pytest.mark.parametrize(
    "location",
    ["s3://bucket/x'y", "s3://bucket/pre'fix/", "s3://bucket/a\\b", "s3://bucket/a\nb", "s3://bucket/${p_account}/"],
)
def test_a_location_the_ddl_cannot_hold_is_refused_with_exit_3(run_cli: Run, location: str) -> None:
    code, out, err = run_cli("athena-ddl", location)
    assert code == 3, (code, out, err)
    assert out == "" and "cannot appear in a DDL location" in err and "Traceback" not in err


def test_every_literal_of_the_ddl_is_balanced_for_an_unusual_but_valid_location() -> None:
    ddl = athena_ddl('s3://bucket/odd prefix (1) $x & "q"/', table=TABLE)
    for line in ddl.splitlines():
        rest = _LITERAL_RE.sub("", line)
        assert "'" not in rest, line  # no quote left outside a complete literal
    assert "LOCATION 's3://bucket/odd prefix (1) $x & \"q\"/AWSLogs/'" in ddl


def _projected_regions(ddl: str) -> list[str]:
    m = re.search(r"'projection\.p_region\.values'='([^']*)'", ddl)
    assert m, ddl
    return m.group(1).split(",")


def test_default_region_projection_is_botocores_cloudtrail_regions_in_every_partition() -> None:
    session = botocore.session.Session()
    expected = sorted(
        {r for p in session.get_available_partitions() for r in session.get_available_regions("cloudtrail", p)}
    )
    regions = _projected_regions(athena_ddl("s3://bucket", table=TABLE))
    assert regions == expected == list(cloudtrail_regions())
    # regions a hand-written list lacked, and other partitions' regions
    assert {"ap-east-2", "ap-southeast-6", "ap-southeast-7", "cn-north-1", "us-gov-west-1"} <= set(regions)


def test_region_option_accepts_every_botocore_region(run_cli: Run) -> None:
    for region in ("ap-southeast-7", "eusc-de-east-1", "us-isob-east-1"):
        if region not in cloudtrail_regions():
            continue  # an older botocore: nothing to check for this one
        code, out, err = run_cli("athena-ddl", "s3://bucket", "--region", region, "--json")
        assert code == 0, err
        assert _projected_regions(json.loads(out)["ddl"]) == [region]
    code, _, err = run_cli("athena-ddl", "s3://bucket", "--region", "us-east-1'; DROP TABLE x; --")
    assert code == 2 and "region name" in err
