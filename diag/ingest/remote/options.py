"""What one run of the remote sources reads: :class:`RemoteOptions`, and :func:`options_from_values`
which parses the raw values of the command-line options (``--since 7d``, repeated ``--account`` …).

Below the command line on purpose: `kmsdiag ingest`, `kmsdiag watch` and `kmsdiag nightly` build their
options here; the typer declarations of the options live in ``diag.cli.remote_options``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from diag.ingest.remote.timeparse import parse_when, utcnow
from diag.ingest.summary import FetchProgressFn

DEFAULT_WORKERS = 8


@dataclass
class RemoteOptions:
    s3_uris: list[str] = field(default_factory=list)
    lookup: bool = False
    athena_table: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    key_arns: tuple[str, ...] = ()
    athena_workgroup: str | None = None
    athena_output: str | None = None
    workers: int = DEFAULT_WORKERS
    profile: str | None = None
    role_arn: str | None = None
    config: str | None = None  # kmsdiag.toml (default: $KMSDIAG_CONFIG, else ./kmsdiag.toml)
    progress: FetchProgressFn | None = None  # told about S3 downloads (the CLI draws a bar with it)

    @property
    def any(self) -> bool:
        return bool(self.s3_uris or self.lookup or self.athena_table)


def options_from_values(
    values: Mapping[str, Any], s3_uris: list[str], *, progress: FetchProgressFn | None = None
) -> RemoteOptions:
    """Parse the raw option values (keys as the command-line options: ``since``, ``account`` …; times,
    lists) into RemoteOptions. Missing keys take the options' defaults."""
    now = utcnow()
    return RemoteOptions(
        s3_uris=s3_uris,
        lookup=bool(values.get("lookup")),
        athena_table=values.get("athena"),
        since=parse_when(values["since"], now=now) if values.get("since") else None,
        until=parse_when(values["until"], now=now) if values.get("until") else None,
        accounts=tuple(values.get("account") or ()),
        regions=tuple(values.get("region") or ()),
        key_arns=tuple(values.get("key") or ()),
        athena_workgroup=values.get("athena_workgroup"),
        athena_output=values.get("athena_output"),
        workers=int(values.get("concurrency") or DEFAULT_WORKERS),
        profile=values.get("profile"),
        role_arn=values.get("role_arn"),
        config=values.get("config"),
        progress=progress,
    )
