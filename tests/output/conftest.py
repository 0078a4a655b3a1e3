"""A demo database (every sample scenario ingested, collected and diagnosed), built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diag.diagnosis.demo import scenarios


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not scenarios():
        pytest.skip("sample_trails/ has no scenarios on this checkout")
    from diag.cli.cmd_demo import run_demo

    path = tmp_path_factory.mktemp("demo") / "kmsdiag-demo.duckdb"
    run_demo(path)
    return path


@pytest.fixture
def demo_db(_demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo database (tests may change it)."""
    path = tmp_path / "demo.duckdb"
    shutil.copyfile(_demo_template, path)
    path.chmod(0o600)
    return path
