"""Inputs of an ingest: :class:`Blob` (a named byte source) and the discovery of local files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

INPUT_SUFFIXES = (".json", ".json.gz")


@dataclass
class Blob:
    """One input: a name (its key in ``ingested_files``), where it came from, and how to get its bytes.

    Give exactly one of ``data`` (the bytes), ``opener`` (called once, in this process, to fetch them)
    or ``path`` (a local file, read by a worker process).
    """

    name: str
    source: str = "file"
    size: int | None = None
    mtime: float | None = None
    etag: str | None = None
    data: bytes | None = None
    opener: Callable[[], bytes] | None = None
    path: str | None = None


def is_evidence_bundle(folder: Path) -> bool:
    """A folder with a ``manifest.json`` object holding ``collected_at`` (DESIGN.md section 5)."""
    try:
        with open(folder / "manifest.json", "rb") as fh:
            head = fh.read(1 << 16)
        doc = json.loads(head)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "collected_at" in doc


def discover(
    paths: Iterable[str | os.PathLike[str]], bundles: list[str] | None = None
) -> tuple[list[Blob], list[tuple[str, str]]]:
    """Local inputs: files named explicitly, and ``.json``/``.json.gz`` files under folders (sorted).

    Folders that are evidence bundles (:func:`is_evidence_bundle`) are not walked; their paths are
    appended to ``bundles`` when given. Returns the blobs and the paths that do not exist (with a reason).
    """
    blobs: list[Blob] = []
    missing: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
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
                found.extend(Path(root) / f for f in files if f.lower().endswith(INPUT_SUFFIXES))
            for f in sorted(found):
                add(f)
        elif p.is_file():
            add(p)
        else:
            missing.append((str(p), "no such file or directory"))
    return blobs, missing
