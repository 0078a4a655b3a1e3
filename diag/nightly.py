"""`kmsdiag nightly`: ingest → collect → diagnose → report in one run, under an exclusive run lock.

A scheduled run must never overlap the previous one (a slow night, a cron retry, a human running it by
hand). :func:`run_lock` takes ``fcntl.flock`` on ``<db>.lock`` (created owner-only) for the whole pipeline:
a second run fails at once with :class:`~diag.errors.RefusedError` (exit code 4) naming the holder's PID.
The lock is released by the kernel when the process dies, even by SIGKILL, so a crashed run never
leaves a stale lock behind.

Each step calls the library function of its command (nothing is reimplemented): ``ingest_paths`` /
``ingest_remote``, ``read_bundle`` + ``load_bundle`` or ``collect_live``, ``diagnose_pending``,
``build_report`` + ``render`` + ``record_run``. One database connection is held for the whole run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diag.errors import RefusedError, UsageError

if TYPE_CHECKING:
    from diag.collect.live import OnStep

REPORT_FORMATS = ("html", "md", "json")


@dataclass
class NightlyOptions:
    """What one nightly run does. ``sources``: local files/folders and ``s3://`` URIs to ingest."""

    sources: list[str] = field(default_factory=list)
    from_dir: Path | None = None  # collect from this evidence bundle instead of live
    collect: bool = True  # False: skip collection (use the snapshots already in the database)
    config: Path | None = None  # kmsdiag.toml for the live collection
    since: str = "24h"
    report_out: Path | None = None  # None: no report file (the summary still counts the failures)
    report_format: str | None = None  # default: from report_out's extension, else html
    workers: int | None = None
    progress: OnStep | None = None  # collection's progress callback (the command line draws bars)


def lock_path(db_path: Path) -> Path:
    """The run lock next to the database: ``<db>.lock``."""
    return Path(str(db_path) + ".lock")


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def run_lock(db_path: Path, *, wait: float = 0.0) -> Iterator[Path]:
    """Hold the exclusive nightly lock of ``db_path`` (fail fast, or retry up to ``wait`` seconds)."""
    path = lock_path(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RefusedError(
                        f"another kmsdiag nightly run (PID {_holder(path)}) holds {path}; this run did nothing. "
                        "Wait for it to finish, or pass --wait SECONDS."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _ingest(con: Any, opts: NightlyOptions) -> dict[str, Any]:
    from diag.ingest import ingest_paths

    s3_uris = [s for s in opts.sources if s.startswith("s3://")]
    local = [Path(s) for s in opts.sources if not s.startswith("s3://")]
    out: dict[str, Any] = {}
    if local:
        out["local"] = ingest_paths(con, local, workers=opts.workers).to_dict()
    if s3_uris:
        from diag.ingest.pulls import ingest_remote
        from diag.ingest.remote.blob import default_ingester
        from diag.ingest.remote.options import RemoteOptions

        remote = RemoteOptions(s3_uris=s3_uris)  # the trails named, no narrowing options, no progress bar
        out["remote"] = ingest_remote(con, remote, ingester=default_ingester(workers=opts.workers))
    return out


def _collect(con: Any, opts: NightlyOptions) -> dict[str, Any] | None:
    if not opts.collect:
        return None
    from diag.collect.history import build_policy_changes

    if opts.from_dir is not None:
        from diag.collect.bundle import read_bundle
        from diag.collect.snapshot import load_bundle

        bundle = read_bundle(opts.from_dir)
        snapshot_id = load_bundle(con, bundle, source="bundle", source_path=str(opts.from_dir))
        build_policy_changes(con)
        gaps = con.execute("SELECT count(*) FROM collection_gaps WHERE snapshot_id = ?", [snapshot_id]).fetchone()
        return {"source": "bundle", "snapshot_id": snapshot_id, "gaps": int(gaps[0]) if gaps else 0, "refused": []}
    from diag.collect.live import collect_live
    from diag.config import load_config

    result = collect_live(con, load_config(opts.config), progress=opts.progress)
    gaps = con.execute("SELECT count(*) FROM collection_gaps WHERE snapshot_id = ?", [result.snapshot_id]).fetchone()
    return {
        "source": "live",
        "snapshot_id": result.snapshot_id,
        "gaps": int(gaps[0]) if gaps else 0,
        "refused": list(result.refused_accounts),
    }


def _report(con: Any, opts: NightlyOptions, db_path: Path) -> dict[str, Any]:
    from diag.report import render
    from diag.report.build import build_report, record_run
    from diag.report.window import parse_window

    window = parse_window(opts.since, None)
    model = build_report(con, window, database=str(db_path))
    out: dict[str, Any] = {
        "failures": model.headline.failures,
        "causes": model.headline.causes,
        "new_causes": model.headline.new_causes,
        "resolved_causes": model.headline.resolved_causes,
        "out": None,
    }
    if opts.report_out is None:
        return out
    fmt = opts.report_format or {".md": "md", ".json": "json"}.get(opts.report_out.suffix.lower(), "html")
    if fmt not in REPORT_FORMATS:
        raise UsageError(f"--format {fmt!r}: choose one of {', '.join(REPORT_FORMATS)}")
    text = render(model, fmt)
    record_run(con, model, fmt=fmt, out_path=str(opts.report_out))
    target = opts.report_out
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    out["out"] = str(target)
    out["format"] = fmt
    return out


def all_inputs_refused(summary: dict[str, Any]) -> bool:
    """True when the run was given inputs and every one of them was refused (exit code 3, as `ingest`).

    Some refused files among good ones are normal (a truncated delivery) and listed only; all of them
    refused means the nightly job is reading the wrong thing, which a scheduler should see.
    """
    ing = summary.get("ingest") or {}
    parts = [ing.get("local") or {}] + [r.get("ingest") or {} for r in ing.get("remote") or []]
    seen = sum(int(p.get("files_seen") or 0) for p in parts)
    refused = sum(int(p.get("files_refused") or 0) for p in parts)
    return seen > 0 and refused == seen


def run_nightly(db_path: Path, opts: NightlyOptions, *, wait: float = 0.0) -> dict[str, Any]:
    """Run the whole pipeline under the run lock; return a summary of every step."""
    from diag.store import open_db

    if opts.from_dir is not None and not opts.collect:
        raise UsageError("--from-dir and --no-collect contradict each other")
    started = time.monotonic()
    with run_lock(db_path, wait=wait):
        con = open_db(db_path, wait=wait)
        try:
            steps: dict[str, Any] = {"pid": os.getpid(), "database": str(db_path)}
            steps["ingest"] = _ingest(con, opts)
            steps["collect"] = _collect(con, opts)
            from diag.diagnosis.batch import diagnose_pending

            dx = diagnose_pending(con)
            steps["diagnose"] = {k: dx[k] for k in ("failures", "decision_keys", "by_verdict")}
            steps["report"] = _report(con, opts, db_path)
        finally:
            con.close()
    steps["seconds"] = round(time.monotonic() - started, 3)
    return steps
