"""`kmsdiag explain`: why one call was denied, with evidence and the fix."""

# no `from __future__ import annotations`: typer reads these annotations at runtime

from pathlib import Path
from typing import Annotated

import typer

from diag.cli.common import command, open_reader, state


def register(app: typer.Typer) -> None:
    @command(app, "explain")
    def explain(
        ident: Annotated[
            str | None, typer.Argument(metavar="ID", help="eventID, sharedEventID or requestID.", show_default=False)
        ] = None,
        event_file: Annotated[
            Path | None, typer.Option("--event-file", help="A CloudTrail record (JSON) to explain.", show_default=False)
        ] = None,
        error: Annotated[
            str | None,
            typer.Option("--error", help="The AccessDenied text an application printed.", show_default=False),
        ] = None,
        key: Annotated[
            str | None,
            typer.Option(
                "--key", help="With --error: the key ARN, when the text does not name it.", show_default=False
            ),
        ] = None,
        region: Annotated[
            str | None, typer.Option("--region", help="With --error: the region of the call.", show_default=False)
        ] = None,
    ) -> None:
        """Explain why one KMS (or SSE-KMS S3) call was denied: the broken layer, the evidence, the exact fix.

        ID may be the eventID, the sharedEventID or the requestID. Or give the record with --event-file, or the
        application's error text with --error (before CloudTrail has delivered the event).

        Example:  kmsdiag explain 3be8ee01-58ae-4409-9982-da6d5cba400c
        """
        from diag.errors import UsageError

        given = [x for x in (ident, event_file, error) if x]
        if len(given) != 1:
            raise UsageError("give exactly one of: an ID, --event-file FILE, --error TEXT")
        if (key or region) and not error:
            raise UsageError("--key and --region go with --error")
        if error or event_file:
            from diag.store.connection import open_db_or_empty

            con = open_db_or_empty(state().db, wait=state().wait)
        else:
            con = open_reader()
        try:
            from diag.cli.explain_input import explain_input

            diag = explain_input(con, ident=ident, event_file=event_file, error=error, key=key, region=region)
        finally:
            con.close()
        if state().json:
            from diag.render.console import print_json

            print_json(diag.to_dict())
            return
        from diag.cli.explain_input import verdict_title
        from diag.render.console import out
        from diag.render.explain_view import render_diagnosis

        render_diagnosis(out(), diag, title=verdict_title(diag))
