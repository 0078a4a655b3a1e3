"""CloudFormation input of `kmsdiag impact` (diag.impact.cloudformation, diag.impact.intrinsics): a template
with its change set gives the same answer as the raw policy document; a value the template leaves to
deployment is reported, never guessed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from diag.errors import BadInputError
from diag.impact.cloudformation import load_template, stack_facts, template_changes
from diag.impact.intrinsics import Resolver, Unresolved

from .test_impact_walkthrough import DATA, KEY, ROLE, Run, _callers, _impact, _write, db  # noqa: F401

STACK = "arn:aws:cloudformation:us-east-1:111111111111:stack/shared-data/6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"


def _resolver(**physical: str) -> Resolver:
    return Resolver(
        parameters={"Env": "prod"},
        pseudo={"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "111111111111"},
        physical=physical,
        types={"Key": "AWS::KMS::Key", "Role": "AWS::IAM::Role", "Bucket": "AWS::S3::Bucket"},
    )


def test_intrinsics_resolve_only_what_is_certain() -> None:
    r = _resolver(Key="1234abcd-12ab-34cd-56ef-1234567890ab")
    assert r.value({"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${Env}-app"}) == (
        "arn:aws:iam::111111111111:role/prod-app"
    )
    assert r.value({"Fn::Sub": ["${Name}/x", {"Name": {"Ref": "Env"}}]}) == "prod/x"
    assert r.value({"Fn::Join": [":", ["a", {"Ref": "Env"}]]}) == "a:prod"
    assert r.value({"Fn::GetAtt": ["Key", "Arn"]}) == (
        "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    assert r.value({"Fn::Sub": "${!Literal}"}) == "${Literal}"
    for node in (
        {"Ref": "Missing"},
        {"Ref": "Role"},  # created by the stack, no physical ID given
        {"Fn::GetAtt": ["Bucket", "Arn"]},
        {"Fn::ImportValue": "shared-key"},
        {"Fn::If": ["IsProd", "a", "b"]},
        {"Fn::Sub": "arn:aws:iam::${AWS::NotAPseudo}:root"},
    ):
        with pytest.raises(Unresolved):
            r.value(node)


def test_yaml_short_forms_become_the_json_forms() -> None:
    tpl = load_template((DATA / "cfn_remove_cross_account.yaml").read_text(), "t.yaml")
    props = tpl["Resources"]["SharedDataKey"]["Properties"]
    assert props["KeyPolicy"]["Statement"][0]["Principal"]["AWS"] == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"
    }
    assert tpl["Outputs"]["KeyArn"]["Value"] == {"Fn::GetAtt": ["SharedDataKey", "Arn"]}
    with pytest.raises(BadInputError):
        load_template("Resources: [unclosed", "bad.yaml")
    with pytest.raises(BadInputError):
        load_template('{"AWSTemplateFormatVersion": "2010-09-09"}', "empty.json")


def test_change_set_gives_physical_ids_parameters_and_pseudo_parameters() -> None:
    physical, actions, params, pseudo = stack_facts(json.loads((DATA / "cfn_change_set.json").read_text()))
    assert physical == {"SharedDataKey": "085c09ad-f85a-5531-8e2f-151b581e7234"}
    assert actions == {"SharedDataKey": "Modify"}
    assert params == {"AdminRoleName": "AWSReservedSSO_AdministratorAccess_5f2b1c0a9d8e7f61"}
    assert pseudo["AWS::AccountId"] == "111111111111" and pseudo["AWS::Region"] == "us-east-1"
    assert pseudo["AWS::StackName"] == "shared-data" and pseudo["AWS::StackId"] == STACK


def _resolve(kind: str, ref: str) -> str | None:
    if kind == "key":
        return KEY if ref in (KEY, KEY.rsplit("/", 1)[-1]) else None
    names = {"role": {"DataProcessingRole": ROLE}, "group": {"Analysts": "arn:aws:iam::222222222222:group/Analysts"}}
    return ref if ref.startswith("arn:") else names.get(kind, {}).get(ref)


def test_template_changes_for_iam_and_organizations() -> None:
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
    tpl: dict[str, Any] = {
        "Resources": {
            "Inline": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"PolicyName": "decrypt", "PolicyDocument": doc, "Roles": [{"Ref": "RoleName"}]},
            },
            "ForGroup": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"PolicyName": "g", "PolicyDocument": json.dumps(doc), "Groups": ["Analysts"]},
            },
            "Scp": {
                "Type": "AWS::Organizations::Policy",
                "Properties": {"Type": "SERVICE_CONTROL_POLICY", "Content": doc, "TargetIds": ["ou-ab12-cdef3456"]},
            },
            "Unknown": {
                "Type": "AWS::IAM::Policy",
                "Properties": {"PolicyName": "x", "PolicyDocument": doc, "Roles": [{"Fn::ImportValue": "r"}]},
            },
        }
    }
    changes, notes = template_changes(
        tpl,
        _resolve,
        parameters={"RoleName": "DataProcessingRole"},
        members=lambda g: ("arn:aws:iam::222222222222:user/ana",) if g.endswith("/Analysts") else (),
    )
    by = {(c.kind, c.target): c for c in changes}
    assert by[("identity", ROLE)].name == "decrypt" and by[("identity", ROLE)].document == doc
    group = by[("identity", "arn:aws:iam::222222222222:group/Analysts")]
    assert group.members == ("arn:aws:iam::222222222222:user/ana",) and group.document == doc
    assert by[("scp", "ou-ab12-cdef3456")].op == "set_document"
    assert len(changes) == 3
    assert any(n.startswith("Unknown (AWS::IAM::Policy): not replayed: Fn::ImportValue") for n in notes)


def test_cloudformation_template_gives_the_same_answer_as_the_raw_document(run_cli: Run, db: Path) -> None:  # noqa: F811
    _, raw = _impact(run_cli, db, "--key-policy", DATA / "key_policy_remove_cross_account.json", "--key", KEY)
    code, cfn = _impact(
        run_cli,
        db,
        "--cfn-template",
        DATA / "cfn_remove_cross_account.yaml",
        "--cfn-stack",
        DATA / "cfn_change_set.json",
    )
    assert code == 5
    assert _callers(cfn) == [(ROLE, "kms:Decrypt"), (ROLE, "kms:GenerateDataKey")]
    for k in ("breaks", "unchanged", "new_access", "removed_access", "unexplained", "observed", "changes"):
        assert cfn[k] == raw[k], k


def test_cloudformation_values_not_known_are_reported_not_guessed(run_cli: Run, db: Path, tmp_path: Path) -> None:  # noqa: F811
    # without the change set the key behind SharedDataKey is not known: nothing is replayed, and it says so
    code, rep = _impact(run_cli, db, "--cfn-template", DATA / "cfn_remove_cross_account.yaml")
    assert code == 0 and rep["changes"] == [] and rep["breaks"] == []
    assert any("SharedDataKey (AWS::KMS::Key)" in n and "new key" in n for n in rep["notes"])
    # a stack listing without the parameter: the Default is not assumed
    listing = {
        "StackResources": [
            {
                "StackName": "shared-data",
                "StackId": STACK,
                "LogicalResourceId": "SharedDataKey",
                "PhysicalResourceId": KEY.rsplit("/", 1)[-1],
                "ResourceType": "AWS::KMS::Key",
            }
        ]
    }
    stack = _write(tmp_path, "stack.json", listing)
    code, rep = _impact(
        run_cli,
        db,
        "--cfn-template",
        DATA / "cfn_remove_cross_account.yaml",
        "--cfn-stack",
        stack,
        "--allow-unreplayed",  # the key policy is not replayed: without it, exit 3 (test_not_replayed.py)
    )
    assert rep["changes"] == [] and any("AdminRoleName" in n for n in rep["notes"])
    # the parameter given on the command line: the same answer as the change set
    code, rep = _impact(
        run_cli,
        db,
        "--cfn-template",
        DATA / "cfn_remove_cross_account.yaml",
        "--cfn-stack",
        stack,
        "--cfn-parameter",
        "AdminRoleName=AWSReservedSSO_AdministratorAccess_5f2b1c0a9d8e7f61",
    )
    assert code == 5 and _callers(rep) == [(ROLE, "kms:Decrypt"), (ROLE, "kms:GenerateDataKey")]


def test_cloudformation_json_template(run_cli: Run, db: Path, tmp_path: Path) -> None:  # noqa: F811
    tpl = load_template((DATA / "cfn_remove_cross_account.yaml").read_text(), "t.yaml")
    path = _write(tmp_path, "t.json", tpl)
    code, rep = _impact(run_cli, db, "--cfn-template", path, "--cfn-stack", DATA / "cfn_change_set.json")
    assert code == 5 and _callers(rep) == [(ROLE, "kms:Decrypt"), (ROLE, "kms:GenerateDataKey")]


def test_template_resolution_agrees_with_moto_cloudformation(tmp_path: Path) -> None:
    """The key policy kmsdiag reads from a template is the one CloudFormation (moto's implementation, which
    kmsdiag did not write) gives the key, for the same stack parameters and pseudo parameters."""
    import boto3
    from moto import mock_aws

    text = (DATA / "cfn_remove_cross_account.yaml").read_text()
    value = "AWSReservedSSO_AdministratorAccess_5f2b1c0a9d8e7f61"
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        kms = boto3.client("kms", region_name="us-east-1")
        cfn.create_stack(
            StackName="shared-data",
            TemplateBody=text,
            Parameters=[{"ParameterKey": "AdminRoleName", "ParameterValue": value}],
        )
        listing = cfn.describe_stack_resources(StackName="shared-data")
        key_id = next(
            r["PhysicalResourceId"] for r in listing["StackResources"] if r["ResourceType"] == "AWS::KMS::Key"
        )
        policy = kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
        deployed = json.loads(policy) if isinstance(policy, str) else policy  # moto returns the template's object
        account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    key_arn = f"arn:aws:kms:us-east-1:{account}:key/{key_id}"
    listing = json.loads(json.dumps(listing, default=str))
    changes, notes = template_changes(
        load_template(text, "t.yaml"),
        lambda kind, ref: key_arn if kind == "key" and ref == key_id else None,
        stack=listing,
        parameters={"AdminRoleName": value},
    )
    assert notes == [] and len(changes) == 1
    assert changes[0].target == key_arn and changes[0].document == deployed


def test_fixture_template_is_valid_for_cfn_lint() -> None:
    """cfn-lint (AWS's template linter, from the CloudFormation resource specification) finds nothing in
    the fixture: its properties are the documented ones."""
    from cfnlint.api import lint

    assert lint((DATA / "cfn_remove_cross_account.yaml").read_text()) == []


def test_inline_policy_dropped_from_a_role_breaks_its_calls(run_cli: Run, db: Path, tmp_path: Path) -> None:  # noqa: F811
    """CloudFormation deletes a role's inline policy that the template's Policies no longer lists: the
    role's KMS calls, allowed by that policy, break at the identity layer."""
    tpl = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": "DataProcessingRole",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "glue.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "read-bucket",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                            },
                        }
                    ],
                },
            }
        }
    }
    stack = {
        "StackResources": [
            {
                "StackId": "arn:aws:cloudformation:us-east-1:222222222222:stack/etl/1b2c3d4e-0000-4000-8000-000000000000",
                "LogicalResourceId": "Role",
                "PhysicalResourceId": "DataProcessingRole",
                "ResourceType": "AWS::IAM::Role",
            }
        ]
    }
    code, rep = _impact(
        run_cli, db, "--cfn-template", _write(tmp_path, "t.json", tpl), "--cfn-stack", _write(tmp_path, "s.json", stack)
    )
    assert code == 5
    assert _callers(rep) == [(ROLE, "kms:Decrypt"), (ROLE, "kms:GenerateDataKey")]
    assert all(b["refused_by"]["layers"] == ["identity"] for b in rep["breaks"])
    assert f"remove document in identity shared-data-key-decrypt of {ROLE}" in rep["changes"]
