"""Evidence bundles (DESIGN.md section 5): a folder of AWS CLI JSON files, read and written safely.

A ``Bundle`` is the in-memory form: ``docs`` maps a relative POSIX path (``<account>/kms/<region>/
<key-id>/describe-key.json``) to the parsed JSON, ``errors`` maps an account to its ``errors.json`` entries.
Live collection fills one; ``write_bundle`` saves it (owner-only files); ``read_bundle`` loads one made by
kmsdiag or by hand with the AWS CLI. Every path component is checked against the layout, symlinks are
refused, and nothing outside the bundle folder is ever opened.

Three optional files extend the layout: ``<account>/kms/<region>/list-keys.json`` (so a key listed but not
described is a gap, and a region with no keys is known to have none),
``<account>/organizations/describe-organization.json`` (so "not in an organization" is known) and
``<account>/organizations/list-roots.json`` (the policy types enabled on the root: so "no SCPs" or "no
RCPs" is known, never concluded from policies missing from the bundle).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diag import arn as arns
from diag.errors import BadInputError, UsageError
from diag.times import parse_time

MAX_FILE_BYTES = 64 * 1024 * 1024

ACCOUNT_RE = arns.ACCOUNT_RE
REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
KEY_ID_RE = re.compile(r"^(?:mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
POLICY_ID_RE = re.compile(r"^p-[0-9A-Za-z_]{1,128}$")
CHILD_ID_RE = re.compile(r"^(?:\d{12}|ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")

KEY_FILES = ("describe-key.json", "get-key-policy.json", "list-grants.json", "list-resource-tags.json")
BUCKET_FILES = ("get-bucket-policy.json", "get-bucket-encryption.json", "get-bucket-location.json")
ORG_DIRS = {
    "describe-policy": POLICY_ID_RE,
    "list-targets-for-policy": POLICY_ID_RE,
    "list-parents": CHILD_ID_RE,
}


def _valid_rel(parts: tuple[str, ...]) -> bool:
    """True when ``parts`` (a file's path below the bundle root) is a file of the bundle layout."""
    n = len(parts)
    if parts == ("manifest.json",):
        return True
    if n < 2 or not ACCOUNT_RE.match(parts[0]):
        return False
    rest = parts[1:]
    if rest == ("errors.json",) or rest == ("iam", "get-account-authorization-details.json"):
        return True
    if rest[0] == "kms" and len(rest) == 3:
        return bool(REGION_RE.match(rest[1])) and rest[2] in ("list-aliases.json", "list-keys.json")
    if rest[0] == "kms" and len(rest) == 4:
        return bool(REGION_RE.match(rest[1]) and KEY_ID_RE.match(rest[2])) and rest[3] in KEY_FILES
    if rest[0] == "s3" and len(rest) == 3:
        return bool(BUCKET_RE.match(rest[1])) and ".." not in rest[1] and rest[2] in BUCKET_FILES
    if rest[0] == "organizations" and len(rest) == 2:
        return rest[1] in ("describe-organization.json", "list-roots.json")
    if rest[0] == "organizations" and len(rest) == 3 and rest[1] in ORG_DIRS and rest[2].endswith(".json"):
        return bool(ORG_DIRS[rest[1]].match(rest[2][: -len(".json")]))
    return False


def _valid_dir(parts: tuple[str, ...]) -> bool:
    """True when a folder below the root may hold bundle files."""
    if not parts:
        return True
    if not ACCOUNT_RE.match(parts[0]):
        return False
    rest = parts[1:]
    if not rest:
        return True
    if rest[0] == "iam":
        return len(rest) == 1
    if rest[0] == "kms":
        if len(rest) == 1:
            return True
        if not REGION_RE.match(rest[1]):
            return False
        return len(rest) == 2 or (len(rest) == 3 and bool(KEY_ID_RE.match(rest[2])))
    if rest[0] == "s3":
        return len(rest) == 1 or (len(rest) == 2 and bool(BUCKET_RE.match(rest[1])) and ".." not in rest[1])
    if rest[0] == "organizations":
        return len(rest) == 1 or (len(rest) == 2 and rest[1] in ORG_DIRS)
    return False


def key_dir(account: str, region: str, key_id: str) -> str:
    return f"{account}/kms/{region}/{key_id}"


def bucket_dir(account: str, bucket: str) -> str:
    return f"{account}/s3/{bucket}"


def org_dir(reader: str) -> str:
    """The Organizations folder: under the account whose credentials read it (the management account or a
    delegated administrator), never under the member account the SCPs/RCPs apply to. The loader takes org
    data from any account's folder (``organizations.transform_account``) and records that account as the
    reader; ``kmsdiag collect --out-dir`` writes it here, and so do the printed gap commands."""
    return f"{reader}/organizations"


@dataclass
class Bundle:
    """The CLI-shaped documents of one collection, in memory. Thread-safe ``put``/``error``."""

    collected_at: dt.datetime
    docs: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def put(self, relpath: str, doc: Any) -> None:
        parts = tuple(relpath.split("/"))
        if not _valid_rel(parts) or parts == ("manifest.json",) or parts[-1] == "errors.json":
            raise ValueError(f"not a bundle document path: {relpath!r}")
        with self._lock:
            self.docs[relpath] = doc

    def error(self, account: str, call: str, resource: str, error: str, message: str = "", region: str = "") -> None:
        entry: dict[str, Any] = {"call": call, "resource": resource, "error": error}
        if message:
            entry["message"] = message[:1000]
        if region:
            entry["region"] = region
        with self._lock:
            self.errors.setdefault(account, []).append(entry)

    def get(self, relpath: str) -> Any:
        return self.docs.get(relpath)

    def has(self, relpath: str) -> bool:
        return relpath in self.docs

    def accounts(self) -> list[str]:
        found = {p.split("/", 1)[0] for p in self.docs} | set(self.errors)
        return sorted(found)

    def under(self, prefix: str) -> list[str]:
        """Document paths below ``prefix/`` (sorted)."""
        pre = prefix.rstrip("/") + "/"
        return sorted(p for p in self.docs if p.startswith(pre))


_EMPTY = object()


def _read_json(path: Path, rel: str) -> Any:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise BadInputError(f"bundle file {rel} cannot be opened: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BadInputError(f"bundle file {rel} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise BadInputError(f"bundle file {rel} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        data = fh.read(MAX_FILE_BYTES + 1)
    if not data.strip():
        return _EMPTY  # `aws ... > file` leaves an empty file when the call failed: a gap, not an error
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInputError(f"bundle file {rel} is not valid JSON: {exc}") from exc


def read_bundle(root: str | os.PathLike[str]) -> Bundle:
    """Read an evidence bundle folder. Odd names, symlinks and unreadable JSON are refused (BadInputError),
    so nothing is loaded from a bundle that is not what it claims to be."""
    base = Path(root)
    if not base.is_dir() or base.is_symlink():
        raise BadInputError(f"{base} is not a bundle folder")
    base = base.resolve()
    found: dict[str, Any] = {}
    refused: list[str] = []
    stack: list[tuple[Path, tuple[str, ...]]] = [(base, ())]
    while stack:
        folder, parts = stack.pop()
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            sub = (*parts, entry.name)
            rel = "/".join(sub)
            if entry.is_symlink():
                refused.append(f"{rel} (symbolic link)")
            elif entry.is_dir(follow_symlinks=False):
                if _valid_dir(sub):
                    stack.append((Path(entry.path), sub))
                else:
                    refused.append(f"{rel}/ (not part of the bundle layout)")
            elif entry.is_file(follow_symlinks=False) and _valid_rel(sub):
                target = Path(entry.path)
                if not target.resolve().is_relative_to(base):
                    refused.append(f"{rel} (outside the bundle)")
                    continue
                found[rel] = target
            else:
                refused.append(f"{rel} (not part of the bundle layout)")
    if refused:
        shown = ", ".join(refused[:5]) + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        raise BadInputError(
            f"the bundle {base} holds unexpected files: {shown}. Nothing was loaded.",
            hint="a bundle holds only the files of the evidence-bundle layout (docs/collect.md, Evidence bundles).",
        )
    manifest = _read_json(found.pop("manifest.json"), "manifest.json") if "manifest.json" in found else None
    # an empty manifest reads as _EMPTY, which is not a dict: refused below
    collected_at = None
    if isinstance(manifest, dict):
        collected_at = parse_time(manifest.get("collected_at"))
    if collected_at is None:
        raise BadInputError(
            f"the bundle {base} has no manifest.json with collected_at",
            hint='write BUNDLE/manifest.json: {"collected_at": "2026-11-28T12:00:00Z"} (when the files were made, UTC)',
        )
    bundle = Bundle(collected_at=collected_at)
    for rel, target in sorted(found.items()):
        doc = _read_json(target, rel)
        if doc is _EMPTY:
            continue
        if rel.endswith("/errors.json"):
            if not isinstance(doc, list) or not all(isinstance(e, dict) for e in doc):
                raise BadInputError(f"bundle file {rel} must be a JSON list of objects")
            bundle.errors[rel.split("/", 1)[0]] = doc
        else:
            bundle.docs[rel] = doc
    return bundle


def _write_file(path: Path, text: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)


def manifest_time(value: dt.datetime) -> str:
    """``collected_at`` for manifest.json: ISO 8601 UTC with ``Z`` (fractional seconds only if any)."""
    stamp = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    return stamp.isoformat() + "Z"


def cli_dump(doc: Any) -> str:
    """JSON text as ``aws ... --output json`` prints it (4-space indent)."""
    return json.dumps(doc, indent=4, ensure_ascii=False) + "\n"


def write_bundle(bundle: Bundle, root: str | os.PathLike[str]) -> Path:
    """Write ``bundle`` to the folder ``root`` (created owner-only). An existing bundle is not overwritten."""
    base = Path(root)
    if base.is_symlink():
        raise UsageError(f"--out-dir {base} is a symbolic link")
    if base.exists() and (not base.is_dir() or any(base.iterdir())):
        raise UsageError(f"--out-dir {base} exists and is not an empty folder; choose a new folder")
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    base.chmod(0o700)
    files: dict[str, str] = {"manifest.json": cli_dump({"collected_at": manifest_time(bundle.collected_at)})}
    for rel, doc in bundle.docs.items():
        files[rel] = cli_dump(doc)
    for account, entries in bundle.errors.items():
        files[f"{account}/errors.json"] = cli_dump(entries)
    for rel, text in sorted(files.items()):
        parts = tuple(rel.split("/"))
        if not _valid_rel(parts):
            raise ValueError(f"refusing to write {rel!r}: not a bundle path")
        folder = base
        for part in parts[:-1]:
            folder = folder / part
            if not folder.exists():
                folder.mkdir(mode=0o700)
        _write_file(folder / parts[-1], text)
    return base
