"""Every command kmsdiag prints, pasted into bash, runs `aws` (or `kmsdiag`, `mkdir`) with the hostile
values as single arguments, and nothing else.

Failures from the sample stories are copied with hostile key IDs, aliases, regions, session names, role
names, bucket names and account IDs (anyone able to make an API call can shape these CloudTrail fields).
The commands are gathered from `explain` (text and --json), `report` (Markdown, HTML, JSON), `check` and
`audit`, run through ``bash -n``, then run by bash in a temporary folder with PATH holding only stubs that
record their argv. The test fails when bash cannot parse a command, when any other program is looked up
("command not found": the injected part of an unquoted value), or when a file named ``pwned`` appears.
"""

from __future__ import annotations

import copy
import gzip
import html
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from diag import fixes
from diag.collect import commands as bundle_commands
from diag.render.escape import strip_control
from tests.reliability.crashutil import REPO

Run = Callable[..., tuple[int, str, str]]
Sandbox = Callable[..., None]
SAMPLES = REPO / "sample_trails"
SCENARIOS = (
    "01-guide-walkthrough",
    "10-wrong-region",
    "21-grant-missing",
    "26-key-not-found",
    "27-s3-bucket-policy-missing",
)

KEY_IDS = (
    "k;id>pwned;x",
    "$(touch pwned)",
    "`touch pwned`",
    "a'b\"c d;touch pwned",
    "x\ny;touch pwned",
)
ALIASES = ("alias/$(touch pwned)", "alias/a;touch pwned #")
REGIONS = ("us-east-1;touch pwned", "eu-west-1$(touch pwned)")
SESSIONS = ("s;touch pwned", "s$(touch pwned)")
ROLES = ("Role`touch pwned`",)
BUCKETS = ("b;touch pwned", "b$(touch pwned)x")
ACCOUNTS = ("1111;touch pwned",)
ALLOWED = {"aws", "mkdir", "kmsdiag", "base64", "date"}  # date: the bundle manifest's time


# ------------------------------------------------------------------------------------------ the records


def _records(scenario: str) -> list[dict[str, Any]]:
    out = []
    for path in sorted((SAMPLES / scenario / "trails").rglob("*.json.gz")):
        out.extend(json.loads(gzip.decompress(path.read_bytes())).get("Records") or [])
    return out


def _failures(scenario: str) -> list[dict[str, Any]]:
    expected = json.loads((SAMPLES / scenario / "expected.json").read_text())
    return [r for r in _records(scenario) if r.get("eventID") in expected][:1]  # one story's failure is enough


def _variants(rec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Copies of one failed record, each with one hostile field."""
    n = 0

    def copy_of() -> dict[str, Any]:
        nonlocal n
        n += 1
        r = copy.deepcopy(rec)
        r["eventID"] = f"{rec['eventID'][:20]}-hostile-{n}"
        r.pop("sharedEventID", None)
        r["requestParameters"] = dict(r.get("requestParameters") or {})
        return r

    arn = next((x.get("ARN") for x in rec.get("resources") or [] if x.get("type") == "AWS::KMS::Key"), None)
    for value in KEY_IDS:
        r = copy_of()
        r["requestParameters"]["keyId"] = f"arn:aws:kms:eu-west-1:123456789012:key/{value}"
        r["resources"] = [{"type": "AWS::KMS::Key", "ARN": f"arn:aws:kms:eu-west-1:123456789012:key/{value}"}]
        yield r
        r = copy_of()
        r["requestParameters"]["keyId"] = value
        r.pop("resources", None)
        yield r
    for value in ALIASES:
        r = copy_of()
        r["requestParameters"]["keyId"] = value
        r.pop("resources", None)
        yield r
    for value in REGIONS:
        r = copy_of()
        r["awsRegion"] = value
        if arn:
            r["requestParameters"]["keyId"] = arn.split(":key/")[-1]
        yield r
    ident = rec.get("userIdentity") or {}
    if ident.get("type") == "AssumedRole" and ident.get("arn"):
        head = ident["arn"].rsplit("/", 2)[0]
        for value in SESSIONS:
            r = copy_of()
            r["userIdentity"]["arn"] = f"{head}/{ident['arn'].rsplit('/', 2)[1]}/{value}"
            yield r
        for value in ROLES:
            r = copy_of()
            r["userIdentity"]["arn"] = f"{head}/{value}/etl"
            issuer = r["userIdentity"].get("sessionContext", {}).get("sessionIssuer") or {}
            if issuer:
                issuer["arn"] = issuer["arn"].rsplit("/", 1)[0] + "/" + value
                issuer["userName"] = value
            yield r
    for value in BUCKETS:
        r = copy_of()
        r["requestParameters"]["bucketName"] = value
        ctx = dict(r["requestParameters"].get("encryptionContext") or {})
        ctx["aws:s3:arn"] = f"arn:aws:s3:::{value}/object"
        r["requestParameters"]["encryptionContext"] = ctx
        yield r
    for value in ACCOUNTS:
        r = copy_of()
        r["recipientAccountId"] = value
        r["userIdentity"]["accountId"] = value
        yield r


# ------------------------------------------------------------------------------------ gathering commands


def _walk(doc: Any) -> Iterator[str]:
    """Every string under a key that holds commands (fix commands, gap collect lists, how_to_collect)."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in ("commands", "collect", "how_to_collect") and isinstance(v, list):
                yield from (c for c in v if isinstance(c, str))
            elif k == "how_to_collect" and isinstance(v, str) and v:
                yield v
            else:
                yield from _walk(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _walk(v)


_SPAN_RE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def _md_commands(md: str) -> list[str]:
    """Code spans of the report's Fixes list (any fence length, one optional padding space each side)."""
    out = []
    section = md.split("**Fixes**", 1)[1] if "**Fixes**" in md else ""
    for line in section.splitlines():
        if not line.startswith("   "):
            continue
        for m in _SPAN_RE.finditer(line):
            text = m.group(2)
            if text.startswith(" ") and text.endswith(" ") and text.strip():
                text = text[1:-1]
            out.append(text)
    return out


def _html_blocks(page: str) -> list[str]:
    return [html.unescape(b) for b in re.findall(r'<pre class="commands">(.*?)</pre>', page, re.S)]


# ------------------------------------------------------------------------------------- running them


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A function that runs one script in bash with only the recording stubs on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "argv.log"
    for name in ALLOWED:
        real = {"mkdir": "/bin/mkdir"}.get(name)
        tail = f'exec {real} "$@"\n' if real else "exit 0\n"
        stub = bin_dir / name
        stub.write_text(f"#!/bin/bash\n{{ printf '%s\\0' {name} \"$@\"; printf '\\n--END--\\n'; }} >> {log}\n{tail}")
        stub.chmod(0o700)
    work = tmp_path / "work"
    work.mkdir()
    ran: list[str] = []

    def run(script: str, where: str, *, execute: bool = True) -> None:
        syntax = subprocess.run(["/bin/bash", "-n", "-c", script], capture_output=True, text=True, timeout=20)
        assert syntax.returncode == 0, f"{where}: bash -n refused {script!r}: {syntax.stderr}"
        if not execute:
            return
        env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "LC_ALL": "C"}
        proc = subprocess.run(
            ["/bin/bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=20
        )
        assert "command not found" not in proc.stderr, f"{where}: {script!r} ran something else: {proc.stderr}"
        ran.append(script)

    yield run
    assert ran, "no command was run"
    assert not [p for p in tmp_path.rglob("pwned")], "an injected command created a file"
    assert not Path("pwned").exists()
    programs = {e.split("\0", 1)[0] for e in log.read_text().split("\n--END--\n") if e} if log.exists() else set()
    assert programs <= ALLOWED, programs
    # everything written went into the bundle folder or the policy files the fix commands name
    for path in work.rglob("*"):
        rel = path.relative_to(work)
        assert rel.parts[0] in {"BUNDLE", "key-policy.json", "bucket-policy.json", "policy.json", "org-policy.json",
                                "ciphertext-new.bin"}, rel  # fmt: skip


def _argv_log(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "argv.log"
    entries = log.read_text().split("\n--END--\n") if log.exists() else []
    return [e.rstrip("\0").split("\0") for e in entries if e]


# -------------------------------------------------------------------------------------------- the tests


def test_every_command_builder_quotes_hostile_values(sandbox: Sandbox, tmp_path: Path) -> None:
    values = (*KEY_IDS, *ALIASES, *REGIONS, *SESSIONS, *ROLES, *BUCKETS, *ACCOUNTS)
    for v in values:
        arn = f"arn:aws:kms:eu-west-1:123456789012:key/{v}"
        built = [
            bundle_commands.describe_key(v, v, v),
            bundle_commands.get_key_policy(v, v, v),
            bundle_commands.list_grants(v, v, v),
            bundle_commands.list_resource_tags(v, v, v),
            bundle_commands.list_aliases(v, v),
            bundle_commands.list_keys(v, v),
            bundle_commands.authorization_details(v),
            bundle_commands.bucket_call(v, v, "get-bucket-policy"),
            bundle_commands.describe_policy(v, v),
            bundle_commands.list_targets(v, v),
            bundle_commands.list_parents(v, v),
            *fixes.key_policy_commands(arn, account=v, region=v),
            *fixes.identity_policy_commands(f"arn:aws:iam::123456789012:role/{v}", v, {"Sid": v}, account=v),
            *fixes.identity_policy_commands(f"arn:aws:sts::1:assumed-role/R/{v}", v, {}, account=v),
            *fixes.bucket_policy_commands(v, account=v),
            *fixes.managed_policy_commands(f"arn:aws:iam::123456789012:policy/{v}", account=v),
        ]
        for what in ("key_policy", "identity", "scp", "rcp", "bucket_policy", "trail", "other"):
            built += fixes.collect_commands(what, account=v, region=v, resource=arn)
            built += fixes.collect_commands(what, account=v, region=v, resource=v)
        (tmp_path / "work" / "BUNDLE").mkdir(exist_ok=True)
        for cmd in built:
            sandbox(cmd, f"builder for {v!r}", execute=False)
        sandbox("\n".join(built), f"all builders for {v!r} pasted together")
    # the values reached aws as single arguments, exactly
    args = {a for argv in _argv_log(tmp_path) if argv[0] == "aws" for a in argv}
    assert set(values) <= args | {a.rsplit("/", 1)[-1] for a in args}


def _database(scenario: str, tmp_path: Path, run_cli: Run) -> tuple[Path, list[str]]:
    db = tmp_path / f"{scenario}.duckdb"
    hostile = [v for rec in _failures(scenario) for v in _variants(rec)]
    trail = tmp_path / f"{scenario}-hostile.json"
    trail.write_text(json.dumps({"Records": hostile}))
    for args in (
        ("ingest", SAMPLES / scenario / "trails", trail),
        ("collect", "--from-dir", SAMPLES / scenario / "bundle"),
        ("diagnose",),
    ):
        code, _, err = run_cli("--db", db, "-q", *args)
        assert code == 0, (args, err)
    return db, [r["eventID"] for r in hostile]


@pytest.mark.slow  # five stories diagnosed, hundreds of bash runs: `python3 -m pytest -m slow`
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_printed_commands_of_explain_report_check_audit_run_only_aws(
    scenario: str, sandbox: Sandbox, tmp_path: Path, run_cli: Run
) -> None:
    db, ids = _database(scenario, tmp_path, run_cli)
    scripts: list[tuple[str, str]] = []
    for eid in ids:
        code, out, err = run_cli("--db", db, "--json", "explain", eid)
        assert code == 0, err
        doc = json.loads(out)
        cmds = list(_walk(doc))
        scripts += [(c, f"explain --json {eid}") for c in cmds]
        if cmds:
            scripts.append(("\n".join(cmds), f"explain --json {eid}, all lines pasted at once"))
        if "KMS::Key" not in json.dumps(doc.get("event")) and eid[-1] not in "135":
            continue  # the terminal view of a sample of the events (each explain is a full diagnosis)
        code, text, err = run_cli("--db", db, "explain", eid)
        assert code == 0, err
        for c in _walk(doc.get("findings")):  # the terminal shows the same fix commands, whole
            assert strip_control(c) in text, (eid, c)
    for fmt in ("json", "md", "html"):
        code, out, err = run_cli("--db", db, "report", "--since", "all", "--format", fmt, "--out", "-")
        assert code == 0, err
        if fmt == "json":
            scripts += [(c, "report json") for c in _walk(json.loads(out))]
        elif fmt == "md":
            scripts += [(c, "report md") for c in _md_commands(out)]
        else:
            blocks = _html_blocks(out)
            assert blocks, "the HTML report shows no command block"
            scripts += [(b, "report html block") for b in blocks]
    for key in KEY_IDS[:3] + ALIASES[:1]:
        code, out, err = run_cli(
            "--db", db, "--json", "check", "--principal", "arn:aws:iam::222222222222:role/DataProcessingRole",
            "--action", "kms:Decrypt", "--key", f"arn:aws:kms:us-east-1:111111111111:key/{key}",
        )  # fmt: skip
        if code in (0, 5):  # allowed / denied; exit 1 is "key not in the collected snapshot": an error, no JSON
            scripts += [(c, f"check --key {key!r}") for c in _walk(json.loads(out))]
        else:
            assert code == 1 and not out.strip() and "not found" in err, (code, out, err)
    code, out, err = run_cli("--db", db, "--json", "audit")
    if code == 0:
        scripts += [(c, "audit") for c in _walk(json.loads(out))]
    hostile_scripts = [(s, w) for s, w in scripts if "pwned" in s]
    assert hostile_scripts, "no printed command carried a hostile value: the test would prove nothing"
    (tmp_path / "work" / "BUNDLE").mkdir(exist_ok=True)
    for script, where in scripts:
        sandbox(script, where)
