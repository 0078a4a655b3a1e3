"""Every real AccessDenied message form, parsed; the claim is kept as a hint, never as the verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diag.errortext import parse_error

P = "arn:aws:sts::222222222222:assumed-role/DataProcessingRole/etl"
K = "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
HEAD = f"User: {P} is not authorized to perform: kms:Decrypt on resource: {K}"


@pytest.mark.parametrize(
    ("tail", "layer", "effect"),
    [
        (" because no identity-based policy allows the kms:Decrypt action", "identity", "implicit"),
        (" because no resource-based policy allows the kms:Decrypt action", "resource", "implicit"),
        (" because no service control policy allows the kms:Decrypt action", "scp", "implicit"),
        (" because no resource control policy allows the kms:Decrypt action", "rcp", "implicit"),
        (" because no permissions boundary allows the kms:Decrypt action", "permission_boundary", "implicit"),
        (" because no session policy allows the kms:Decrypt action", "session_policy", "implicit"),
        (" because no VPC endpoint policy allows the kms:Decrypt action", "vpc_endpoint", "implicit"),
        (" with an explicit deny in an identity-based policy", "identity", "explicit"),
        (" with an explicit deny in a resource-based policy", "resource", "explicit"),
        (" with an explicit deny in a service control policy", "scp", "explicit"),
        (" with an explicit deny in a resource control policy", "rcp", "explicit"),
        (" with an explicit deny in a permissions boundary", "permission_boundary", "explicit"),
        (" with an explicit deny in a session policy", "session_policy", "explicit"),
        ("", None, None),
    ],
)
def test_layer_forms(tail: str, layer: str | None, effect: str | None) -> None:
    e = parse_error(HEAD + tail)
    assert (e.principal, e.action, e.resource, e.resource_kind) == (P, "kms:Decrypt", K, "arn")
    assert (e.claimed_layer, e.claimed_effect) == (layer, effect)
    assert e.error_code == "AccessDenied" and e.recognized


def test_explicit_deny_with_policy_arn() -> None:
    e = parse_error(
        HEAD + " with an explicit deny in an identity-based policy: arn:aws:iam::222222222222:policy/DenyKms"
    )
    assert e.policy_arn == "arn:aws:iam::222222222222:policy/DenyKms" and e.claimed_effect == "explicit"


def test_ciphertext_form_and_sdk_wrappers() -> None:
    boto = (
        "An error occurred (AccessDeniedException) when calling the Decrypt operation: "
        f"User: {P} is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext because the"
        " resource does not exist in this Region, no resource-based policies allow access, or a resource-based policy"
        " explicitly denies access"
    )
    e = parse_error(boto)
    assert e.resource is None and e.resource_kind == "ciphertext" and e.claimed_layer == "resource"
    assert e.error_code == "AccessDeniedException" and e.operation == "Decrypt"
    assert "does not exist in this Region" in e.claim
    java = (
        HEAD
        + " (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: 0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b; Proxy: null)"
    )
    j = parse_error(java)
    assert j.request_id == "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b" and j.service == "AWSKMS"
    old = parse_error(
        "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access."
    )
    assert old.resource_kind == "ciphertext" and old.recognized


@pytest.mark.parametrize(
    ("text", "state", "code"),
    [
        (
            f"An error occurred (NotFoundException) when calling the Decrypt operation: Key '{K}' does not exist",
            "not_found",
            "NotFoundException",
        ),
        ("Alias arn:aws:kms:us-east-1:111111111111:alias/data is not found.", "not_found", "NotFoundException"),
        (f"{K} is disabled.", "disabled", "DisabledException"),
        (f"{K} is pending deletion.", "pending_deletion", "KMSInvalidStateException"),
    ],
)
def test_key_state_forms(text: str, state: str, code: str) -> None:
    e = parse_error(text)
    assert e.state == state and e.error_code == code and e.recognized


def test_not_an_error() -> None:
    assert not parse_error("connection reset by peer").recognized


def test_real_messages_from_shared_events(shared_dir: Path) -> None:
    seen = 0
    for f in sorted((shared_dir / "real_events").glob("*.json")):
        for m in __import__("re").finditer(r'"errorMessage":\s*"((?:[^"\\]|\\.)*)"', f.read_text()):
            e = parse_error(json.loads(f'"{m.group(1)}"'))
            if "not authorized" in m.group(1):
                assert e.principal and e.action, m.group(1)
                seen += 1
    assert seen >= 4
