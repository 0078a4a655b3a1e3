"""`kmsdiag simulate FILE|-`: evaluate a request document offline, or JSON Lines of them with --batch.

No ``from __future__ import annotations`` here: typer reads the ``Annotated`` option metadata from the
command's real annotations.
"""

import sys
from typing import Annotated

import typer

from diag.cli.common import command, state
from diag.errors import BadInputError


def _single(text: str, as_json: bool, fields: tuple[str, ...] | None = None) -> int:
    import orjson

    from diag.policy.simulate import RequestDocumentError, result_to_dict, simulate_request
    from diag.render.console import out, print_json
    from diag.render.trace import render_result

    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadInputError(f"the request document is not valid JSON: {exc}") from exc
    try:
        result = simulate_request(doc)
    except RequestDocumentError as exc:
        raise BadInputError(f"invalid request document: {exc}") from exc
    if as_json:
        full = result_to_dict(result, doc.get("id"))
        print_json(full if fields is None else {k: v for k, v in full.items() if k == "id" or k in fields})
    else:
        render_result(result, out())
    return 0


def register(app: typer.Typer) -> None:
    @command(app, "simulate")
    def simulate(
        file: Annotated[str, typer.Argument(help="Request document (see docs/policy-engine.md), or - for stdin.")],
        batch: Annotated[
            bool, typer.Option("--batch", help="JSON Lines: one document per line in, one result per line out.")
        ] = False,
        fields: Annotated[
            str | None,
            typer.Option(
                "--fields",
                help="Only these result fields, comma-separated (decision, reason, unknown, deciding_layers, "
                "cross_account, undetermined, layers); id is always echoed. Default: all, with the full trace.",
            ),
        ] = None,
    ) -> int:
        """Would AWS allow this request? Evaluate a request document offline (its fields: docs/policy-engine.md).

        Prints the decision and every layer's statement trace (--json: the section 7 object).

        With --batch, reads JSON Lines and writes one JSON result per line, in order; a bad line gives an
        error object on its own line, and the exit code is 3 once all lines are done.

        --fields decision,deciding_layers writes a compact result without the statement trace (much faster
        and smaller for large batches).

        Example:  kmsdiag simulate request.json --json;  kmsdiag simulate --batch - < requests.jsonl
        """
        from diag.cli.simulate_batch import batch as run_batch
        from diag.cli.simulate_batch import open_source, parse_fields_option

        selected = parse_fields_option(fields)
        stream = open_source(file)
        try:
            if batch:
                return run_batch(stream, selected)
            return _single(stream.read(), state().json, selected)
        finally:
            if stream is not sys.stdin:
                stream.close()
