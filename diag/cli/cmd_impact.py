"""`kmsdiag impact`: what a proposed policy change would break, and what access it would add."""

# No `from __future__ import annotations` here: typer must see the Annotated options (their help).
from pathlib import Path
from typing import Annotated

import typer

from diag.cli.common import command, open_reader, state
from diag.errors import EXIT_BAD_INPUT, EXIT_DENIED, UsageError


def register(app: typer.Typer) -> None:
    @command(app, "impact")
    def impact(
        key_policy: Annotated[
            Path | None, typer.Option("--key-policy", help="The proposed key policy document (JSON) for --key.")
        ] = None,
        key: Annotated[
            str | None, typer.Option("--key", help="Key ARN, key ID or alias of --key-policy / --revoke-grant.")
        ] = None,
        identity_policy: Annotated[
            Path | None, typer.Option("--identity-policy", help="The proposed identity policy (JSON) of --principal.")
        ] = None,
        principal: Annotated[
            str | None,
            typer.Option("--principal", help="Role, user or group ARN of --identity-policy / --permissions-boundary."),
        ] = None,
        policy_name: Annotated[
            str | None,
            typer.Option("--policy-name", help="Name of the inline or managed policy it replaces (or adds)."),
        ] = None,
        scp: Annotated[Path | None, typer.Option("--scp", help="A proposed service control policy (JSON).")] = None,
        rcp: Annotated[Path | None, typer.Option("--rcp", help="A proposed resource control policy (JSON).")] = None,
        target: Annotated[
            str | None, typer.Option("--target", help="Root, OU or account ID where --scp/--rcp applies.")
        ] = None,
        policy_id: Annotated[
            str | None, typer.Option("--policy-id", help="The SCP/RCP (p-…) that --scp/--rcp replaces.")
        ] = None,
        revoke_grant: Annotated[
            str | None, typer.Option("--revoke-grant", help="A grant ID to revoke on --key.")
        ] = None,
        plan: Annotated[
            Path | None,
            typer.Option("--plan", help="A Terraform plan as JSON (terraform show -json PLAN > plan.json)."),
        ] = None,
        boundary: Annotated[
            Path | None,
            typer.Option("--permissions-boundary", help="The proposed permissions boundary (JSON) of --principal."),
        ] = None,
        cfn_template: Annotated[
            Path | None,
            typer.Option("--cfn-template", help="A CloudFormation template (JSON or YAML): the stack as it would be."),
        ] = None,
        cfn_stack: Annotated[
            Path | None,
            typer.Option(
                "--cfn-stack",
                help="The stack's describe-change-set or describe-stack-resources JSON (which key or role each resource is).",
            ),
        ] = None,
        bundle: Annotated[
            Path | None,
            typer.Option(
                "--bundle", help="An evidence bundle folder: every policy it holds replaces the one in force."
            ),
        ] = None,
        cfn_parameter: Annotated[
            list[str] | None,
            typer.Option("--cfn-parameter", help="NAME=VALUE of a template parameter (repeatable)."),
        ] = None,
        days: Annotated[
            float, typer.Option("--days", min=0.0, help="Window of observed calls, ending at the newest event.")
        ] = 30.0,
        fail_on: Annotated[
            str, typer.Option("--fail-on", help="Exit 5 on: break (default), new-access, any, never.")
        ] = "break",
        allow_unreplayed: Annotated[
            bool,
            typer.Option(
                "--allow-unreplayed",
                help="Exit 0 (not 3) when a resource of the change could not be replayed (it is still reported).",
            ),
        ] = False,
        fmt: Annotated[str, typer.Option("--format", help="text, markdown, sarif or json.")] = "text",
        out_file: Annotated[
            Path | None, typer.Option("--out", help="Write the report to this file instead of stdout.")
        ] = None,
    ) -> int:
        """Replay the distinct successful KMS calls of the last --days against the policies as a change would make them.

        Lists every observed call that would break (caller, action, key, last seen, count, the refusing layer and statement), the new access the change grants (the access matrix before and after), and how many calls are unchanged. Exit code 5 when an observed call would break (or with --fail-on new-access, when access is added); otherwise 3 when a resource of the change could not be replayed (an unresolvable value, a policy document not in the plan, a principal or key that was not collected), unless --allow-unreplayed: it can gate a pull request. A deleted key breaks every observed call on it.

        --principal may name a role, a user or a group (a group's policy reaches its collected users).

        Example:  kmsdiag impact --key-policy new-policy.json --key arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
        """
        from diag.impact.proposal import Proposal, translate
        from diag.impact.render import markdown, sarif, text_lines
        from diag.impact.replay import run_impact
        from diag.render.console import out, print_json

        if fail_on not in ("break", "new-access", "any", "never"):
            raise UsageError(f"--fail-on {fail_on!r}: use break, new-access, any or never")
        fmt = "json" if state().json else fmt
        if fmt not in ("text", "markdown", "md", "sarif", "json"):
            raise UsageError(f"--format {fmt!r}: use text, markdown, sarif or json")
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
        con = open_reader()
        try:
            t = translate(con, proposal)
            proposed = None
            if bundle is not None:
                from diag.impact.bundle import ProposedSide

                proposed = ProposedSide(bundle)
            try:
                rep = run_impact(con, t.changes, days=days, proposed=proposed, deleted=t.deleted_keys)
            finally:
                if proposed is not None:
                    proposed.close()
        finally:
            con.close()
        rep.notes = t.notes + rep.notes
        rep.not_replayed = t.not_replayed
        breaks, added = bool(rep.breaks), bool(rep.new_access)
        failed = {"break": breaks, "new-access": added, "any": breaks or added, "never": False}[fail_on]
        artifact = (
            str(plan or cfn_template or bundle or key_policy or identity_policy or boundary or scp or rcp or "") or None
        )
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
            elif not state().quiet or failed or (rep.not_replayed and not allow_unreplayed):
                console = out()
                from diag.render.escape import safe_text

                for line in lines:
                    console.print(safe_text(line), soft_wrap=True)
        if failed:
            return EXIT_DENIED
        return EXIT_BAD_INPUT if rep.not_replayed and not allow_unreplayed else 0
