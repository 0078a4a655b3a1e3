"""The Trino query kmsdiag sends to Athena: partition predicates first, then the kmsdiag filter.

Every value that goes into the text is checked against a strict pattern (account IDs, regions, key
ARNs, identifiers) and quoted as a SQL literal; :mod:`.athena` runs the query, :mod:`.athena_ddl` writes
the table it reads.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from diag.change_events import KMS_S3_CHANGES
from diag.errors import UsageError
from diag.ingest.filter import IAM_READ_PREFIXES, ORGANIZATIONS_KEPT, STS_KEPT
from diag.ingest.sources.s3_layout import ACCOUNT_RE, REGION_RE  # the trail layout's folder names
from diag.times import cloudtrail_time

IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KEY_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")


# Write events whose effect diagnosis reconstructs (policy history, key state, grants).
POLICY_CHANGE_EVENTS = KMS_S3_CHANGES


@dataclass(frozen=True)
class AthenaTable:
    """A CloudTrail table in the Glue catalog and the names of its partition columns."""

    database: str
    table: str
    account_column: str = "p_account"
    region_column: str = "p_region"
    date_column: str = "p_date"
    catalog: str = "AwsDataCatalog"

    def __post_init__(self) -> None:
        for name in (self.database, self.table, self.account_column, self.region_column, self.date_column):
            if not IDENT_RE.match(name):
                raise UsageError(f"{name!r} is not a valid Athena identifier (letters, digits, underscore)")

    @property
    def qualified(self) -> str:
        return f'"{self.database}"."{self.table}"'

    @property
    def scope(self) -> str:
        return f"{self.database}.{self.table}"

    @classmethod
    def parse(cls, text: str) -> AthenaTable:
        """``database.table`` (or ``table`` in ``default``)."""
        db, _, tbl = text.rpartition(".")
        return cls(database=db or "default", table=tbl)


def lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def in_list(values: Sequence[str]) -> str:
    return ", ".join(lit(v) for v in values)


def check_values(values: Sequence[str], pattern: re.Pattern[str], what: str) -> None:
    for v in values:
        if not pattern.match(v):
            raise UsageError(f"{v!r} is not a valid {what}")


# (alias, expression) of every selected column; the aliases are what transform_row reads.
SELECT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("eventid", "eventid"),
    ("eventtime", "eventtime"),
    ("eventversion", "eventversion"),
    ("eventsource", "eventsource"),
    ("eventname", "eventname"),
    ("eventtype", "eventtype"),
    ("awsregion", "awsregion"),
    ("sourceipaddress", "sourceipaddress"),
    ("useragent", "useragent"),
    ("errorcode", "errorcode"),
    ("errormessage", "errormessage"),
    ("ui_type", "useridentity.type"),
    ("ui_principalid", "useridentity.principalid"),
    ("ui_arn", "useridentity.arn"),
    ("ui_accountid", "useridentity.accountid"),
    ("ui_invokedby", "useridentity.invokedby"),
    ("ui_accesskeyid", "useridentity.accesskeyid"),
    ("ui_username", "useridentity.username"),
    ("si_type", "useridentity.sessioncontext.sessionissuer.type"),
    ("si_principalid", "useridentity.sessioncontext.sessionissuer.principalid"),
    ("si_arn", "useridentity.sessioncontext.sessionissuer.arn"),
    ("si_accountid", "useridentity.sessioncontext.sessionissuer.accountid"),
    ("si_username", "useridentity.sessioncontext.sessionissuer.username"),
    ("sc_mfaauthenticated", "useridentity.sessioncontext.attributes.mfaauthenticated"),
    ("sc_creationdate", "useridentity.sessioncontext.attributes.creationdate"),
    ("requestparameters", "requestparameters"),
    ("responseelements", "responseelements"),
    ("additionaleventdata", "additionaleventdata"),
    ("requestid", "requestid"),
    ("readonly", "readonly"),
    (
        "resources_json",
        "json_format(CAST(transform(resources, r -> map(ARRAY['ARN', 'accountId', 'type'], "
        "ARRAY[r.arn, r.accountid, r.type])) AS JSON))",
    ),
    ("recipientaccountid", "recipientaccountid"),
    ("sharedeventid", "sharedeventid"),
    ("vpcendpointid", "vpcendpointid"),
    ("eventcategory", "eventcategory"),
)


def build_query(
    table: AthenaTable,
    *,
    since: dt.datetime,
    until: dt.datetime,
    accounts: Sequence[str] = (),
    regions: Sequence[str] = (),
    key_arns: Sequence[str] = (),
) -> str:
    """The Trino query: partition predicates first (what Athena reads), then the kmsdiag filter.

    ``since``/``until`` (UTC) bound both the date partitions and ``eventtime``; the date range also
    includes the day after ``until`` because a log file delivered after midnight lands in the next
    day's folder. ``key_arns`` narrows only the *successful* KMS calls; failures are always kept.
    """
    if until <= since:
        raise UsageError("the Athena window is empty: --until must be after --since")
    check_values(accounts, ACCOUNT_RE, "12-digit account ID")
    check_values(regions, REGION_RE, "region name")
    check_values(key_arns, KEY_ARN_RE, "KMS key ARN")
    day_from = f"{since:%Y/%m/%d}"
    day_to = f"{until + dt.timedelta(days=1):%Y/%m/%d}"
    where = [f'"{table.date_column}" BETWEEN {lit(day_from)} AND {lit(day_to)}']
    if accounts:
        where.append(f'"{table.account_column}" IN ({in_list(sorted(set(accounts)))})')
    if regions:
        where.append(f'"{table.region_column}" IN ({in_list(sorted(set(regions)))})')
    where.append(f"eventtime >= {lit(cloudtrail_time(since))}")
    where.append(f"eventtime < {lit(cloudtrail_time(until))}")
    kms_success = "eventsource = 'kms.amazonaws.com'"
    if key_arns:
        kms_success += (
            " AND (errorcode IS NOT NULL OR eventname IN ("
            + in_list(POLICY_CHANGE_EVENTS)
            + f") OR any_match(resources, r -> r.arn IN ({in_list(sorted(set(key_arns)))})))"
        )
    keep = [
        f"({kms_success})",
        "(eventsource = 's3.amazonaws.com' AND (errorcode IS NOT NULL"
        f" OR eventname IN ({in_list(POLICY_CHANGE_EVENTS)})"
        " OR additionaleventdata LIKE '%SSE_KMS%' OR requestparameters LIKE '%aws:kms%'))",
        # the same IAM / STS / Organizations events as diag.ingest.filter keeps
        "(eventsource = 'iam.amazonaws.com' AND NOT ("
        + " OR ".join(f"eventname LIKE {lit(p + '%')}" for p in IAM_READ_PREFIXES)
        + "))",
        f"(eventsource = 'sts.amazonaws.com' AND eventname IN ({in_list(sorted(STS_KEPT))}))",
        f"(eventsource = 'organizations.amazonaws.com' AND eventname IN ({in_list(sorted(ORGANIZATIONS_KEPT))}))",
    ]
    cols = ",\n  ".join(expr if alias == expr else f"{expr} AS {alias}" for alias, expr in SELECT_COLUMNS)
    return (
        f"-- kmsdiag: CloudTrail events kept by kmsdiag, {cloudtrail_time(since)} to {cloudtrail_time(until)}\n"
        f"SELECT\n  {cols}\nFROM {table.qualified}\nWHERE "
        + "\n  AND ".join(where)
        + "\n  AND (\n    "
        + "\n    OR ".join(keep)
        + "\n  )"
    )
