"""Command-line options of the remote sources (shared by `kmsdiag ingest` and `kmsdiag watch`).

:func:`with_remote_options` appends the options to a command's signature (like ``@command`` does for
the global ones) and hands the command their raw values as ``remote_values``; the command turns them into
:class:`~diag.ingest.remote.options.RemoteOptions` with
:func:`~diag.ingest.remote.options.options_from_values` (below the command line, so `kmsdiag nightly`
uses the same parsing). Only declarations here: this module imports no command.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

_PARAMS: dict[str, tuple[Any, Any]] = {
    "lookup": (
        Annotated[
            bool,
            typer.Option(
                "--lookup",
                help="Read CloudTrail event history (LookupEvents, last 90 days) of the account and regions.",
            ),
        ],
        False,
    ),
    "athena": (
        Annotated[
            str | None,
            typer.Option(
                "--athena",
                metavar="DATABASE.TABLE",
                help="Query this Athena CloudTrail table (see `kmsdiag athena-ddl`); only kept events come back.",
            ),
        ],
        None,
    ),
    "since": (
        Annotated[
            str | None,
            typer.Option("--since", help="Start of the window: 24h, 7d, 90d or an ISO time (UTC).", show_default=False),
        ],
        None,
    ),
    "until": (
        Annotated[str | None, typer.Option("--until", help="End of the window (default: now).", show_default=False)],
        None,
    ),
    "account": (
        Annotated[
            list[str] | None,
            typer.Option("--account", help="Only this account (repeat for several).", show_default=False),
        ],
        None,
    ),
    "region": (
        Annotated[
            list[str] | None,
            typer.Option("--region", help="Only this region (repeat for several).", show_default=False),
        ],
        None,
    ),
    "key": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--key", help="Athena: keep successful KMS calls only for this key ARN (failures are always kept)."
            ),
        ],
        None,
    ),
    "athena_workgroup": (
        Annotated[str | None, typer.Option("--athena-workgroup", help="Athena workgroup (default: primary).")],
        None,
    ),
    "athena_output": (
        Annotated[
            str | None,
            typer.Option("--athena-output", help="s3:// folder for Athena results (if the workgroup sets none)."),
        ],
        None,
    ),
    "concurrency": (
        Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Parallel S3 downloads.")],
        8,
    ),
    "config": (
        Annotated[
            str | None,
            typer.Option(
                "--config",
                help="kmsdiag.toml: the accounts (profile or role) --lookup reads (default: ./kmsdiag.toml).",
            ),
        ],
        None,
    ),
    "profile": (
        Annotated[str | None, typer.Option("--profile", help="AWS profile (default: the standard credential chain).")],
        None,
    ),
    "role_arn": (
        Annotated[
            str | None,
            typer.Option("--role-arn", help="Role to assume first, e.g. a reader role in the log-archive account."),
        ],
        None,
    ),
}


def with_remote_options(fn: F) -> F:
    """Append the remote-source options to ``fn``'s signature; ``fn`` receives them as ``remote_values``."""
    # eval_str: resolve the command's own annotations (modules use `from __future__ import annotations`)
    # so that typer sees their Annotated[...] metadata through the wrappers.
    sig = inspect.signature(fn, eval_str=True)
    params = [p for p in sig.parameters.values() if p.name != "remote_values"]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
        for name, (ann, default) in _PARAMS.items()
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        values = {k: kw.pop(k) for k in list(kw) if k in _PARAMS}
        return fn(*args, remote_values=values, **kw)

    wrapper.__signature__ = sig.replace(parameters=params + extra)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
