"""`kmsdiag athena-ddl`: the CREATE TABLE (with partition projection) for a CloudTrail trail bucket."""

# No `from __future__ import annotations` here: typer must see the Annotated[...] options as objects.
from typing import Annotated

import typer

from diag.cli.common import command, state


def register(app: typer.Typer) -> None:
    @command(app, "athena-ddl")
    def athena_ddl_cmd(
        location: Annotated[
            str, typer.Argument(help="The trail bucket: s3://bucket/prefix (the folder holding AWSLogs/).")
        ],
        table: Annotated[str, typer.Option("--table", help="DATABASE.TABLE to create.")] = "default.cloudtrail_kmsdiag",
        org_id: Annotated[
            str | None, typer.Option("--org-id", help="Organization trail: the o-… folder under AWSLogs/.")
        ] = None,
        account: Annotated[
            list[str] | None,
            typer.Option("--account", help="Accounts to project (repeat); without it queries must name accounts."),
        ] = None,
        region: Annotated[
            list[str] | None,
            typer.Option(
                "--region", help="Regions to project (repeat; default: every region botocore lists for CloudTrail)."
            ),
        ] = None,
        start: Annotated[str, typer.Option("--start", help="First day of logs (YYYY-MM-DD).")] = "2024-01-01",
    ) -> None:
        """Print the Athena CREATE TABLE for a CloudTrail bucket, partitioned by account, region and day.

        Partition projection means no partitions to load: Athena computes them from the query's
        predicates, and `kmsdiag ingest --athena DATABASE.TABLE` always names the days (and accounts and
        regions when given), so a query reads only those S3 folders. Run the statement once in the Athena
        console or with `aws athena start-query-execution`.

        Example:  kmsdiag athena-ddl s3://org-trail-logs --org-id o-abcdef1234 --table security.cloudtrail_kmsdiag
        """
        import datetime as dt

        from diag.errors import UsageError
        from diag.ingest.sources.athena_ddl import athena_ddl
        from diag.ingest.sources.athena_sql import AthenaTable
        from diag.render.console import print_json

        try:
            first = dt.date.fromisoformat(start)
        except ValueError as exc:
            raise UsageError(f"--start {start!r} is not a date (YYYY-MM-DD)") from exc
        ddl = athena_ddl(
            location,
            table=AthenaTable.parse(table),
            org_id=org_id,
            accounts=account or (),
            regions=region or (),
            start=first,
        )
        if state().json:
            print_json({"table": table, "ddl": ddl})
        else:
            import sys

            sys.stdout.write(ddl)
