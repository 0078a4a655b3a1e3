"""examples/explore.ipynb runs from any working directory on the demo database and its outputs are right:
the database is found without configuration, the chart shows every failure, and the policy changes shown
before the spike belong to the accounts of that spike."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(notebook_dir: Path) -> list[Any]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "examples" / "explore.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(notebook_dir)}}
    ).execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def _text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def test_notebook_finds_the_demo_database_from_a_subfolder(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = tmp_path / "checkout"
    (top / "examples").mkdir(parents=True)
    shutil.copyfile(demo_db, top / "kmsdiag-demo.duckdb")
    monkeypatch.delenv("KMSDIAG_DB", raising=False)
    monkeypatch.delenv("KMSDIAG_DEMO_DB", raising=False)
    cells = _run(top / "examples")  # the kernel runs in examples/, as Jupyter does; the database is one level up
    errors = [o for c in cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, [(e.ename, e.evalue) for e in errors]

    con = duckdb.connect(str(top / "kmsdiag-demo.duckdb"), read_only=True)
    total = con.execute("SELECT count(*) FROM failures").fetchone()[0]
    con.close()

    all_text = "".join(_text(c) for c in cells)
    assert "database: ../kmsdiag-demo.duckdb" in all_text
    assert f"{total} failures plotted in " in all_text, "the chart shows every failure"
    images = [o for c in cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 1

    spike_cell = next(c for c in cells if "Policy changes in the 48 hours before the spike" in _text(c))
    text = _text(spike_cell)
    accounts = text.split("in the accounts involved (", 1)[1].split(")", 1)[0].split(", ")
    assert accounts and all(a.isdigit() and len(a) == 12 for a in accounts)
    html = "".join(str(o.get("data", {}).get("text/html", "")) for o in spike_cell.get("outputs", []))
    shown = set()
    import re

    for row in re.findall(r"<tr>.*?</tr>", html, re.DOTALL):
        cells_ = re.findall(r"<td>(.*?)</td>", row, re.DOTALL)
        if len(cells_) >= 2:
            shown.add(cells_[1].strip())
    assert shown <= set(accounts), f"changes of accounts not involved in the spike: {shown - set(accounts)}"
    if not shown:
        assert "no policy change was logged in those accounts" in text


def test_find_database_prefers_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from diag.errors import NotFoundError
    from diag.notebook import find_database

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KMSDIAG_DEMO_DB", raising=False)
    monkeypatch.setenv("KMSDIAG_DB", str(tmp_path / "prod.duckdb"))
    assert find_database() == tmp_path / "prod.duckdb"
    monkeypatch.delenv("KMSDIAG_DB")
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "kmsdiag-demo.duckdb").write_bytes(b"")
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert find_database() == (tmp_path / "kmsdiag-demo.duckdb").resolve()
    (tmp_path / "kmsdiag-demo.duckdb").unlink()
    repo_demo = REPO / "kmsdiag-demo.duckdb"
    if not repo_demo.exists():
        with pytest.raises(NotFoundError, match="kmsdiag demo"):
            find_database()
