"""The `kmsdiag explain` fast path (no typer import) accepts exactly the documented forms and gives the
same output and exit codes as the typer command; everything else goes to typer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from diag.cli.fast import main as fast_main
from diag.cli.fast import parse_explain
from diag.store import open_db

from .dbutil import decrypt_record, insert_record

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.parametrize(
    ("argv", "ok"),
    [
        (["explain", "ev-1"], True),
        (["--json", "explain", "ev-1", "--db", "x.duckdb"], True),
        (["explain", "--error=User: x", "--key", "k", "--region", "us-east-1", "-q"], True),
        (["explain", "--event-file", "f.json", "--wait", "2", "--debug"], True),
        (["explain", "--help"], False),
        (["explain", "ev-1", "ev-2"], False),
        (["explain", "ev-1", "--bogus"], False),
        (["explain", "ev-1", "--db", "a", "--db", "b"], False),
        (["diagnose"], False),
        (["explain", "--db"], False),
    ],
)
def test_parse(argv: list[str], ok: bool) -> None:
    assert (parse_explain(argv) is not None) is ok


@pytest.fixture
def db(db_path: Path) -> Path:
    con = open_db(db_path)
    insert_record(con, decrypt_record("ev-1", request_id="req-1", user_agent="[bold red]x[/bold red]\x1b[31m"))
    con.close()
    return db_path


def test_same_json_as_the_typer_command(run_cli, db: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    code, typer_out, _ = run_cli("explain", "req-1", "--db", db, "--json")
    assert code == 0
    capsys.readouterr()
    assert fast_main(["explain", "req-1", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(typer_out)


def test_exit_codes_and_escaping(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fast_main(["explain", "nope", "--db", str(db)]) == 1
    assert "no event" in capsys.readouterr().err
    assert fast_main(["explain", "--db", str(db)]) == 2
    capsys.readouterr()
    assert fast_main(["explain", "ev-1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "[bold red]x[/bold red]" in out and "\x1b" not in out


def test_the_process_does_not_import_typer(db: Path) -> None:
    code = (
        "import sys; from diag.cli.fast import main; rc = main(['explain', 'ev-1', '--db', sys.argv[1], '--json']);"
        " assert rc == 0; assert 'typer' not in sys.modules and 'pandas' not in sys.modules"
        " and 'boto3' not in sys.modules and 'jinja2' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], cwd=REPO, check=True, capture_output=True)


@pytest.mark.parametrize(
    "args",
    [
        ["explain", "ev-1", "--json"],
        ["explain", "req-1", "--json"],
        ["explain", "ev-1"],
        ["explain", "nope", "--json"],  # exit 1
        ["explain", "--json"],  # exit 2: no ID
        ["explain", "--error", "User: arn:aws:sts::1:assumed-role/R/s is not authorized", "--json"],
    ],
)
def test_whole_process_bytes_and_exit_code_equal_the_typer_command(db: Path, args: list[str]) -> None:
    """`python -m diag explain …` (the fast path, which ends the process without the interpreter's
    shutdown) prints the very bytes, on stdout and stderr, and exits with the code of the typer command."""
    import os

    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    env.pop("KMSDIAG_NO_FAST_PATH", None)
    cmd = [sys.executable, "-m", "diag", *args, "--db", str(db)]
    fast = subprocess.run(cmd, cwd=REPO, capture_output=True, env=env, timeout=120)
    typer = subprocess.run(cmd, cwd=REPO, capture_output=True, env={**env, "KMSDIAG_NO_FAST_PATH": "1"}, timeout=120)
    assert (fast.returncode, fast.stdout, fast.stderr) == (typer.returncode, typer.stdout, typer.stderr)
    assert fast.stdout or fast.stderr


def test_a_reader_that_closes_the_pipe_early_is_not_an_error(db: Path) -> None:
    """`kmsdiag explain ID --json | head -c0`: the reader is gone before anything is written; exit 0, nothing
    on stderr."""
    import os

    code = (
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'diag', 'explain', 'ev-1', '--json',"
        " '--db', sys.argv[1]], stdout=subprocess.PIPE, stderr=subprocess.PIPE);"
        " p.stdout.close(); err = p.stderr.read(); print(p.wait(), len(err))"
    )
    env = {k: v for k, v in os.environ.items() if k != "KMSDIAG_NO_FAST_PATH"}
    out = subprocess.run([sys.executable, "-c", code, str(db)], cwd=REPO, capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["0", "0"], out


def test_in_process_explain_closes_its_connection_and_keeps_the_garbage_collector(db: Path) -> None:
    """Only the console process's own explain (ended by os._exit) skips the close and the cyclic GC; called
    in-process, as tests and the resident server do, the file can be opened for writing right after."""
    import gc

    from diag.cli import fast

    assert gc.isenabled()
    assert fast._main(["explain", "ev-1", "--db", str(db), "--json"]) == 0
    assert gc.isenabled() and not fast._held_to_exit
    open_db(db).close()  # a read-only connection left open would refuse this (different configuration)
