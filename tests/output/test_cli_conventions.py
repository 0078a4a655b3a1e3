"""Commands that only read never create a database; `--help` uses click-style metavars and shows an example."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

RunCli = Callable[..., tuple[int, str, str]]
ARN_ROLE = "arn:aws:iam::222222222222:role/DataProcessingRole"
ARN_KEY = "arn:aws:kms:us-east-1:111111111111:key/085c09ad-f85a-5531-8e2f-151b581e7234"

READERS = [
    ("explain", "fe484d97"),
    ("failures",),
    ("status",),
    ("check", "--principal", ARN_ROLE, "--key", ARN_KEY, "--action", "kms:Decrypt"),
    ("audit",),
    ("report", "--no-record", "--format", "json"),
    ("report", "--format", "json"),
    ("diagnose",),
]


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_commands_that_need_data_never_create_a_database(
    tmp_path: Path, run_cli: RunCli, args: tuple[str, ...]
) -> None:
    missing = tmp_path / "nope.duckdb"
    code, out, err = run_cli("--db", missing, *args)
    assert code == 1, (code, out, err)
    assert f"no database at {missing}" in err and "kmsdiag ingest" in err
    assert not missing.exists() and not Path(str(missing) + ".wal").exists()


def _commands() -> list[str]:
    from diag.cli.app import build_command

    return sorted(build_command().commands)


PYTHON_TYPES = re.compile(r"<(bool|str|int|float|path|list\[[^\]]*\]|int range|float range)>|list\[str\]")


@pytest.mark.parametrize("name", _commands())
def test_help_uses_conventional_metavars_and_has_an_example(name: str, run_cli: RunCli) -> None:
    code, out, err = run_cli(name, "--help")
    assert code == 0, err
    assert not PYTHON_TYPES.search(out), PYTHON_TYPES.findall(out)
    assert "Example" in out, f"kmsdiag {name} --help shows no example"
    assert "DESIGN" not in out


def test_top_level_help_has_no_python_types(run_cli: RunCli) -> None:
    code, out, _ = run_cli("--help")
    assert code == 0 and not PYTHON_TYPES.search(out)
    code, out, _ = run_cli("failures", "--help")
    assert "--since" in out and "WHEN" in out and "--limit" in out and " N " in out
