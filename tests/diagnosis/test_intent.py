"""WRONG_ASSUMED_ROLE from the policies' intent (diag.rules._intent)."""

from __future__ import annotations

import datetime as dt

from diag.policy.model import Layer, LayerResult
from diag.rules import run_rules

from .builders import CALLER_ACCT, KEY_ARN, case, layer, result, stmt

APP = f"arn:aws:iam::{CALLER_ACCT}:role/invoice-renderer"
USED = ((APP, 4, dt.datetime(2026, 11, 28, 9, 50)),)


def _case(identity_resource: tuple[str, ...] | None, users: tuple[object, ...] = USED):  # type: ignore[no-untyped-def]
    key_stmt = stmt(Layer.KEY_POLICY, 2, sid="AllowRenderer", principal=False, principal_values=(APP,))
    ident = (
        layer(Layer.IDENTITY, LayerResult.IMPLICITLY_DENIED)
        if identity_resource is None
        else layer(
            Layer.IDENTITY,
            LayerResult.IMPLICITLY_DENIED,
            stmt(Layer.IDENTITY, 0, resource=True, resource_values=identity_resource, principal=None),
        )
    )
    res = result(layer(Layer.KEY_POLICY, LayerResult.IMPLICITLY_DENIED, key_stmt), ident)
    return case(res, extra={"key_users": users})


def test_caller_that_no_policy_names_while_the_named_role_uses_the_key() -> None:
    found = run_rules(_case(None))
    assert found[0].code == "WRONG_ASSUMED_ROLE"
    assert found[0].evidence["allowed_principal"] == APP and found[0].evidence["inference"] is True
    assert "4 time(s)" in found[0].summary


def test_no_inference_without_a_successful_use_or_when_the_callers_own_policy_names_the_key() -> None:
    assert "WRONG_ASSUMED_ROLE" not in [f.code for f in run_rules(_case(None, users=()))]
    assert "WRONG_ASSUMED_ROLE" not in [f.code for f in run_rules(_case((KEY_ARN,)))]
