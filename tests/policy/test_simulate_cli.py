"""`kmsdiag simulate`: one document, --json, --batch from a file and stdin, bad lines, bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from diag.policy.simulate import RequestDocumentError, simulate_document

from .helpers import KEY_ARN, ROLE_ARN, SESSION_ARN, policy, root_statement, stmt

DOC = {
    "request": {
        "principal": SESSION_ARN,
        "action": "kms:Decrypt",
        "resource": KEY_ARN,
        "resource_account": "111111111111",
        "context": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
    },
    "identity_policies": [policy(stmt(resource=KEY_ARN))],
    "resource_policy": policy(root_statement(), stmt(Principal={"AWS": ROLE_ARN})),
    "scps": [],
    "rcps": [],
    "permission_boundary": None,
    "session_policy": None,
    "grants": [],
}


def test_simulate_document_shape() -> None:
    out = simulate_document(DOC)
    assert out["decision"] == "Allowed"
    assert {lt["layer"] for lt in out["layers"]} >= {"key_policy", "identity", "scp", "rcp", "grants"}


def test_policy_as_json_text_and_iam_shape() -> None:
    doc = dict(DOC)
    doc["identity_policies"] = [
        json.dumps(policy(stmt(resource=KEY_ARN))),
        {"PolicyName": "inline", "PolicyDocument": policy(stmt("Deny"))},
    ]
    out = simulate_document(doc)
    assert out["decision"] == "ExplicitlyDenied"
    assert "inline" in out["reason"]


def test_grants_in_list_grants_shape() -> None:
    doc = dict(DOC, identity_policies=[], resource_policy=policy(root_statement()))
    doc["grants"] = [
        {
            "KeyId": KEY_ARN,
            "GrantId": "abc",
            "GranteePrincipal": ROLE_ARN,
            "Operations": ["Decrypt"],
            "Constraints": {"EncryptionContextSubset": {"a": "b"}},
        }
    ]
    assert simulate_document(doc)["decision"] == "ImplicitlyDenied"
    doc["request"] = dict(DOC["request"], context={"kms:EncryptionContext:a": "b"})
    assert simulate_document(doc)["decision"] == "Allowed"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "request"),
        ({"request": {"principal": "x"}}, "request.action"),
        ({"request": {"principal": "x", "action": "kms:Decrypt", "context": {"k": {"x": 1}}}}, "request.context.k"),
        (dict(DOC, identity_policies=[{"Statement": [{"Effect": "Allow"}]}]), "Action"),
        (dict(DOC, resource_policy="{not json"), "not valid JSON"),
        (dict(DOC, scps=[{"org_identifier": "r", "policies": "x"}]), "scps[0]"),
        (dict(DOC, grants=[{"Operations": "Decrypt"}]), "Operations"),
    ],
)
def test_invalid_documents(doc: dict, message: str) -> None:
    with pytest.raises(RequestDocumentError, match=message.replace("[", r"\[")):
        simulate_document(doc)


def test_cli_single_rendered(run_cli, tmp_path: Path) -> None:
    f = tmp_path / "req.json"
    f.write_text(json.dumps(DOC))
    code, out, err = run_cli("simulate", f)
    assert code == 0, err
    assert "Decision: Allowed" in out and "key_policy" in out


def test_cli_single_json(run_cli, tmp_path: Path) -> None:
    f = tmp_path / "req.json"
    f.write_text(json.dumps(DOC))
    code, out, _ = run_cli("simulate", f, "--json")
    assert code == 0
    assert json.loads(out)["decision"] == "Allowed"


def test_cli_escapes_hostile_strings(run_cli, tmp_path: Path) -> None:
    doc = json.loads(json.dumps(DOC))
    doc["request"]["principal"] = "arn:aws:iam::222222222222:user/[bold]x\x1b[31m"
    doc["resource_policy"]["Statement"][1]["Sid"] = "[red]boom\x07"
    f = tmp_path / "req.json"
    f.write_text(json.dumps(doc))
    code, out, _ = run_cli("simulate", f)
    assert code == 0
    assert "\x1b" not in out and "\x07" not in out
    assert "[bold]x" in out and "[red]boom" in out


def test_cli_batch_from_stdin_with_bad_lines(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    good = json.dumps(dict(DOC, id="first"))
    denied = json.dumps(dict(DOC, id="second", identity_policies=[]))
    lines = [good, "{not json", json.dumps({"id": "third", "request": {}}), "", denied]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, _ = run_cli("simulate", "--batch", "-")
    assert code == 3  # some lines were bad; every line still got its answer
    results = [json.loads(x) for x in out.splitlines()]
    assert [r.get("id") for r in results] == ["first", None, "third", "second"]
    assert results[0]["decision"] == "Allowed"
    assert results[1]["line"] == 2 and "JSON" in results[1]["error"]
    assert results[2]["line"] == 3 and "request" in results[2]["error"]
    assert results[3]["decision"] == "ImplicitlyDenied"


def test_cli_single_from_stdin(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(DOC)))
    code, out, _ = run_cli("simulate", "-", "--json")
    assert code == 0 and json.loads(out)["decision"] == "Allowed"


def test_cli_bad_input(run_cli, tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text("{")
    code, out, err = run_cli("simulate", f)
    assert code == 3 and out == "" and "not valid JSON" in err
    f.write_text(json.dumps({"request": {"principal": "x"}}))
    code, _, err = run_cli("simulate", f)
    assert code == 3 and "request.action" in err
    code, _, err = run_cli("simulate", tmp_path / "missing.json")
    assert code == 1


def test_cli_help_documents_options(run_cli) -> None:
    code, out, _ = run_cli("simulate", "--help")
    assert code == 0
    assert "Example:" in out and "one result per line out" in out and "--no-batch" not in out


def test_null_layers_are_unknown_and_absent_layers_are_none() -> None:
    doc = dict(DOC, identity_policies=None, scps=None, rcps=None, grants=None)
    out = simulate_document(doc)
    assert set(out["unknown"]) == {"identity", "scp", "rcp", "grants"}
    assert out["decision"] == "Allowed"  # the key policy names the role; gaps are computed as allowing
    minimal = {"request": DOC["request"]}
    out = simulate_document(minimal)
    assert out["unknown"] == [] and out["decision"] == "ImplicitlyDenied"
    assert out["deciding_layers"] == ["key_policy", "identity"]  # cross-account: both are missing


def test_cli_batch_full_trace_equals_the_section_7_object(run_cli, tmp_path: Path) -> None:
    """The batch writer serializes the trace dataclasses natively: same object as result_to_dict."""
    docs = [
        dict(DOC, id="a"),
        dict(DOC, id="b", identity_policies=[]),
        dict(DOC, id="c", grants=[{"KeyId": KEY_ARN, "GranteePrincipal": ROLE_ARN, "Operations": ["Decrypt"]}]),
        dict(DOC, id="d", scps=[{"org_identifier": "r-root", "policies": [policy(stmt("Deny"))]}]),
    ]
    f = tmp_path / "req.jsonl"
    f.write_text("\n".join(json.dumps(d) for d in docs + docs) + "\n")  # twice: memoized traces too
    code, out, _ = run_cli("simulate", "--batch", f)
    assert code == 0
    got = [json.loads(line) for line in out.splitlines()]
    want = [json.loads(json.dumps(simulate_document(d))) for d in docs + docs]
    assert got == want
    assert [r["decision"] for r in got[:4]] == ["Allowed", "ImplicitlyDenied", "Allowed", "ExplicitlyDenied"]
    assert list(got[0]) == list(simulate_document(docs[0]))  # id, then the section 7 keys, in order


def test_cli_batch_fields_compact(run_cli, tmp_path: Path) -> None:
    f = tmp_path / "req.jsonl"
    f.write_text(json.dumps(dict(DOC, id="x")) + "\n" + json.dumps(dict(DOC, identity_policies=[])) + "\n{bad\n")
    code, out, _ = run_cli("simulate", "--batch", f, "--fields", "decision, deciding_layers")
    assert code == 3
    lines = [json.loads(line) for line in out.splitlines()]
    full = [simulate_document(dict(DOC, id="x")), simulate_document(dict(DOC, identity_policies=[]))]
    assert lines[0] == {"id": "x", "decision": "Allowed", "deciding_layers": full[0]["deciding_layers"]}
    assert lines[1] == {"decision": "ImplicitlyDenied", "deciding_layers": full[1]["deciding_layers"]}
    assert "identity" in lines[1]["deciding_layers"]  # cross-account: the identity policies are missing
    assert lines[2]["line"] == 3 and "JSON" in lines[2]["error"]


def test_cli_single_json_fields(run_cli, tmp_path: Path) -> None:
    f = tmp_path / "req.json"
    f.write_text(json.dumps(dict(DOC, id=7)))
    code, out, _ = run_cli("simulate", f, "--json", "--fields", "decision,reason")
    assert code == 0
    got = json.loads(out)
    assert set(got) == {"id", "decision", "reason"} and got["decision"] == "Allowed" and got["id"] == 7


def test_cli_fields_unknown_name(run_cli, tmp_path: Path) -> None:
    f = tmp_path / "req.json"
    f.write_text(json.dumps(DOC))
    code, out, err = run_cli("simulate", f, "--json", "--fields", "decision,verdict")
    assert code == 3 and out == "" and "verdict" in err


@pytest.mark.parametrize(
    ("args", "recognized"),
    [
        (["simulate", "--batch", "-"], True),
        (["simulate", "f.jsonl", "--batch", "--fields", "decision"], True),
        (["simulate", "--batch", "--fields=decision,reason", "-q", "f.jsonl"], True),
        (["simulate", "--batch", "-", "--help"], False),
        (["simulate", "f.jsonl"], False),  # one document: rendered by the typer command
        (["simulate", "--batch", "a", "b"], False),
        (["simulate", "--batch", "--fields", "decision", "--fields", "reason", "-"], False),
        (["--db", "x", "simulate", "--batch", "-"], False),
        (["simulate", "--batch", "-", "--bogus"], False),
    ],
)
def test_fast_entry_recognizes_only_the_plain_batch_forms(args: list[str], recognized: bool) -> None:
    from diag.cli.simulate_batch import parse_batch

    assert (parse_batch(args) is not None) == recognized


def test_fast_entry_batch_writes_what_the_typer_command_writes(
    run_cli, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kmsdiag simulate --batch` through the entry point (no typer) gives the same lines and exit code."""
    from diag.cli.fast import main as entry

    f = tmp_path / "req.jsonl"
    f.write_text(json.dumps(dict(DOC, id="x")) + "\n{bad\n" + json.dumps(dict(DOC, identity_policies=[])) + "\n")
    for extra in ([], ["--fields", "decision,reason"]):
        code, out, _ = run_cli("simulate", "--batch", f, *extra)
        capsys.readouterr()
        fast_code = entry(["simulate", "--batch", str(f), *extra])
        assert (fast_code, capsys.readouterr().out) == (code, out)
        assert code == 3 and len(out.splitlines()) == 3
    monkeypatch.chdir(tmp_path)
    assert entry(["simulate", "--batch", "missing.jsonl"]) == run_cli("simulate", "--batch", "missing.jsonl")[0] != 0
