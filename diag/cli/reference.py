"""The CLI reference page (docs/cli.md), generated from the commands themselves.

``python -m diag.cli.reference > docs/cli.md`` rewrites it; a test fails when the page and the commands
disagree, so the reference cannot go stale.
"""

from __future__ import annotations

import re
from typing import Any

GLOBAL_NAMES = ("db", "json_output", "quiet", "debug", "wait")
HEADER = """# CLI reference

Generated from the commands by `python -m diag.cli.reference > docs/cli.md` (a test checks that this page
matches them). `kmsdiag COMMAND --help` prints the same on a terminal.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _names(param: Any) -> str:
    if getattr(param, "param_type_name", "") == "argument":
        return f"`{param.metavar or str(param.name).upper()}`"
    opts = [*param.opts, *getattr(param, "secondary_opts", [])]
    return ", ".join(f"`{o}`" for o in opts)


def _default(param: Any) -> str:
    if getattr(param, "param_type_name", "") == "argument" or not getattr(param, "show_default", True):
        return ""
    value = param.default
    if value in (None, False, (), []) or callable(value):
        return ""
    if value is True and getattr(param, "secondary_opts", None):
        return f" (default: `{param.opts[0]}`)"
    if value is True:
        return ""
    return f" (default: `{value}`)"


def _param_rows(params: list[Any]) -> list[str]:
    rows = ["| option | value | meaning |", "|---|---|---|"]
    for p in params:
        value = f"`{p.metavar}`" if p.metavar and getattr(p, "param_type_name", "") != "argument" else ""
        rng = p._get_number_range_help_str() if hasattr(p, "_get_number_range_help_str") else None
        if rng:
            value += f" {rng}"
        help_text = _cell(p.help or "") + _default(p)
        if getattr(p, "required", False):
            help_text += " Required."
        rows.append(f"| {_names(p)} | {value} | {help_text} |")
    return rows


def _help_markdown(text: str) -> list[str]:
    """A command's docstring: paragraphs as text, ``Example:`` lines as a shell block."""
    out: list[str] = []
    for para in (text or "").split("\n\n"):
        m = re.match(r"^Examples?:\s*(.*)$", para.strip(), re.S)
        if m:
            examples = [e.strip() for e in re.split(r";\s+(?=kmsdiag )|\n", m.group(1)) if e.strip()]
            out += ["Example:", "", "```bash", *examples, "```", ""]
        else:
            out += [para.strip(), ""]
    return out


def cli_reference() -> str:
    """The whole page, as Markdown."""
    from diag.cli.app import build_command

    root = build_command()
    lines = [HEADER]
    some = next(iter(root.commands.values()))
    globals_ = [p for p in some.params if p.name in GLOBAL_NAMES]
    lines += [
        "## Global options",
        "",
        "Every command accepts these, before or after its name (`kmsdiag --json failures` or"
        " `kmsdiag failures --json`).",
        "",
        *_param_rows(globals_),
        "",
    ]
    for name in sorted(root.commands):
        cmd = root.commands[name]
        ctx = cmd.make_context(f"kmsdiag {name}", [], resilient_parsing=True)
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        lines += [f"## `kmsdiag {name}`", "", f"Usage: `kmsdiag {name} {usage}`", ""]
        lines += _help_markdown(cmd.help or "")
        own = [p for p in cmd.params if p.name not in GLOBAL_NAMES]
        if own:
            lines += [*_param_rows(own), ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    import sys

    sys.stdout.write(cli_reference())
