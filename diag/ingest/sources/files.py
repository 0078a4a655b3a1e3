"""Local CloudTrail files and folders as ingest inputs (:class:`~diag.ingest.blobs.Blob` with a path).

:func:`ingest_paths` finds them (:func:`discover`) and hands them to the scheduler
(:func:`diag.ingest.scheduler.ingest_blobs`). Folders are walked recursively (sorted, symbolic links to folders not followed); evidence bundles
(policies for `kmsdiag collect --from-dir`) are skipped and named; what cannot be read is reported with
the reason instead of being opened.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from diag.ingest.blobs import Blob
from diag.ingest.scheduler import ingest_blobs
from diag.ingest.summary import IngestSummary, ProgressFn
from diag.ingest.worker import file_kind

if TYPE_CHECKING:
    import duckdb

# Read when found in a folder (a file named on the command line is read whatever its name).
INPUT_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")


def is_evidence_bundle(folder: Path) -> bool:
    """A folder with a ``manifest.json`` object holding ``collected_at`` (DESIGN.md section 5)."""
    try:
        with open(folder / "manifest.json", "rb") as fh:
            head = fh.read(1 << 16)
        doc = json.loads(head)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "collected_at" in doc


def _unreadable(p: Path) -> str | None:
    """Why ``p`` (a path that is not a readable regular file) is not read, or None when it is one."""
    try:
        st = p.stat()
    except OSError as exc:
        if p.is_symlink():
            if exc.errno == errno.ELOOP:
                return "symbolic link loop: not read"
            try:
                target = os.readlink(p)
            except OSError:
                target = "?"
            return f"dangling symbolic link (to {target}): not read"
        return f"cannot read the file: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file ({file_kind(st.st_mode)}): not read"
    return None


def discover(
    paths: Iterable[str | os.PathLike[str]], bundles: list[str] | None = None
) -> tuple[list[Blob], list[tuple[str, str]]]:
    """Local inputs: files named explicitly, and ``.json``/``.jsonl``/``.ndjson`` (optionally ``.gz``)
    files under folders (sorted).

    Folders that are evidence bundles (:func:`is_evidence_bundle`) are not walked; their paths are
    appended to ``bundles`` when given. Symbolic links to folders are not followed (a loop cannot trap
    the walk). Returns the blobs, and the paths not read with the reason: missing, a dangling symbolic
    link or a link loop (named as found, not as its target), a FIFO, socket or device (never opened, so
    never waited on).
    """
    blobs: list[Blob] = []
    missing: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        why = _unreadable(p)
        if why is not None:
            missing.append((os.path.abspath(p), why))
            return
        key = str(p.resolve())
        if key in seen:
            return
        seen.add(key)
        try:
            st = p.stat()
        except OSError as exc:
            missing.append((key, f"cannot read the file: {exc.strerror or exc}"))
            return
        blobs.append(Blob(name=key, source="file", size=st.st_size, mtime=st.st_mtime, path=key))

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found: list[Path] = []
            for root, dirs, files in os.walk(p):
                if "manifest.json" in files and is_evidence_bundle(Path(root)):
                    dirs.clear()  # policies for `kmsdiag collect --from-dir`, not CloudTrail
                    if bundles is not None:
                        bundles.append(str(Path(root).resolve()))
                    continue
                dirs.sort()
                for d in dirs:
                    if os.path.islink(os.path.join(root, d)):  # os.walk does not follow it: say so
                        missing.append(
                            (os.path.abspath(os.path.join(root, d)), "symbolic link to a folder: not followed")
                        )
                found.extend(Path(root) / f for f in files if f.lower().endswith(INPUT_SUFFIXES))
            for f in sorted(found):
                add(f)
        elif p.exists() or p.is_symlink():
            add(p)
        else:
            missing.append((str(p), "no such file or directory"))
    return blobs, missing


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[str | os.PathLike[str]],
    *,
    progress: ProgressFn | None = None,
    workers: int | None = None,
) -> IngestSummary:
    """Ingest local files and folders (recursive; ``.json``, ``.jsonl``, ``.ndjson``, plain or ``.gz``); return the summary.

    A path that does not exist is reported as refused (and not recorded in ``ingested_files``); evidence
    bundle folders found while walking are skipped and listed in ``bundles_skipped``.
    """
    started = time.monotonic()
    bundles: list[str] = []
    blobs, missing = discover(paths, bundles)
    summary = IngestSummary(files_seen=len(missing), refused=list(missing), bundles_skipped=bundles)
    ingest_blobs(con, blobs, progress=progress, workers=workers, files_total=len(blobs), summary=summary)
    summary.seconds = time.monotonic() - started
    return summary
