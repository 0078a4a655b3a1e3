"""Locate the data folders shipped with kmsdiag (queries/, sample_trails/).

In a checkout they sit at the repository's top level (DESIGN.md); in an installed wheel they are copied
into ``diag/_data/`` by setup.py. The checkout wins so that edits show up without reinstalling.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder ``name`` (``queries`` or ``sample_trails``); raise FileNotFoundError if absent."""
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"kmsdiag data folder {name!r} not found (broken installation?)")


def queries_dir() -> Path:
    return data_dir("queries")


def sample_trails_dir() -> Path:
    return data_dir("sample_trails")
