"""Shared fixtures: temporary databases, the CLI runner, and the paths of shared test data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Hypothesis: the default profile ``ci`` is derandomized (a fixed seed per test), so a red run is reproduced
# by running it again; ``HYPOTHESIS_PROFILE=random`` draws new examples every run and ``full`` (random,
# 2,000 examples) is the long local run. Tests that set ``max_examples`` themselves keep their budget.
_HYPOTHESIS = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": (HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture),
}
settings.register_profile("ci", max_examples=40, derandomize=True, **_HYPOTHESIS)  # type: ignore[arg-type]
settings.register_profile("random", max_examples=200, derandomize=False, **_HYPOTHESIS)  # type: ignore[arg-type]
settings.register_profile("full", max_examples=2000, derandomize=False, **_HYPOTHESIS)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (``CI=true``) a skipped test is a failed test: nothing the suite should check goes unchecked.

    Elsewhere a skip stays a skip, with its reason in pytest's summary (``-ra``)."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may touch real AWS or a database outside its temporary folder."""
    monkeypatch.delenv("KMSDIAG_DB", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("KMSDIAG_NO_SERVER", "1")  # a `kmsdiag serve` of the developer's never answers for a test


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `kmsdiag ARGS...` in-process; return (exit code, stdout, stderr)."""
    from diag.cli.app import main

    def _run(*args: str | os.PathLike[str]) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    if not SHARED.is_dir():
        pytest.skip(f"../shared is absent ({SHARED}): the AWS conformance cases and real events are not here")
    yield SHARED


STORIES = REPO / "sample_trails"


@pytest.fixture(scope="session")
def stories_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database of every sample_trails story (their trails ingested, their bundles collected), as
    `kmsdiag demo` builds it; built once per test process. Open it read-only: other modules share it."""
    from diag.cli.app import main

    scenarios = sorted(p for p in STORIES.glob("[0-9]*") if (p / "expected.json").is_file()) if STORIES.is_dir() else []
    if not scenarios:
        pytest.skip("sample_trails/ has no scenarios on this checkout")
    db = tmp_path_factory.mktemp("stories") / "stories.duckdb"
    assert main(["ingest", "--db", str(db), "--quiet", *[str(s / "trails") for s in scenarios]]) == 0
    for s in scenarios:
        assert main(["collect", "--db", str(db), "--quiet", "--from-dir", str(s / "bundle")]) == 0, s.name
    return db


@pytest.fixture(scope="module")
def moto_process() -> Iterator[str]:
    """The URL of a moto server running as a separate process for the module's tests."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
