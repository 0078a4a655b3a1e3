"""`kmsdiag check`: would these accesses be allowed? Offline, against the collected policies."""

# No `from __future__ import annotations` here: typer must see the Annotated options (their help).
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from diag.cli.common import command, open_reader, state
from diag.errors import EXIT_DENIED, NotFoundError, UsageError

if TYPE_CHECKING:
    from diag.check.request import CheckRequest
    from diag.check.run import CheckResult

PrincipalOpt = Annotated[
    str | None, typer.Option("--principal", help="Role, user, root or assumed-role ARN (or account ID).")
]
ActionOpt = Annotated[
    list[str] | None, typer.Option("--action", help="Action to check (repeatable), e.g. kms:Decrypt.")
]
KeyOpt = Annotated[str | None, typer.Option("--key", help="Key ARN, alias ARN, alias name or key ID.")]
ViaServiceOpt = Annotated[
    str | None,
    typer.Option("--via-service", help="The call comes through this service: s3.REGION.amazonaws.com (or s3)."),
]
ContextOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--context",
        help="key=value (repeatable): encryption context pairs; aws:Name / kms:Name keys set condition keys.",
    ),
]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Policies in force at this time (ISO 8601, or 24h / 7d ago).")
]
FromFileOpt = Annotated[
    Path | None, typer.Option("--from-file", help="A checks file (YAML or JSON): the accesses that must work.")
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="An allow that rests on a layer not collected counts as a failure.")
]
BriefOpt = Annotated[bool, typer.Option("--brief", help="Only the layers and evidence of denied actions.")]


def _file_requests(
    from_file: Path, principal: str | None, action: list[str] | None, key: str | None
) -> list["CheckRequest"]:
    """The accesses of a checks file (it excludes --principal/--action/--key)."""
    from diag.check.request import load_requests

    if principal or action or key:
        raise UsageError("--from-file cannot be combined with --principal/--action/--key")
    if not from_file.is_file():
        raise NotFoundError(f"no such file: {from_file}")
    return load_requests(from_file.read_text(encoding="utf-8", errors="replace"), from_file.name)


def _option_request(
    principal: str | None,
    action: list[str] | None,
    key: str | None,
    via_service: str | None,
    context: list[str] | None,
    as_of: str | None,
) -> "CheckRequest":
    """The one access the options describe; UsageError when --principal, --action or --key is missing."""
    from diag.check.request import CheckRequest, normalize_action, parse_as_of, parse_pairs, split_context

    missing = [n for n, v in (("--principal", principal), ("--action", action), ("--key", key)) if not v]
    if missing:
        raise UsageError(f"missing {', '.join(missing)}", hint="or pass --from-file checks.yaml")
    assert principal is not None and action is not None and key is not None
    ec, cond = split_context(parse_pairs(context))
    return CheckRequest(
        principal=principal,
        actions=tuple(normalize_action(a) for a in action),
        key=key,
        via_service=via_service,
        encryption_context=ec,
        condition_keys=cond,
        as_of=parse_as_of(as_of),
    )


def _emit(results: list["CheckResult"], ok: bool, *, from_file: bool, brief: bool) -> None:
    """JSON (one check, or ``checks`` for a file) or, per access, the layers table and evidence."""
    from diag.render.console import out, print_json

    if state().json:
        doc = [r.to_dict() for r in results]
        print_json({"ok": ok, "checks": doc} if from_file else {"ok": ok, **doc[0]})
        return
    from diag.render.check import render_check, render_summary

    console = out()
    for r in results:
        render_check(console, r, verbose=not brief)
        console.print()
    if from_file:
        render_summary(console, results)


def check(
    principal: PrincipalOpt = None,
    action: ActionOpt = None,
    key: KeyOpt = None,
    via_service: ViaServiceOpt = None,
    context: ContextOpt = None,
    as_of: AsOfOpt = None,
    from_file: FromFileOpt = None,
    strict: StrictOpt = False,
    brief: BriefOpt = False,
) -> int:
    """Would this principal be allowed to use this key? Evaluates the collected policies of both accounts.

    Prints, per action, Allowed or Denied with the layers table, and for a denial the evidence and the fix (the same rules as explain). Exit code 0 when every access is as expected (allowed, unless a checks-file entry says expect: denied), 5 otherwise: it can gate a deployment pipeline.

    Example:  kmsdiag check --principal arn:aws:iam::222222222222:role/DataProcessingRole --key arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab --action kms:Decrypt --via-service s3.us-east-1.amazonaws.com
    """
    from diag.check.run import check_access

    if from_file is not None:
        requests = _file_requests(from_file, principal, action, key)
    else:
        requests = [_option_request(principal, action, key, via_service, context, as_of)]
    con = open_reader()
    try:
        results = [check_access(con, r) for r in requests]
    finally:
        con.close()
    ok = all(r.as_expected for r in results) and not (strict and any(r.unverified for r in results))
    _emit(results, ok, from_file=from_file is not None, brief=brief)
    return 0 if ok else EXIT_DENIED


def register(app: typer.Typer) -> None:
    command(app, "check")(check)
