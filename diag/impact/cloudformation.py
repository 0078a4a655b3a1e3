"""Proposed changes from a CloudFormation template (JSON or YAML), for the same resources as a Terraform plan.

The template is the stack as it would be. Which existing key, role or policy each resource is comes from
the stack's description (``--cfn-stack``): the JSON of ``aws cloudformation describe-change-set``,
``describe-stack-resources`` or ``list-stack-resources`` (``LogicalResourceId`` → ``PhysicalResourceId``),
whose ``StackId`` also gives the pseudo parameters (partition, region, account, stack name) and whose
``Parameters`` give parameter values (``describe-change-set`` / ``describe-stacks``); ``--cfn-parameter
NAME=VALUE`` adds or overrides one. A parameter's ``Default`` is not assumed: an update may keep another.

Read (CloudFormation Template Reference): ``AWS::KMS::Key`` and ``AWS::KMS::ReplicaKey`` ``KeyPolicy``;
``AWS::IAM::Role`` / ``User`` / ``Group`` ``Policies`` (inline), ``ManagedPolicyArns`` and
``PermissionsBoundary``; ``AWS::IAM::Policy`` (``PolicyName``, ``PolicyDocument``, ``Roles``, ``Users``,
``Groups``); ``AWS::IAM::ManagedPolicy`` (``PolicyDocument`` and its ``Roles``/``Users``/``Groups``);
``AWS::Organizations::Policy`` (``Type``, ``Content``, ``TargetIds``). CloudFormation has no KMS grant
resource. A value that depends on an intrinsic function kmsdiag cannot resolve leaves that resource out,
with a note saying why (``diag.impact.intrinsics``): never a guess.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from diag import arn as arns
from diag.errors import BadInputError
from diag.impact.intrinsics import Resolver, Unresolved
from diag.impact.outcome import KeyDeletion, NotReplayed, Translation
from diag.proof.change import Change

Resolve = Callable[[str, str], str | None]  # (kind, name or ID) → ARN, from the collected data
Members = Callable[[str], tuple[str, ...]]  # group ARN → the ARNs of its collected users
InlineNames = Callable[[str], "frozenset[str] | None"]  # role/user ARN → its inline policies in force

_HOLDERS = {"AWS::IAM::Role": "role", "AWS::IAM::User": "user", "AWS::IAM::Group": "group"}
_KEYS = ("AWS::KMS::Key", "AWS::KMS::ReplicaKey")
_ORG_LAYERS = {"SERVICE_CONTROL_POLICY": "scp", "RESOURCE_CONTROL_POLICY": "rcp"}


# ---------------------------------------------------------------------------------------------- reading


def load_template(text: str, where: str) -> dict[str, Any]:
    """A template from JSON or YAML text (YAML's short forms ``!Ref``, ``!Sub``, ``!GetAtt``… become the
    JSON forms)."""
    try:
        doc = json.loads(text)
    except ValueError:
        doc = _yaml(text, where)
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise BadInputError(f"{where}: not a CloudFormation template (no Resources)")
    return doc


def _yaml(text: str, where: str) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if suffix in ("Ref", "Condition"):
            return {suffix: value}
        if suffix == "GetAtt" and isinstance(value, str):
            return {"Fn::GetAtt": value.split(".", 1)}
        return {f"Fn::{suffix}": value}

    Loader.add_multi_constructor("!", tagged)
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass: only the intrinsic tags added
    except yaml.YAMLError as exc:
        raise BadInputError(f"{where}: neither JSON nor YAML ({exc})") from exc


def stack_facts(desc: Any) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    """(physical IDs, actions, parameters, pseudo parameters) from a stack or change-set description."""
    if not isinstance(desc, dict):
        raise BadInputError("--cfn-stack: expected the JSON of describe-change-set or describe-stack-resources")
    physical: dict[str, str] = {}
    actions: dict[str, str] = {}
    rows = list(desc.get("StackResources") or desc.get("StackResourceSummaries") or [])
    for change in desc.get("Changes") or []:
        rc = change.get("ResourceChange") if isinstance(change, dict) else None
        if isinstance(rc, dict):
            rows.append(rc)
            actions[str(rc.get("LogicalResourceId"))] = str(rc.get("Action") or "")
    for row in rows:
        if isinstance(row, dict) and row.get("LogicalResourceId") and row.get("PhysicalResourceId"):
            physical[str(row["LogicalResourceId"])] = str(row["PhysicalResourceId"])
    stacks = desc.get("Stacks") or []
    params = desc.get("Parameters") or (stacks[0].get("Parameters") if stacks else None) or []
    parameters = {
        str(p["ParameterKey"]): str(p["ParameterValue"])
        for p in params
        if isinstance(p, dict) and "ParameterKey" in p and "ParameterValue" in p
    }
    stack_id = desc.get("StackId") or (stacks[0].get("StackId") if stacks else None)
    if not stack_id:
        stack_id = next((r.get("StackId") for r in rows if isinstance(r, dict) and r.get("StackId")), None)
    pseudo: dict[str, str] = {}
    stack = arns.parse(str(stack_id or ""))
    if stack is not None and stack.service == "cloudformation":  # arn:P:cloudformation:R:A:stack/NAME/ID
        pseudo = {"AWS::Partition": stack.partition, "AWS::Region": stack.region, "AWS::AccountId": stack.account}
        pseudo["AWS::StackId"] = str(stack_id)
        pseudo["AWS::StackName"] = stack.resource_id.split("/", 1)[0] if stack.resource_type else ""
    return physical, actions, parameters, pseudo


# ---------------------------------------------------------------------------------------------- changes


class _Template:
    def __init__(
        self,
        template: dict[str, Any],
        desc: Any,
        overrides: Mapping[str, str],
        resolve: Resolve,
        members: Members,
        inline_names: InlineNames | None = None,
    ) -> None:
        self.inline_names = inline_names
        physical, self.actions, parameters, pseudo = stack_facts(desc) if desc is not None else ({}, {}, {}, {})
        for name, value in overrides.items():
            (pseudo if name.startswith("AWS::") else parameters)[name] = value
        self.resources: dict[str, dict[str, Any]] = {
            k: v for k, v in template["Resources"].items() if isinstance(v, dict)
        }
        types = {k: str(v.get("Type")) for k, v in self.resources.items()}
        self.physical = physical
        self.resolve, self.members = resolve, members
        holders = {}
        for logical, kind in types.items():
            if kind in _HOLDERS and logical in physical:
                arn = resolve(_HOLDERS[kind], physical[logical])
                if arn:
                    holders[logical] = arn
        self.values = Resolver(parameters=parameters, pseudo=pseudo, physical=physical, types=types, arns=holders)
        self.notes: list[str] = []
        self.not_replayed: list[NotReplayed] = []
        self.deleted_keys: list[KeyDeletion] = []
        # managed policies of this template: ARN → (name, document) once resolved
        self.managed: dict[str, tuple[str, dict[str, Any]]] = {}

    def note(self, logical: str, kind: str, why: str) -> None:
        self.notes.append(f"{logical} ({kind}): {why}")

    def skip(self, logical: str, kind: str, why: str) -> None:
        """A resource whose effect is not replayed (reported; ``kmsdiag impact`` exits 3 on it)."""
        self.not_replayed.append(NotReplayed(logical, kind, why))

    def doc(self, value: Any, logical: str) -> dict[str, Any]:
        doc = self.values.value(value)
        if isinstance(doc, str):
            try:
                doc = json.loads(doc)
            except ValueError as exc:
                raise BadInputError(f"{logical}: the policy is not JSON ({exc})") from exc
        if not isinstance(doc, dict) or "Statement" not in doc:
            raise BadInputError(f"{logical}: not a policy document (no Statement)")
        return doc

    def holder(self, kind: str, ref: Any) -> str:
        """The ARN of a role, user or group named in the template (by name, ARN or Ref)."""
        name = self.values.text(ref)
        arn = self.resolve(kind, name)
        if arn is None:
            raise Unresolved(f"{kind} {name} is not in the collected IAM")
        return arn

    def identity(self, target: str, name: str, document: dict[str, Any] | None, *, op: str = "set_document") -> Change:
        members = self.members(target) if ":group/" in target else ()
        return Change("identity", op, target=target, name=name, document=document, members=members)

    def changes(self) -> list[Change]:
        out: list[Change] = []
        order = sorted(self.resources, key=lambda k: self.resources[k].get("Type") != "AWS::IAM::ManagedPolicy")
        for logical in order:  # managed policies first: the roles' ManagedPolicyArns refer to them
            res = self.resources[logical]
            kind, props = str(res.get("Type")), res.get("Properties") or {}
            try:
                out += self.resource(logical, kind, props)
            except Unresolved as exc:
                self.skip(logical, kind, f"not replayed: {exc}")
        out += self.removed()
        return out

    def resource(self, logical: str, kind: str, props: dict[str, Any]) -> list[Change]:
        if kind in _KEYS:
            return self.key(logical, kind, props)
        if kind in _HOLDERS:
            return self.holder_policies(logical, kind, props)
        if kind == "AWS::IAM::Policy":
            name = self.values.text(props.get("PolicyName"))
            doc = self.doc(props.get("PolicyDocument"), logical)
            return [self.identity(t, name, doc) for t in self.attached(props)]
        if kind == "AWS::IAM::ManagedPolicy":
            return self.managed_policy(logical, props)
        if kind == "AWS::Organizations::Policy":
            return self.org_policy(logical, kind, props)
        return []

    def key(self, logical: str, kind: str, props: dict[str, Any]) -> list[Change]:
        if logical not in self.physical:
            self.note(logical, kind, "a new key (not in the stack description) has no observed calls")
            return []
        key = self.resolve("key", self.physical[logical])
        if key is None:
            self.skip(logical, kind, f"{self.physical[logical]} is not a collected key")
            return []
        if props.get("KeyPolicy") is None:
            self.note(logical, kind, "no KeyPolicy: CloudFormation keeps the policy in force; nothing to replay")
            return []
        return [Change("key_policy", "set_document", target=key, document=self.doc(props["KeyPolicy"], logical))]

    def attached(self, props: dict[str, Any]) -> list[str]:
        out: list[str] = []
        for field, kind in (("Roles", "role"), ("Users", "user"), ("Groups", "group")):
            for ref in props.get(field) or []:
                out.append(self.holder(kind, ref))
        return out

    def holder_policies(self, logical: str, kind: str, props: dict[str, Any]) -> list[Change]:
        if logical not in self.physical:
            self.note(logical, kind, "a new principal (not in the stack description) has no observed calls")
            return []
        target = self.values.get_att(logical, "Arn")
        out: list[Change] = []
        listed: set[str] = set()
        complete = True
        for pol in props.get("Policies") or []:
            try:
                name = self.values.text(pol.get("PolicyName"))
                listed.add(name)
                out.append(self.identity(target, name, self.doc(pol.get("PolicyDocument"), logical)))
            except Unresolved as exc:
                complete = False
                self.skip(logical, kind, f"inline policy not replayed: {exc}")
        out += self.dropped_inline(logical, kind, target, listed, complete)
        for ref in props.get("ManagedPolicyArns") or []:
            try:
                arn = self.values.text(ref)
            except Unresolved as exc:
                self.skip(logical, kind, f"managed policy attachment not replayed: {exc}")
                continue
            if arn in self.managed:
                out.append(self.identity(target, self.managed[arn][0], self.managed[arn][1]))
            else:
                self.skip(
                    logical, kind, f"the document of {arn} is not in the template; its attachment is not replayed"
                )
        boundary = props.get("PermissionsBoundary")
        if boundary is not None and kind != "AWS::IAM::Group":
            arn = self.values.text(boundary)
            if arn in self.managed:
                name, doc = self.managed[arn]
                out.append(Change("permission_boundary", "set_document", target=target, name=name, document=doc))
            else:
                self.skip(logical, kind, f"the permissions boundary {arn} is not in the template; not replayed")
        return out

    def dropped_inline(self, logical: str, kind: str, target: str, listed: set[str], complete: bool) -> list[Change]:
        """The inline policies in force that the template's ``Policies`` no longer lists: CloudFormation
        deletes them. Not decided when a listed name is unresolved (it may be one of them)."""
        if self.inline_names is None or kind == "AWS::IAM::Group":
            return []
        names = self.inline_names(target)
        if names is None:
            return []
        gone = sorted(names - listed)
        if gone and not complete:
            self.skip(logical, kind, f"inline policies {', '.join(gone)} may be deleted: not replayed")
            return []
        return [self.identity(target, n, None, op="remove_document") for n in gone]

    def managed_policy(self, logical: str, props: dict[str, Any]) -> list[Change]:
        doc = self.doc(props.get("PolicyDocument"), logical)
        arn = self.physical.get(logical)
        if arn is None:  # a new policy: only the attachments the template declares grant anything
            name = str(self.values.value(props.get("ManagedPolicyName")) or logical)
            return [self.identity(t, name, doc) for t in self.attached(props)]
        name = arns.name_of(arn) or arn
        self.managed[arn] = (name, doc)
        # every holder of the policy sees the new document; the template's attachments hold it too
        return [Change("identity", "set_document", name=name, document=doc)] + [
            self.identity(t, name, doc) for t in self.attached(props)
        ]

    def org_policy(self, logical: str, kind: str, props: dict[str, Any]) -> list[Change]:
        layer = _ORG_LAYERS.get(str(self.values.value(props.get("Type"))))
        if layer is None:
            return []
        doc = self.doc(props.get("Content"), logical)
        pid = self.physical.get(logical)
        if pid is not None:
            return [Change(layer, "set_document", name=pid, document=doc)]
        targets = [self.values.text(t) for t in props.get("TargetIds") or []]
        if not targets:
            self.note(logical, kind, "a new organization policy applies nowhere until attached")
        name = str(self.values.value(props.get("Name")) or logical)
        return [Change(layer, "set_document", target=t, name=name, document=doc) for t in targets]

    def removed(self) -> list[Change]:
        """Resources the change set removes (or the stack has and the template no longer declares)."""
        out: list[Change] = []
        for logical, pid in self.physical.items():
            if logical in self.resources or self.actions.get(logical, "Remove") != "Remove":
                continue
            policy = arns.parse(pid)
            if policy is not None and policy.service == "iam" and policy.resource_type == "policy":
                out.append(Change("identity", "remove_document", name=policy.name))
            elif self.resolve("key", pid) is not None:
                key = self.resolve("key", pid)
                assert key is not None
                self.deleted_keys.append(KeyDeletion(key, logical))
                self.notes.append(
                    f"{logical}: the key {key} is removed from the stack (scheduled for deletion):"
                    " every observed call on it breaks"
                )
            else:
                self.not_replayed.append(NotReplayed(logical, "", f"{pid} is removed from the stack: not replayed"))
        return out


def template_changes(
    template: dict[str, Any],
    resolve: Resolve,
    *,
    stack: Any = None,
    parameters: Mapping[str, str] | None = None,
    members: Members | None = None,
    inline_names: InlineNames | None = None,
) -> tuple[list[Change], list[str]]:
    """The changes a template makes to the policies in force, and notes (with what could not be replayed).
    ``inline_names``: a role's or user's inline policies in force (those the template drops are deleted)."""
    t = template_translation(
        template, resolve, stack=stack, parameters=parameters, members=members, inline_names=inline_names
    )
    return t.changes, t.all_notes()


def template_translation(
    template: dict[str, Any],
    resolve: Resolve,
    *,
    stack: Any = None,
    parameters: Mapping[str, str] | None = None,
    members: Members | None = None,
    inline_names: InlineNames | None = None,
) -> Translation:
    """The changes a template makes to the policies in force, the keys it removes, what it could not
    replay, and notes."""
    t = _Template(template, stack, parameters or {}, resolve, members or (lambda _g: ()), inline_names)
    changes = t.changes()
    return Translation(changes, t.deleted_keys, t.not_replayed, t.notes)
