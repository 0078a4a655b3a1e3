"""`kmsdiag collect`: a policy snapshot of the configured accounts (live), or from an evidence bundle."""

# no `from __future__ import annotations`: typer reads these annotations at runtime through @command

from pathlib import Path
from typing import Annotated, Any

import typer

from diag.cli.common import command, open_writer, state


def register(app: typer.Typer) -> None:
    @command(app, "collect")
    def collect(
        from_dir: Annotated[
            Path | None, typer.Option("--from-dir", help="Load this evidence bundle instead of calling AWS.")
        ] = None,
        out_dir: Annotated[
            Path | None, typer.Option("--out-dir", help="Also write what was collected as an evidence bundle here.")
        ] = None,
        config: Annotated[
            Path | None, typer.Option("--config", help="kmsdiag.toml (default: $KMSDIAG_CONFIG, else ./kmsdiag.toml).")
        ] = None,
        profile: Annotated[
            str | None, typer.Option("--profile", help="AWS profile of the one account to collect.")
        ] = None,
        role_arn: Annotated[
            str | None, typer.Option("--role-arn", help="Role to assume in the one account to collect.")
        ] = None,
        external_id: Annotated[str | None, typer.Option("--external-id", help="External ID for --role-arn.")] = None,
        session_name: Annotated[
            str | None, typer.Option("--session-name", help="Role session name for --role-arn.")
        ] = None,
        region: Annotated[
            list[str] | None, typer.Option("--region", help="Region to collect (repeat for several).")
        ] = None,
        bucket: Annotated[list[str] | None, typer.Option("--bucket", help="S3 bucket to collect (repeat).")] = None,
        max_workers: Annotated[
            int | None, typer.Option("--max-workers", help="Concurrent KMS calls per account.")
        ] = None,
    ) -> None:
        """Snapshot the key, IAM, bucket and organization policies of every configured account.

        Reads kmsdiag.toml (accounts with a profile or a role to assume, regions, buckets); credentials come
        from the AWS credential chain only. Each run is a new snapshot; earlier ones stay. A refused call is
        recorded as a gap (with the aws CLI command that fills it), never as an empty policy.

        Example:  kmsdiag collect --role-arn arn:aws:iam::111111111111:role/KmsdiagReadOnly --region us-east-1 --out-dir ./bundle
        """
        from diag.errors import UsageError

        st = state()
        if from_dir is not None and (out_dir is not None or profile or role_arn or region or bucket):
            raise UsageError(
                "--from-dir loads a bundle: it takes no --out-dir, --profile, --role-arn, --region or --bucket"
            )
        if from_dir is not None:
            result = _from_bundle(from_dir)
        else:
            result = _live(
                config, profile, role_arn, external_id, session_name, region or [], bucket or [], max_workers, out_dir
            )
        if st.json:
            from diag.render.console import print_json

            print_json(result)
        elif not st.quiet:
            _print_summary(result)


def _from_bundle(path: Path) -> dict[str, Any]:
    from diag.collect.bundle import read_bundle
    from diag.collect.history import build_policy_changes
    from diag.collect.snapshot import load_bundle

    bundle = read_bundle(path)  # refuses a malformed bundle before the database is touched
    con = open_writer()
    try:
        snapshot_id = load_bundle(con, bundle, source="bundle", source_path=str(path))
        build_policy_changes(con)
        return _summary(con, snapshot_id, [])
    finally:
        con.close()


def _live(
    config: Path | None,
    profile: str | None,
    role_arn: str | None,
    external_id: str | None,
    session_name: str | None,
    regions: list[str],
    buckets: list[str],
    max_workers: int | None,
    out_dir: Path | None,
) -> dict[str, Any]:
    from diag.collect.live import collect_live
    from diag.config import apply_flags, load_config
    from diag.errors import RefusedError
    from diag.render.progress import collect_progress

    cfg = load_config(config)
    cfg = apply_flags(
        cfg,
        profile=profile,
        role_arn=role_arn,
        external_id=external_id,
        session_name=session_name,
        regions=regions,
        buckets=buckets,
        max_workers=max_workers,
    )
    st = state()
    con = open_writer()
    try:
        try:
            with collect_progress(not (st.quiet or st.json)) as progress:
                result = collect_live(con, cfg, out_dir=out_dir, progress=progress)
        except RefusedError as exc:
            if cfg.source is None and not (profile or role_arn):
                exc.hint = _HOW_TO_CONFIGURE + (f" ({exc.hint})" if exc.hint else "")
            raise
        summary = _summary(con, result.snapshot_id, result.refused_accounts + result.bucket_notes)
        summary["bundle"] = str(result.bundle_dir) if result.bundle_dir else None
        return summary
    finally:
        con.close()


_HOW_TO_CONFIGURE = (
    "no kmsdiag.toml was found (--config PATH, $KMSDIAG_CONFIG, ./kmsdiag.toml), so kmsdiag tried the default AWS"
    " credentials for one account. To collect: write a kmsdiag.toml listing the accounts, each with a profile or"
    " role_arn (docs/collect.md, Configuration); or pass --profile NAME or --role-arn ARN for one account; or load"
    " an evidence bundle made with the AWS CLI: kmsdiag collect --from-dir BUNDLE"
)


def _summary(con: Any, snapshot_id: int, notes: list[str]) -> dict[str, Any]:
    from diag.collect.rows import SNAPSHOT_TABLES

    row = con.execute(
        "SELECT collected_at, source, source_path, accounts FROM snapshots WHERE snapshot_id = ?", [snapshot_id]
    ).fetchone()
    counts = {}
    for table in SNAPSHOT_TABLES:
        r = con.execute(f"SELECT count(*) FROM {table} WHERE snapshot_id = ?", [snapshot_id]).fetchone()
        counts[table] = int(r[0]) if r else 0
    gaps = [
        {
            "account": g[0],
            "region": g[1],
            "what": g[2],
            "call": g[3],
            "resource": g[4],
            "error": g[5],
            "how_to_collect": g[6],
        }
        for g in con.execute(
            "SELECT account, region, what, call, resource, error, how_to_collect FROM collection_gaps"
            " WHERE snapshot_id = ? ORDER BY account, what, resource",
            [snapshot_id],
        ).fetchall()
    ]
    return {
        "snapshot_id": snapshot_id,
        "collected_at": row[0] if row else None,
        "source": row[1] if row else None,
        "source_path": row[2] if row else None,
        "accounts": list(row[3] or []) if row else [],
        "counts": counts,
        "gaps": gaps,
        "notes": notes,
    }


def _print_summary(result: dict[str, Any]) -> None:
    from rich.table import Table

    from diag.render.console import out
    from diag.render.escape import safe_text

    console = out()
    console.print(
        safe_text(
            f"snapshot {result['snapshot_id']} ({result['source']}), collected at {result['collected_at']:%Y-%m-%d %H:%M:%S} UTC, "
            f"accounts: {', '.join(result['accounts']) or 'none'}"
        )
    )
    counts = ", ".join(f"{n:,} {t}" for t, n in result["counts"].items() if n and t != "collection_gaps")
    console.print(safe_text(counts or "nothing collected"))
    if result.get("bundle"):
        console.print(safe_text(f"bundle written to {result['bundle']}"))
    for note in result["notes"]:
        console.print(safe_text(f"note: {note}"))
    gaps = result["gaps"]
    if gaps:
        from diag.render.tables import print_table

        table = Table(title=f"{len(gaps)} gap(s): not collected", show_edge=False)
        table.add_column("#", justify="right", no_wrap=True)
        table.add_column("account", no_wrap=True)
        table.add_column("what")
        table.add_column("resource", no_wrap=True)
        table.add_column("error")
        for i, g in enumerate(gaps[:50], 1):
            table.add_row(str(i), *(safe_text(g[k] or "") for k in ("account", "what", "resource", "error")))
        print_table(console, table)
        console.print(safe_text("how to collect each gap (run with the credentials of its account):"))
        for i, g in enumerate(gaps[:50], 1):  # commands: one line each, never wrapped, pasteable
            if g.get("how_to_collect"):
                console.print(safe_text(f"  {i}. {g['how_to_collect']}", style="cyan"), soft_wrap=True)
        if len(gaps) > 50:
            console.print(safe_text(f"… and {len(gaps) - 50} more (use --json for all)"))
