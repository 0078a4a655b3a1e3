"""The Organizations commands kmsdiag prints (a gap of the collector, of the as-of reader, of an explanation)
write where the bundle reader looks: ``BUNDLE/<account that read it>/organizations/…`` (the management
account or a delegated administrator), the layout ``kmsdiag collect --out-dir`` writes. Each is run in an
empty folder against a fake ``aws`` that answers like Organizations, and the bundle is read back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from diag import fixes
from diag.collect import commands, organizations
from diag.collect.bundle import read_bundle
from diag.errors import BadInputError

MEMBER = "222222222222"
MANAGEMENT = "999999999999"
OU = "ou-ab12-cdef3456"

FAKE_AWS = f"""#!/bin/sh
# a fake aws: answers the Organizations calls like the AWS CLI (--output json / --output text)
case "$2" in
  list-policies) echo "p-abc12345" ;;
  describe-policy) echo '{json.dumps({"Policy": {"PolicySummary": {"Id": "p-abc12345", "Type": "SERVICE_CONTROL_POLICY", "Name": "Guard"}, "Content": json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})}})}' ;;
  list-targets-for-policy) echo '{json.dumps({"Targets": [{"TargetId": OU, "Type": "ORGANIZATIONAL_UNIT"}]})}' ;;
  list-parents) echo '{json.dumps({"Parents": [{"Id": OU, "Type": "ORGANIZATIONAL_UNIT"}]})}' ;;
  *) echo '{{}}' ;;
esac
"""


def _run(lines: list[str], work: Path, bin_dir: Path) -> None:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    script = "\n".join(lines)
    done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (script, done.stderr)


def _builders() -> dict[str, list[str]]:
    """Every printer of Organizations commands, as the user would paste them after putting the management
    account's ID in place of the placeholder (the printed comment says to)."""
    printed = {
        "explain gap (fixes.collect_commands scp)": list(
            fixes.collect_commands("scp", account=MEMBER, region="eu-west-1", resource=None)
        ),
        "explain gap (fixes.collect_commands rcp)": list(
            fixes.collect_commands("rcp", account=MEMBER, region="eu-west-1", resource=None)
        ),
        "as-of gap (SCPs not collected)": [
            commands.list_parents(commands.MANAGEMENT_ACCOUNT, MEMBER),
            commands.policies_of_type(commands.MANAGEMENT_ACCOUNT, "SERVICE_CONTROL_POLICY"),
        ],
    }
    return {k: [c.replace(commands.MANAGEMENT_ACCOUNT, MANAGEMENT) for c in v] for k, v in printed.items()}


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize("name", list(_builders()))
def test_each_printed_org_command_writes_where_the_reader_reads(name: str, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    (bin_dir / "kmsdiag").write_text("#!/bin/sh\nexit 0\n")  # the final `kmsdiag collect --from-dir BUNDLE`
    (bin_dir / "kmsdiag").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    _run(_builders()[name], work, bin_dir)
    (work / "BUNDLE" / "manifest.json").write_text('{"collected_at": "2026-11-28T12:00:00Z"}')
    bundle = read_bundle(work / "BUNDLE")
    assert bundle.accounts() == [MANAGEMENT]  # under the reader, never the member the policies apply to
    rows = organizations.transform_account(bundle, MANAGEMENT)
    assert [(r["child_id"], r["parent_id"]) for r in rows["org_paths"]] == [(MEMBER, OU)]
    assert [r["policy_id"] for r in rows["org_policies"]] == ["p-abc12345"]
    assert [r["target_id"] for r in rows["org_policy_targets"]] == [OU]
    assert rows["gaps"] == []  # nothing half-collected (a policy without its targets is a gap)


def test_the_collectors_own_org_commands_use_the_same_layout() -> None:
    for call, resource in (
        ("describe-policy", "p-abc12345"),
        ("list-targets-for-policy", "p-abc12345"),
        ("list-parents", OU),
        ("describe-organization", MANAGEMENT),
    ):
        cmd = organizations._how(call, MANAGEMENT, resource)
        assert f"> BUNDLE/{MANAGEMENT}/organizations/" in cmd, cmd


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_placeholder_cannot_be_loaded_by_mistake(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text(FAKE_AWS)
    (bin_dir / "aws").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    _run([commands.list_parents(commands.MANAGEMENT_ACCOUNT, MEMBER)], work, bin_dir)
    (work / "BUNDLE" / "manifest.json").write_text('{"collected_at": "2026-11-28T12:00:00Z"}')
    with pytest.raises(BadInputError, match="MANAGEMENT_ACCOUNT"):
        read_bundle(work / "BUNDLE")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_refused_list_policies_fails_the_line_instead_of_writing_nothing_quietly(tmp_path: Path) -> None:
    """No policy file and a zero status would read as "no such policies": AWS's refusal must show."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    refused = "#!/bin/sh\necho 'An error occurred (AccessDeniedException) when calling ListPolicies' >&2\nexit 254\n"
    (bin_dir / "aws").write_text(refused)
    (bin_dir / "aws").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cmd = commands.policies_of_type(MANAGEMENT, "SERVICE_CONTROL_POLICY")
    done = subprocess.run(["bash", "-c", cmd], cwd=work, env=env, capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "AccessDeniedException" in done.stderr
    assert not [p for p in (work / "BUNDLE").rglob("*") if p.is_file()]
