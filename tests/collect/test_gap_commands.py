"""Each one-line "how to collect" command of a gap works pasted alone into a shell in an empty folder: it
makes the bundle folder it writes to (a bare ``aws … > BUNDLE/A/kms/R/KEY/x.json`` fails there with "No
such file or directory")."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from diag.collect import commands


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_each_gap_command_runs_alone_in_an_empty_folder(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "aws"
    fake.write_text("#!/bin/sh\necho '{\"fake\": true}'\n")
    fake.chmod(0o755)
    built = {
        "describe-key.json": commands.describe_key("111122223333", "eu-west-1", "k 1;x"),
        "get-key-policy.json": commands.get_key_policy("111122223333", "eu-west-1", "k 1;x"),
        "list-grants.json": commands.list_grants("111122223333", "eu-west-1", "k 1;x"),
        "list-resource-tags.json": commands.list_resource_tags("111122223333", "eu-west-1", "k 1;x"),
        "list-aliases.json": commands.list_aliases("111122223333", "eu-west-1"),
        "list-keys.json": commands.list_keys("111122223333", "eu-west-1"),
        "get-account-authorization-details.json": commands.authorization_details("111122223333"),
        "get-bucket-policy.json": commands.bucket_call("111122223333", "my bucket", "get-bucket-policy"),
        "describe-organization.json": commands.describe_organization("MANAGEMENT_ACCOUNT"),
        "p-1.json": commands.describe_policy("MANAGEMENT_ACCOUNT", "p-1"),
        "p-2.json": commands.list_targets("MANAGEMENT_ACCOUNT", "p-2"),
        "ou-3.json": commands.list_parents("MANAGEMENT_ACCOUNT", "ou-3"),
    }
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for name, cmd in built.items():
        work = tmp_path / name
        work.mkdir()
        done = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, (cmd, done.stderr)
        written = [p for p in (work / "BUNDLE").rglob("*") if p.is_file()]
        assert [p.name for p in written] == [name], (cmd, written)
        assert written[0].read_text() == '{"fake": true}\n'
