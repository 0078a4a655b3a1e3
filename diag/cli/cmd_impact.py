"""`kmsdiag impact`: what a proposed policy change would break, and what access it would add."""

# No `from __future__ import annotations` here: typer must see the Annotated options (their help).
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from diag.cli.common import command, open_reader, state
from diag.errors import EXIT_BAD_INPUT, EXIT_DENIED, UsageError

if TYPE_CHECKING:
    from diag.impact.proposal import Proposal
    from diag.impact.replay import ImpactReport

KeyPolicyOpt = Annotated[
    Path | None, typer.Option("--key-policy", help="The proposed key policy document (JSON) for --key.")
]
KeyOpt = Annotated[str | None, typer.Option("--key", help="Key ARN, key ID or alias of --key-policy / --revoke-grant.")]
IdentityPolicyOpt = Annotated[
    Path | None, typer.Option("--identity-policy", help="The proposed identity policy (JSON) of --principal.")
]
PrincipalOpt = Annotated[
    str | None,
    typer.Option("--principal", help="Role, user or group ARN of --identity-policy / --permissions-boundary."),
]
PolicyNameOpt = Annotated[
    str | None,
    typer.Option("--policy-name", help="Name of the inline or managed policy it replaces (or adds)."),
]
ScpOpt = Annotated[Path | None, typer.Option("--scp", help="A proposed service control policy (JSON).")]
RcpOpt = Annotated[Path | None, typer.Option("--rcp", help="A proposed resource control policy (JSON).")]
TargetOpt = Annotated[str | None, typer.Option("--target", help="Root, OU or account ID where --scp/--rcp applies.")]
PolicyIdOpt = Annotated[str | None, typer.Option("--policy-id", help="The SCP/RCP (p-…) that --scp/--rcp replaces.")]
RevokeGrantOpt = Annotated[str | None, typer.Option("--revoke-grant", help="A grant ID to revoke on --key.")]
PlanOpt = Annotated[
    Path | None,
    typer.Option("--plan", help="A Terraform plan as JSON (terraform show -json PLAN > plan.json)."),
]
BoundaryOpt = Annotated[
    Path | None,
    typer.Option("--permissions-boundary", help="The proposed permissions boundary (JSON) of --principal."),
]
CfnTemplateOpt = Annotated[
    Path | None,
    typer.Option("--cfn-template", help="A CloudFormation template (JSON or YAML): the stack as it would be."),
]
CfnStackOpt = Annotated[
    Path | None,
    typer.Option(
        "--cfn-stack",
        help="The stack's describe-change-set or describe-stack-resources JSON (which key or role each resource is).",
    ),
]
BundleOpt = Annotated[
    Path | None,
    typer.Option("--bundle", help="An evidence bundle folder: every policy it holds replaces the one in force."),
]
CfnParameterOpt = Annotated[
    list[str] | None,
    typer.Option("--cfn-parameter", help="NAME=VALUE of a template parameter (repeatable)."),
]
DaysOpt = Annotated[
    float, typer.Option("--days", min=0.0, help="Window of observed calls, ending at the newest event.")
]
FailOnOpt = Annotated[str, typer.Option("--fail-on", help="Exit 5 on: break (default), new-access, any, never.")]
AllowUnreplayedOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unreplayed",
        help="Exit 0 (not 3) when a resource of the change could not be replayed (it is still reported).",
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", help="text, markdown, sarif or json.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write the report to this file instead of stdout.")]


def _check_options(fail_on: str, fmt: str) -> str:
    """The output format (--json wins over --format); UsageError for an unknown --fail-on or --format."""
    if fail_on not in ("break", "new-access", "any", "never"):
        raise UsageError(f"--fail-on {fail_on!r}: use break, new-access, any or never")
    fmt = "json" if state().json else fmt
    if fmt not in ("text", "markdown", "md", "sarif", "json"):
        raise UsageError(f"--format {fmt!r}: use text, markdown, sarif or json")
    return fmt


def _replay(proposal: "Proposal", days: float) -> "ImpactReport":
    """Translate the proposal into policy changes and replay the observed calls of the last ``days`` on them."""
    from diag.impact.proposal import translate
    from diag.impact.replay import run_impact

    con = open_reader()
    try:
        t = translate(con, proposal)
        proposed = None
        if proposal.bundle is not None:
            from diag.impact.bundle import ProposedSide

            proposed = ProposedSide(proposal.bundle)
        try:
            rep = run_impact(con, t.changes, days=days, proposed=proposed, deleted=t.deleted_keys)
        finally:
            if proposed is not None:
                proposed.close()
    finally:
        con.close()
    rep.notes = t.notes + rep.notes
    rep.not_replayed = t.not_replayed
    return rep


def _artifact(p: "Proposal") -> str | None:
    """The file the change comes from (SARIF's artifact location)."""
    source = p.plan or p.cfn_template or p.bundle or p.key_policy or p.identity_policy or p.boundary or p.scp or p.rcp
    return str(source or "") or None


def _emit(rep: "ImpactReport", fmt: str, out_file: Path | None, artifact: str | None, *, show_text: bool) -> None:
    """Write the report to ``out_file`` or stdout; the text form on stdout only when ``show_text``."""
    from diag.impact.render import markdown, sarif, text_lines
    from diag.render.console import out, print_json

    if fmt in ("json", "sarif"):
        import json

        doc = rep.to_dict() if fmt == "json" else sarif(rep, artifact)
        if out_file is not None:
            out_file.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
        else:
            print_json(doc)
    elif fmt in ("markdown", "md"):
        text = markdown(rep)
        if out_file is not None:
            out_file.write_text(text, encoding="utf-8")
        else:
            typer.echo(text, nl=False)
    else:
        lines = text_lines(rep)
        if out_file is not None:
            out_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        elif show_text:
            console = out()
            from diag.render.escape import safe_text

            for line in lines:
                console.print(safe_text(line), soft_wrap=True)


def impact(
    key_policy: KeyPolicyOpt = None,
    key: KeyOpt = None,
    identity_policy: IdentityPolicyOpt = None,
    principal: PrincipalOpt = None,
    policy_name: PolicyNameOpt = None,
    scp: ScpOpt = None,
    rcp: RcpOpt = None,
    target: TargetOpt = None,
    policy_id: PolicyIdOpt = None,
    revoke_grant: RevokeGrantOpt = None,
    plan: PlanOpt = None,
    boundary: BoundaryOpt = None,
    cfn_template: CfnTemplateOpt = None,
    cfn_stack: CfnStackOpt = None,
    bundle: BundleOpt = None,
    cfn_parameter: CfnParameterOpt = None,
    days: DaysOpt = 30.0,
    fail_on: FailOnOpt = "break",
    allow_unreplayed: AllowUnreplayedOpt = False,
    fmt: FormatOpt = "text",
    out_file: OutOpt = None,
) -> int:
    """Replay the distinct successful KMS calls of the last --days against the policies as a change would make them.

    Lists every observed call that would break (caller, action, key, last seen, count, the refusing layer and statement), the new access the change grants (the access matrix before and after), and how many calls are unchanged. Exit code 5 when an observed call would break (or with --fail-on new-access, when access is added); otherwise 3 when a resource of the change could not be replayed (an unresolvable value, a policy document not in the plan, a principal or key that was not collected), unless --allow-unreplayed: it can gate a pull request. A deleted key breaks every observed call on it.

    --principal may name a role, a user or a group (a group's policy reaches its collected users).

    Example:  kmsdiag impact --key-policy new-policy.json --key arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
    """
    from diag.impact.proposal import Proposal

    fmt = _check_options(fail_on, fmt)
    proposal = Proposal(
        key_policy=key_policy,
        key=key,
        identity_policy=identity_policy,
        principal=principal,
        policy_name=policy_name,
        scp=scp,
        rcp=rcp,
        target=target,
        policy_id=policy_id,
        revoke_grant=revoke_grant,
        plan=plan,
        boundary=boundary,
        cfn_template=cfn_template,
        cfn_stack=cfn_stack,
        cfn_parameters=tuple(cfn_parameter or ()),
        bundle=bundle,
    )
    rep = _replay(proposal, days)
    breaks, added = bool(rep.breaks), bool(rep.new_access)
    failed = {"break": breaks, "new-access": added, "any": breaks or added, "never": False}[fail_on]
    unreplayed = bool(rep.not_replayed) and not allow_unreplayed
    _emit(rep, fmt, out_file, _artifact(proposal), show_text=not state().quiet or failed or unreplayed)
    if failed:
        return EXIT_DENIED
    return EXIT_BAD_INPUT if unreplayed else 0


def register(app: typer.Typer) -> None:
    command(app, "impact")(impact)
