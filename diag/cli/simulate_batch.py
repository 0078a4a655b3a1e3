"""`kmsdiag simulate --batch`: JSON Lines of request documents in, one result per line out.

Used by the typer command (``diag.cli.cmd_simulate``) and, for the plain forms
(``simulate --batch FILE|- [--fields LIST]`` with ``--quiet``/``--debug``/``--json``), directly by the
entry point (``diag.cli.fast``) without importing typer: a batch is a whole process, and typer's imports
cost more than a thousand requests. Anything else (``--help``, an unknown option, a repeated one) goes
to typer, which gives the usual help and errors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from diag.errors import BadInputError, NotFoundError

_FLAGS = {"--quiet", "-q", "--debug", "--json"}


def parse_batch(args: list[str]) -> dict[str, Any] | None:
    """The options of a plain ``simulate --batch`` command line, or None when typer should handle it."""
    if not args or args[0] != "simulate" or "--batch" not in args:
        return None
    opts: dict[str, Any] = {"file": None, "fields": None}
    i = 1
    while i < len(args):
        a = args[i]
        name, eq, inline = a.partition("=")
        if a == "--batch" and not opts.get("--batch"):
            opts["--batch"] = True
        elif name == "--fields" and opts["fields"] is None and (eq or i + 1 < len(args)):
            opts["fields"] = inline if eq else args[i + 1]
            i += 0 if eq else 1
        elif a in _FLAGS and not opts.get(a):
            opts[a] = True
        elif (a == "-" or not a.startswith("-")) and opts["file"] is None:
            opts["file"] = a
        else:
            return None
        i += 1
    return opts if opts["file"] is not None else None


def run_batch(opts: dict[str, Any]) -> int:
    """Run a command line recognized by ``parse_batch``."""
    import os

    from diag.files import private_umask

    fields = parse_fields_option(opts["fields"])
    stream = open_source(opts["file"])
    old = private_umask()
    try:
        return batch(stream, fields)
    finally:
        os.umask(old)
        if stream is not sys.stdin:
            stream.close()


def open_source(source: str) -> IO[str]:
    if source == "-":
        return sys.stdin
    path = Path(source)
    if not path.is_file():
        raise NotFoundError(f"no such file: {source}")
    return path.open(encoding="utf-8", errors="replace")


def parse_fields_option(text: str | None) -> tuple[str, ...] | None:
    from diag.render.result_json import parse_fields

    if text is None:
        return None
    try:
        return parse_fields(text)
    except ValueError as exc:
        raise BadInputError(f"--fields: {exc}") from exc


def batch(stream: IO[str], fields: tuple[str, ...] | None = None) -> int:
    """Evaluate every line of ``stream``; write one result (or error object) per line; exit code 3 if any
    line was bad."""
    import gc

    sys.stdout.flush()
    write = _writer()
    # Traces are trees of frozen dataclasses, without cycles: the cyclic collector would only rescan the
    # caches over and over (a third of the full-trace run). Leave what exists now out of its scans and
    # let it run far less often; both are restored at the end.
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        bad = _lines(stream, fields, write)
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
    sys.stdout.flush()
    return 3 if bad else 0


def _lines(stream: IO[str], fields: tuple[str, ...] | None, write: Callable[[bytes], object]) -> int:
    """Evaluate and write every line; return the number of bad lines."""
    import orjson

    from diag.policy.engine import DEFAULT_ENGINE
    from diag.policy.simulate import RequestDocumentError, document_to_inputs
    from diag.render.result_json import ResultSerializer

    # without the "layers" field nobody reads the statement trace: the engine skips it (same decision)
    trace = fields is None or "layers" in fields
    evaluate = DEFAULT_ENGINE.evaluate
    result_json = ResultSerializer(fields)
    bad = 0
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        obj: dict[str, Any]
        doc: Any = None
        try:
            doc = orjson.loads(line)
            fps: dict[int, Any] = {}
            request, inputs = document_to_inputs(doc, fps)
            data = result_json(evaluate(request, inputs, trace=trace, fingerprints=fps), doc.get("id"))
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
    return bad


def _writer() -> Callable[[bytes], object]:
    """Write bytes to stdout: its binary buffer (no decode/encode round trip), else as text (tests' captures)."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is not None:
        return buffer.write
    return lambda data: sys.stdout.write(data.decode())
