"""A proposed change as ``kmsdiag impact`` takes it: policy files for named targets (a key, a role, user
or group, a permissions boundary, an OU or account), a grant to revoke, a Terraform plan or a
CloudFormation template; names (key IDs, aliases, role names) resolved against the collected policies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diag import arn as arns
from diag.errors import BadInputError, NotFoundError, UsageError
from diag.impact.outcome import Translation
from diag.policy.model import Grant
from diag.proof.change import Change

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Proposal:
    key_policy: Path | None = None
    key: str | None = None
    identity_policy: Path | None = None
    principal: str | None = None
    policy_name: str | None = None
    scp: Path | None = None
    rcp: Path | None = None
    target: str | None = None
    policy_id: str | None = None
    revoke_grant: str | None = None
    plan: Path | None = None
    boundary: Path | None = None
    cfn_template: Path | None = None
    cfn_stack: Path | None = None
    cfn_parameters: tuple[str, ...] = ()
    bundle: Path | None = None


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BadInputError(f"{path}: not JSON ({exc})") from exc
    if isinstance(doc, dict) and isinstance(doc.get("Policy"), str):  # get-key-policy / get-bucket-policy output
        doc = json.loads(doc["Policy"])
    return doc


def _policy(path: Path) -> dict[str, Any]:
    doc = read_json(path)
    if not isinstance(doc, dict) or "Statement" not in doc:
        raise BadInputError(f"{path}: not a policy document (no Statement)")
    return doc


class Resolver:
    """Key references and IAM names → ARNs, from the collected policies."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def __call__(self, kind: str, ref: str) -> str | None:
        if not ref:
            return None
        if kind == "key":
            return self.key(ref)
        if ref.startswith("arn:"):
            return ref
        row = self.con.execute(
            "SELECT arn FROM principals WHERE kind = ? AND name = ? ORDER BY snapshot_id DESC LIMIT 1", [kind, ref]
        ).fetchone()
        return str(row[0]) if row else None

    def inline_names(self, holder_arn: str) -> frozenset[str] | None:
        """The names of the inline policies of a role or user in force now (None: its IAM is not collected)."""
        from diag.collect.inforce import policies_in_force

        holder = arns.parse(holder_arn)
        if holder is None:
            return None
        inf = policies_in_force(self.con, caller_arn=holder_arn, caller_account=holder.account)
        if inf.identity_policies is None:
            return None
        return frozenset(
            str(p.name) for p in inf.identity_policies if p.kind == "inline" and p.attached_to == holder_arn and p.name
        )

    def members(self, group_arn: str) -> tuple[str, ...]:
        """The users of a group in the newest snapshot of its account that lists it."""
        group = arns.parse(group_arn)
        if group is None or not group.resource.startswith("group/"):
            return ()
        account, name = group.account, group.name
        rows = self.con.execute(
            "SELECT arn FROM principals WHERE kind = 'user' AND account = ? AND list_contains(groups, ?)"
            " AND snapshot_id = (SELECT max(snapshot_id) FROM principals WHERE account = ? AND kind = 'group'"
            " AND name = ?) ORDER BY arn",
            [account, name, account, name],
        ).fetchall()
        return tuple(str(r[0]) for r in rows)

    def key(self, ref: str) -> str | None:
        parsed = arns.parse(ref)
        if arns.is_key_arn(ref):
            return ref
        from diag.collect.inforce import resolve_key

        region = parsed.region if parsed is not None else None
        account = parsed.account if parsed is not None else None
        info = resolve_key(self.con, ref, region=region, account=account, at=None)
        if info is not None:
            return info.key_arn
        row = self.con.execute(
            "SELECT key_arn FROM keys WHERE key_id = ? OR key_arn = ? LIMIT 1", [ref.rsplit("/", 1)[-1], ref]
        ).fetchone()
        return str(row[0]) if row else None


def _need(value: Any, flag: str, other: str) -> None:
    if value is None:
        raise UsageError(f"{other} needs {flag}")


def changes_from(con: duckdb.DuckDBPyConnection, p: Proposal) -> tuple[list[Change], list[str]]:
    """Every change the options describe, and notes (with what could not be replayed)."""
    t = translate(con, p)
    return t.changes, t.all_notes()


def translate(con: duckdb.DuckDBPyConnection, p: Proposal) -> Translation:
    """Every change the options describe, the keys they delete, what could not be replayed, and notes."""
    resolve = Resolver(con)
    t = Translation()
    changes, notes = t.changes, t.notes
    if p.key_policy is not None:
        _need(p.key, "--key", "--key-policy")
        key = resolve.key(str(p.key))
        if key is None:
            raise NotFoundError(f"no collected key matches {p.key}", hint="kmsdiag collect, or pass the key ARN")
        changes.append(Change("key_policy", "set_document", target=key, document=_policy(p.key_policy)))
    if p.identity_policy is not None:
        _need(p.principal, "--principal", "--identity-policy")
        _need(p.policy_name, "--policy-name", "--identity-policy")
        target = str(p.principal)
        members = resolve.members(target) if ":group/" in target else ()
        if ":group/" in target and not members:
            notes.append(f"{target} has no collected users: its policy reaches no observed caller")
        changes.append(
            Change(
                "identity",
                "set_document",
                target=target,
                name=p.policy_name,
                document=_policy(p.identity_policy),
                members=members,
            )
        )
    if p.boundary is not None:
        _need(p.principal, "--principal", "--permissions-boundary")
        if ":group/" in str(p.principal):
            raise UsageError("--permissions-boundary: a group has no permissions boundary (a role or user has)")
        changes.append(
            Change(
                "permission_boundary",
                "set_document",
                target=p.principal,
                name=p.policy_name or "permissions-boundary",
                document=_policy(p.boundary),
            )
        )
    for layer, path in (("scp", p.scp), ("rcp", p.rcp)):
        if path is not None:
            if p.target is None and p.policy_id is None:
                raise UsageError(
                    f"--{layer} needs --target (OU, root or account ID) or --policy-id (the policy it replaces)"
                )
            changes.append(Change(layer, "set_document", target=p.target, name=p.policy_id, document=_policy(path)))
    if p.revoke_grant is not None:
        _need(p.key, "--key", "--revoke-grant")
        key = resolve.key(str(p.key))
        if key is None:
            raise NotFoundError(f"no collected key matches {p.key}")
        changes.append(Change("grants", "revoke_grant", grant=Grant(p.revoke_grant, key, "", ())))
    if p.plan is not None:
        from diag.impact.terraform import plan_translation

        t.extend(plan_translation(read_json(p.plan), resolve))
    if p.cfn_template is not None:
        t.extend(_cfn(p, resolve))
    elif p.cfn_stack is not None or p.cfn_parameters:
        raise UsageError("--cfn-stack and --cfn-parameter need --cfn-template")
    if not changes and not notes and not t.not_replayed and not t.deleted_keys and p.bundle is None:
        raise UsageError(
            "nothing to replay: pass --key-policy FILE --key ARN, --identity-policy FILE --principal ARN --policy-name N,"
            " --permissions-boundary FILE --principal ARN, --scp/--rcp FILE --target ID, --revoke-grant ID --key ARN,"
            " --plan plan.json, --cfn-template TEMPLATE or --bundle DIR"
        )
    return t


def _cfn(p: Proposal, resolve: Resolver) -> Translation:
    from diag.impact.cloudformation import load_template, template_translation

    path = p.cfn_template
    assert path is not None
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    template = load_template(path.read_text(encoding="utf-8", errors="replace"), str(path))
    params: dict[str, str] = {}
    for item in p.cfn_parameters:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--cfn-parameter {item!r}: use NAME=VALUE")
        params[name] = value
    stack = read_json(p.cfn_stack) if p.cfn_stack is not None else None
    return template_translation(
        template, resolve, stack=stack, parameters=params, members=resolve.members, inline_names=resolve.inline_names
    )
