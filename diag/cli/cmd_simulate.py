"""`kmsdiag simulate FILE|-`: evaluate a request document offline, or JSON Lines of them with --batch.

No ``from __future__ import annotations`` here: typer reads the ``Annotated`` option metadata from the
command's real annotations.
"""

import sys
from collections.abc import Callable
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


def _batch(stream: IO[str], fields: tuple[str, ...] | None = None) -> int:
    import orjson

    from diag.policy.engine import decide, evaluate
    from diag.policy.simulate import RequestDocumentError, document_to_inputs
    from diag.render.result_json import result_json

    # without the "layers" field nobody reads the statement trace: the engine skips it (same decision)
    engine = evaluate if fields is None or "layers" in fields else decide
    bad = 0
    sys.stdout.flush()
    write = _writer()
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        obj: dict[str, Any]
        doc: Any = None
        try:
            doc = orjson.loads(line)
            request, inputs = document_to_inputs(doc)
            data = result_json(engine(request, inputs), doc.get("id"), fields)
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
        else:
            write(data + b"\n")
            continue
        write(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.flush()
    return 3 if bad else 0


def _writer() -> Callable[[bytes], object]:
    """Write bytes to stdout: its binary buffer (no decode/encode round trip), else as text (tests' captures)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        return buffer.write
    return lambda data: sys.stdout.write(data.decode())


def _fields(text: str | None) -> tuple[str, ...] | None:
    from diag.render.result_json import parse_fields

    if text is None:
        return None
    try:
        return parse_fields(text)
    except ValueError as exc:
        raise BadInputError(f"--fields: {exc}") from exc


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
        selected = _fields(fields)
        stream = _open(file)
        try:
            if batch:
                return _batch(stream, selected)
            return _single(stream.read(), state().json, selected)
        finally:
            if stream is not sys.stdin:
                stream.close()
