"""``kmsdiag athena-ddl``: the CREATE EXTERNAL TABLE of a trail bucket for Athena, with partition
projection by account, region and date (so a query reads only the partitions of its window)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from diag.aws_regions import cloudtrail_regions
from diag.errors import BadInputError, UsageError
from diag.ingest.sources.athena_sql import AthenaTable, check_values
from diag.ingest.sources.s3_layout import ACCOUNT_RE, ORG_RE, REGION_RE, parse_s3_uri

# The CloudTrail record as Athena reads it (org.apache.hive.hcatalog.data.JsonSerDe), one column a line.
TABLE_COLUMNS = """  eventversion STRING,
  useridentity STRUCT<
    type: STRING, principalid: STRING, arn: STRING, accountid: STRING, invokedby: STRING,
    accesskeyid: STRING, username: STRING,
    onbehalfof: STRUCT<userid: STRING, identitystorearn: STRING>,
    sessioncontext: STRUCT<
      attributes: STRUCT<mfaauthenticated: STRING, creationdate: STRING>,
      sessionissuer: STRUCT<type: STRING, principalid: STRING, arn: STRING, accountid: STRING, username: STRING>,
      ec2roledelivery: STRING,
      webidfederationdata: STRUCT<federatedprovider: STRING, attributes: MAP<STRING, STRING>>,
      sourceidentity: STRING>>,
  eventtime STRING,
  eventsource STRING,
  eventname STRING,
  awsregion STRING,
  sourceipaddress STRING,
  useragent STRING,
  errorcode STRING,
  errormessage STRING,
  requestparameters STRING,
  responseelements STRING,
  additionaleventdata STRING,
  requestid STRING,
  eventid STRING,
  readonly STRING,
  resources ARRAY<STRUCT<arn: STRING, accountid: STRING, type: STRING>>,
  eventtype STRING,
  apiversion STRING,
  recipientaccountid STRING,
  serviceeventdetails STRING,
  sharedeventid STRING,
  vpcendpointid STRING,
  vpcendpointaccountid STRING,
  eventcategory STRING,
  tlsdetails STRUCT<tlsversion: STRING, ciphersuite: STRING, clientprovidedhostheader: STRING>
"""

_DDL_UNSAFE_RE = re.compile(r"['\\\x00-\x1f\x7f]|\$\{")


def _check_ddl_location(location: str) -> None:
    """Refuse a location the DDL cannot hold as written (exit 3).

    The location goes into single-quoted Hive string literals (``LOCATION '…'`` and the
    ``storage.location.template`` property). Hive's lexer reads ``\\`` as an escape and two adjacent
    literals as one (``'a''b'`` is ``ab``, not ``a'b``), and Athena expands ``${name}`` in the template;
    rather than guess how Athena treats an escaped quote in an S3 path, such a location is refused.
    """
    bad = _DDL_UNSAFE_RE.search(location)
    if bad:
        raise BadInputError(
            f"cannot write an Athena table for {location!r}: {bad.group(0)!r} cannot appear in a DDL location"
            " (single quotes, backslashes, control characters and '${' are refused)",
            hint="create the table by hand in the Athena console, or move the trail to a prefix without them",
        )


def athena_ddl(
    location: str,
    *,
    table: AthenaTable,
    org_id: str | None = None,
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
    start: dt.date = dt.date(2024, 1, 1),
) -> str:
    """CREATE EXTERNAL TABLE for a trail bucket, partitions projected by account, region and date.

    ``location`` is ``s3://bucket[/prefix]`` (the folder holding ``AWSLogs/``). Accounts are an enum
    when given (queries may then omit them), else *injected* (every query must name its accounts).
    """
    target = parse_s3_uri(location)
    _check_ddl_location(location)
    if org_id is not None and not ORG_RE.match(org_id):
        raise UsageError(f"{org_id!r} is not an organization ID (o-...)")
    check_values(accounts, ACCOUNT_RE, "12-digit account ID")
    known = cloudtrail_regions()
    check_values([r for r in regions if r not in known], REGION_RE, "region name")
    prefix = target.prefix if target.prefix.endswith("AWSLogs/") else target.prefix + "AWSLogs/"
    root = f"s3://{target.bucket}/{prefix}" + (f"{org_id}/" if org_id else "")
    acc, reg, day = table.account_column, table.region_column, table.date_column
    props = _projection(table, root, accounts, sorted(set(regions or known)), start)
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{table.database}`.`{table.table}` (\n"
        + TABLE_COLUMNS
        + f""")
COMMENT 'CloudTrail logs for kmsdiag (partition projection: {acc}, {reg}, {day})'
PARTITIONED BY (`{acc}` STRING, `{reg}` STRING, `{day}` STRING)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{root}'
TBLPROPERTIES (
  {("," + chr(10) + "  ").join(props)}
);
"""
    )


def _projection(
    table: AthenaTable, root: str, accounts: Sequence[str], regions: Sequence[str], start: dt.date
) -> list[str]:
    """The TBLPROPERTIES of partition projection: accounts (an enum, or injected), regions, dates."""
    acc, reg, day = table.account_column, table.region_column, table.date_column
    if accounts:
        account_props = [
            f"'projection.{acc}.type'='enum'",
            f"'projection.{acc}.values'='{','.join(sorted(set(accounts)))}'",
        ]
    else:
        account_props = [f"'projection.{acc}.type'='injected'"]
    region_values = ",".join(regions)
    return [
        "'projection.enabled'='true'",
        *account_props,
        f"'projection.{reg}.type'='enum'",
        f"'projection.{reg}.values'='{region_values}'",
        f"'projection.{day}.type'='date'",
        f"'projection.{day}.format'='yyyy/MM/dd'",
        f"'projection.{day}.range'='{start:%Y/%m/%d},NOW'",
        f"'projection.{day}.interval'='1'",
        f"'projection.{day}.interval.unit'='DAYS'",
        f"'storage.location.template'='{root}${{{acc}}}/CloudTrail/${{{reg}}}/${{{day}}}'",
    ]
