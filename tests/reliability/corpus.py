"""Seed corpus for the fuzzers: real CloudTrail records (../shared/real_events, sample_trails) and mutations.

``seed_records()`` returns every parseable record; ``mutate`` turns one record into hostile bytes
(wrong types, deep nesting, huge strings, invalid UTF-8, NUL bytes, duplicate keys, truncated gzip).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gzip
import json
import random
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"

WRONG_TYPES: tuple[Any, ...] = (
    None,
    0,
    -1,
    2**63,
    1.5e308,
    True,
    False,
    "",
    "x" * 70_000,
    [],
    [1, "a", None],
    {},
    {"nested": {"deeper": [{"x": 1}]}},
    "\x00\x01\x1b[31m",
    "é\u202e\ud7ff",
)


@functools.lru_cache(maxsize=1)
def seed_records() -> tuple[dict[str, Any], ...]:
    """Every record of the sample trails and of the shared real events that parses."""
    out: list[dict[str, Any]] = []
    for path in sorted((REPO / "sample_trails").rglob("*.json.gz")):
        if "CloudTrail-Digest" in str(path):
            continue
        doc = json.loads(gzip.decompress(path.read_bytes()))
        out.extend(r for r in doc.get("Records", []) if isinstance(r, dict))
    real = SHARED / "real_events"
    if real.is_dir():
        for path in sorted(real.glob("*.json")):
            try:
                doc = json.loads(path.read_bytes())
            except ValueError:
                continue
            recs = doc.get("Records", [doc]) if isinstance(doc, dict) else doc
            out.extend(r for r in recs if isinstance(r, dict))
    return tuple(out)


def real_fragments() -> list[tuple[str, bytes]]:
    """The shared real files that do not parse (published with snips): must be refused, never crash."""
    real = SHARED / "real_events"
    if not real.is_dir():
        return []
    return [(p.name, p.read_bytes()) for p in sorted(real.glob("*NOT_VALID_JSON*"))]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    for p in path[:-1]:
        doc = doc[p]
    doc[path[-1]] = value


def deep(depth: int) -> Any:
    value: Any = "bottom"
    for i in range(depth):
        value = [value] if i % 2 else {"d": value}
    return value


MUTATIONS = (
    "wrong_type",
    "wrong_type_many",
    "deep",
    "huge",
    "drop_field",
    "invalid_utf8",
    "nul",
    "dup_key",
    "truncate_text",
    "truncate_gzip",
    "records_not_list",
    "record_not_object",
    "none",
)


def mutate(record: dict[str, Any], kind: str, rng: random.Random) -> bytes:
    """One mutated CloudTrail log file (``{"Records": [...]}``) as bytes, maybe gzip."""
    rec = copy.deepcopy(record)
    paths = _paths(rec)
    if kind == "wrong_type" and paths:
        _set(rec, rng.choice(paths), copy.deepcopy(rng.choice(WRONG_TYPES)))
    elif kind == "wrong_type_many":
        for path in rng.sample(paths, min(len(paths), rng.randint(1, 12))):
            with contextlib.suppress(KeyError, IndexError, TypeError):  # an earlier change replaced a parent
                _set(rec, path, copy.deepcopy(rng.choice(WRONG_TYPES)))
    elif kind == "deep" and paths:
        _set(rec, rng.choice(paths), deep(rng.choice((50, 500, 1100, 3000))))
    elif kind == "huge" and paths:
        _set(rec, rng.choice(paths), "A" * rng.choice((100_000, 2_000_000)))
    elif kind == "drop_field" and paths:
        path = rng.choice(paths)
        parent: Any = rec
        for p in path[:-1]:
            parent = parent[p]
        del parent[path[-1]]
    doc: Any = {"Records": [rec]}
    if kind == "records_not_list":
        doc = {"Records": copy.deepcopy(rng.choice(WRONG_TYPES[:12]))}
    elif kind == "record_not_object":
        doc = {"Records": [rec, copy.deepcopy(rng.choice(WRONG_TYPES[:8]))]}
    data = json.dumps(doc).encode() if kind != "deep" else _dump_deep(doc)
    if kind == "invalid_utf8":
        pos = rng.randrange(len(data))
        data = data[:pos] + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80")) + data[pos:]
    elif kind == "nul":
        pos = rng.randrange(len(data))
        data = data[:pos] + b"\x00" + data[pos:]
    elif kind == "dup_key":
        data = data.replace(b'"eventID": ', b'"eventID": 7, "eventID": ', 1)
    elif kind == "truncate_text":
        data = data[: rng.randrange(len(data))]
    if kind == "truncate_gzip":
        packed = gzip.compress(data)
        return packed[: rng.randrange(2, len(packed) - 1)]
    return gzip.compress(data) if rng.random() < 0.5 else data


def _dump_deep(doc: Any) -> bytes:
    """json.dumps recurses; build deep documents iteratively so the generator never hits the limit."""
    try:
        return json.dumps(doc).encode()
    except RecursionError:
        return b'{"Records": [{"eventID": "deep", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}]}"
