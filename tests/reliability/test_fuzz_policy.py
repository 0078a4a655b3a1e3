"""Fuzz the policy parser and engine (never crash, fail closed on what they do not understand) and
`explain --error` on random text."""

from __future__ import annotations

import copy
import json
import random
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from diag.policy.parse import PolicyError, parse_policy
from diag.policy.simulate import RequestDocumentError, simulate_document
from tests.reliability.corpus import SHARED, WRONG_TYPES, _paths, _set

pytestmark = pytest.mark.slow  # kill loops, moto servers or fuzzing budgets: `python3 -m pytest -m slow`

DECISIONS = {"Allowed", "ExplicitlyDenied", "ImplicitlyDenied"}
KNOWN_OPERATORS = {
    "stringequals", "stringnotequals", "stringequalsignorecase", "stringnotequalsignorecase", "stringlike",
    "stringnotlike", "numericequals", "numericnotequals", "numericlessthan", "numericlessthanequals",
    "numericgreaterthan", "numericgreaterthanequals", "dateequals", "datenotequals", "datelessthan",
    "datelessthanequals", "dategreaterthan", "dategreaterthanequals", "bool", "binaryequals", "ipaddress",
    "notipaddress", "arnequals", "arnlike", "arnnotequals", "arnnotlike", "null",
}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=5),
    max_leaves=30,
)


@lru_cache(maxsize=1)
def conformance_docs() -> tuple[dict[str, Any], ...]:
    path = SHARED / "conformance" / "iam_conformance.jsonl"
    if not path.is_file():
        return ()
    return tuple(json.loads(line) for line in path.read_text().splitlines() if line.strip())


def _docs() -> tuple[dict[str, Any], ...]:
    docs = conformance_docs()
    if not docs:
        pytest.skip("../shared/conformance is absent")
    return docs


def _simulate(doc: Any) -> dict[str, Any] | None:
    try:
        out = simulate_document(doc)
    except (RequestDocumentError, PolicyError):
        return None
    assert out["decision"] in DECISIONS
    return out


@given(json_values)
def test_parse_policy_random_json(doc: Any) -> None:
    try:
        parse_policy(doc)
    except PolicyError as exc:
        assert str(exc)


@given(st.text(max_size=300))
def test_parse_policy_random_text(text: str) -> None:
    try:
        parse_policy(text)
    except PolicyError as exc:
        assert str(exc)


@given(
    st.integers(0, 10**6),
    st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(WRONG_TYPES[:14])), min_size=1, max_size=6),
)
def test_simulate_mutated_conformance_documents(pick: int, changes: list[tuple[int, Any]]) -> None:
    """Wrong types anywhere in a real request document: a decision or a RequestDocumentError, nothing else."""
    docs = _docs()
    doc = copy.deepcopy(docs[pick % len(docs)])
    doc.pop("expected", None)
    for where, value in changes:
        paths = _paths(doc)
        try:
            # a copy: WRONG_TYPES is shared, and a later change may land inside this value
            _set(doc, paths[where % len(paths)], copy.deepcopy(value))
        except (KeyError, IndexError, TypeError):
            continue
    _simulate(doc)


@given(st.integers(0, 10**6), json_values)
def test_simulate_random_policy_in_every_layer(pick: int, policy: Any) -> None:
    docs = _docs()
    doc = copy.deepcopy(docs[pick % len(docs)])
    doc.pop("expected", None)
    layer = ("identity_policies", "resource_policy", "permission_boundary", "session_policy")[pick % 4]
    doc[layer] = [policy] if layer == "identity_policies" else policy
    _simulate(doc)


def _allowed_docs() -> list[dict[str, Any]]:
    return [d for d in _docs() if d.get("expected") == "Allowed"]


unknown_operator = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=20)


@given(st.integers(0, 10**6), unknown_operator)
def test_unknown_condition_operator_on_allow_fails_closed(pick: int, operator: str) -> None:
    """Every Allow statement gets a condition with an operator the engine does not know: never Allowed."""
    base = operator.split(":")[-1].removesuffix("IfExists").lower()
    assume(base not in KNOWN_OPERATORS and base)
    docs = _allowed_docs()
    doc = copy.deepcopy(docs[pick % len(docs)])
    doc.pop("expected", None)
    touched = 0
    for pol in _policies(doc):
        stmts = pol.get("Statement")
        for s in stmts if isinstance(stmts, list) else [stmts]:
            if isinstance(s, dict) and s.get("Effect") == "Allow":
                s.setdefault("Condition", {})[operator] = {"aws:PrincipalTag/team": "x"}
                touched += 1
    assume(touched)
    out = _simulate(doc)
    assert out is None or out["decision"] != "Allowed", out


@given(st.integers(0, 10**6))
def test_explicit_deny_everything_always_wins(pick: int) -> None:
    docs = _docs()
    doc = copy.deepcopy(docs[pick % len(docs)])
    doc.pop("expected", None)
    assume(not _service_principal(doc))  # identity policies never govern AWS service principals
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    doc["identity_policies"] = [*(doc.get("identity_policies") or []), deny]
    out = _simulate(doc)
    assert out is not None and out["decision"] == "ExplicitlyDenied"


@given(st.integers(0, 10**6), st.sampled_from(["allow", "ALLOW", "Allow ", "Permit", "", None, 1, True, ["Allow"]]))
def test_effect_not_exactly_allow_is_refused_or_denied(pick: int, effect: Any) -> None:
    docs = _allowed_docs()
    doc = copy.deepcopy(docs[pick % len(docs)])
    doc.pop("expected", None)
    for pol in _policies(doc):
        stmts = pol.get("Statement")
        for s in stmts if isinstance(stmts, list) else [stmts]:
            if isinstance(s, dict) and s.get("Effect") == "Allow":
                s["Effect"] = effect
    out = _simulate(doc)
    assert out is None or out["decision"] != "Allowed"


def _service_principal(doc: dict[str, Any]) -> bool:
    return not str(doc.get("request", {}).get("principal", "")).startswith("arn:")


def _policies(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = [p for p in doc.get("identity_policies") or [] if isinstance(p, dict)]
    for name in ("resource_policy", "permission_boundary", "session_policy"):
        if isinstance(doc.get(name), dict):
            out.append(doc[name])
    for level in (doc.get("scps") or []) + (doc.get("rcps") or []):
        out.extend(p for p in level.get("policies", []) if isinstance(p, dict))
    return out


# ------------------------------------------------------------------------------------ explain --error

ERROR_SHAPES = (
    "User: {p} is not authorized to perform: {a} on resource: {r}",
    "User: {p} is not authorized to perform: {a} on resource: {r} because no identity-based policy allows the {a} action",
    "An error occurred (AccessDeniedException) when calling the Decrypt operation: {t}",
    "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access. {t}",
    "{r} is disabled. (Service: Kms, Status Code: 400, Request ID: {t})",
)


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diag.store import open_db

    path = tmp_path_factory.mktemp("explain") / "e.duckdb"
    open_db(path).close()
    return path


def _explain(db: Path, text: str) -> None:
    from diag.errors import KmsdiagError
    from diag.explain import explain_error
    from diag.store import open_db

    con = open_db(db, read_only=True)
    try:
        diag = explain_error(con, text)
        assert diag.verdict
    except KmsdiagError as exc:
        assert exc.exit_code in (1, 3) and exc.message
    finally:
        con.close()


@given(st.text(max_size=400))
def test_explain_error_random_text(empty_db: Path, text: str) -> None:
    _explain(empty_db, text)


@given(
    st.sampled_from(ERROR_SHAPES),
    st.text(max_size=80),
    st.text(max_size=40),
    st.text(max_size=80),
    st.text(max_size=40),
    st.randoms(use_true_random=False),
)
def test_explain_error_mutated_messages(
    empty_db: Path, shape: str, p: str, a: str, r: str, t: str, rnd: random.Random
) -> None:
    p = rnd.choice([p, "arn:aws:sts::222222222222:assumed-role/" + p + "/s", "arn:aws:iam::" + p])
    a = rnd.choice([a, "kms:" + a, "kms:Decrypt"])
    r = rnd.choice([r, "arn:aws:kms:us-east-1:111111111111:key/" + r, "arn:aws:kms:" + r])
    _explain(empty_db, shape.format(p=p, a=a, r=r, t=t))


def test_unknown_operator_on_deny_fails_closed() -> None:
    """A Deny whose condition the engine cannot evaluate is treated as matching: no allowed case stays
    allowed (except AWS service principals, which identity policies never govern)."""
    checked = 0
    for d in _allowed_docs():
        doc = copy.deepcopy(d)
        doc.pop("expected", None)
        if _service_principal(doc):
            continue  # identity policies do not apply to AWS service principals
        cond = {"StringFuzzyMatch": {"aws:PrincipalTag/team": "x"}}
        deny = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": cond}],
        }
        doc["identity_policies"] = [*(doc.get("identity_policies") or []), deny]
        out = _simulate(doc)
        assert out is not None and out["decision"] != "Allowed", doc["id"]
        checked += 1
    assert checked >= 20
