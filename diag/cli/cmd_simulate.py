"""`kmsdiag simulate FILE|-`: evaluate a request document offline, or JSON Lines of them with --batch.

No ``from __future__ import annotations`` here: typer reads the ``Annotated`` option metadata from the
command's real annotations.
"""

import sys
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from diag.cli.common import command, state
from diag.errors import BadInputError, NotFoundError


def _open(source: str) -> IO[str]:
    if source == "-":
        return sys.stdin
    path = Path(source)
    if not path.is_file():
        raise NotFoundError(f"no such file: {source}")
    return path.open(encoding="utf-8", errors="replace")


def _single(text: str, as_json: bool) -> int:
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
        print_json(result_to_dict(result, doc.get("id")))
    else:
        render_result(result, out())
    return 0


def _batch(stream: IO[str]) -> int:
    import orjson

    from diag.policy.simulate import RequestDocumentError, simulate_document

    bad = 0
    write = sys.stdout.write
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        obj: dict[str, Any]
        doc: Any = None
        try:
            doc = orjson.loads(line)
            obj = simulate_document(doc)
        except orjson.JSONDecodeError as exc:
            bad += 1
            obj = {"line": n, "error": f"not valid JSON: {exc}"}
        except RequestDocumentError as exc:
            bad += 1
            obj = {"line": n, "error": str(exc)}
            if isinstance(doc, dict) and "id" in doc:
                obj["id"] = doc["id"]
        except Exception as exc:  # one broken line must not end the run
            bad += 1
            obj = {"line": n, "error": f"internal error: {type(exc).__name__}: {exc}"}
        write(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")
    sys.stdout.flush()
    return 3 if bad else 0


def register(app: typer.Typer) -> None:
    @command(app, "simulate")
    def simulate(
        file: Annotated[str, typer.Argument(help="Request document (see docs/policy-engine.md), or - for stdin.")],
        batch: Annotated[
            bool, typer.Option("--batch", help="JSON Lines: one document per line in, one result per line out.")
        ] = False,
    ) -> int:
        """Would AWS allow this request? Evaluate a request document offline (its fields: docs/policy-engine.md).

        Prints the decision and every layer's statement trace (--json: the section 7 object).

        With --batch, reads JSON Lines and writes one JSON result per line, in order; a bad line gives an
        error object on its own line, and the exit code is 3 once all lines are done.

        Example:  kmsdiag simulate request.json --json;  kmsdiag simulate --batch - < requests.jsonl
        """
        stream = _open(file)
        try:
            if batch:
                return _batch(stream)
            return _single(stream.read(), state().json)
        finally:
            if stream is not sys.stdin:
                stream.close()
