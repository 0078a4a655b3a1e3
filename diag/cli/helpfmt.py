"""`--help` in the conventions of click CLIs: metavars like PATH, TEXT, INTEGER, never Python types.

typer >= 0.29 labels options with Python annotations (``<bool>`` on a flag, ``<list[str]>``,
``<int range>``). ``conventional_metavars`` walks the click command tree once it is built and gives every
parameter that has no metavar of its own a click-style one; flags get none.
"""

from __future__ import annotations

from typing import Any

# by the parameter's name first (what the value means), else by its type
_BY_NAME = {
    "since": "WHEN",
    "until": "WHEN",
    "as_of": "WHEN",
    "wait": "SECONDS",
    "interval": "DURATION",
    "role_arn": "ARN",
    "principal": "ARN",
    "key": "ARN",
    "account": "ACCOUNT_ID",
    "region": "REGION",
    "profile": "NAME",
    "config": "PATH",
    "out": "PATH",
    "out_dir": "DIR",
    "from_dir": "DIR",
    "workers": "N",
    "concurrency": "N",
    "max_workers": "N",
    "cycles": "N",
    "limit": "N",
    "fmt": "FORMAT",
    "webhook": "URL",
    "bucket": "BUCKET",
}
_BY_TYPE = {"Path": "PATH", "int": "INTEGER", "float": "NUMBER", "str": "TEXT", "datetime": "DATETIME"}


def _metavar(param: Any) -> str:
    name = str(param.name or "")
    if name in _BY_NAME:
        return _BY_NAME[name]
    desc = getattr(param, "type_descriptor", None)
    if desc is not None and getattr(desc, "is_choice", False) and desc.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices) + "]"
    annotation = getattr(desc, "annotation", None)
    args = getattr(annotation, "__args__", None)
    if args:  # list[X]: the element type, repeated by giving the option again
        annotation = args[0]
    return _BY_TYPE.get(getattr(annotation, "__name__", ""), "TEXT")


def _no_type(ctx: Any) -> str:
    return ""


def conventional_metavars(command: Any) -> Any:
    """Set click-style metavars on ``command`` and all its subcommands (in place); return it."""
    original_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = original_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for param in getattr(command, "params", []):
        kind = getattr(param, "param_type_name", "")
        if kind == "argument":
            if param.metavar is None:
                base = str(param.name or "ARG").upper()
                param.metavar = base[:-1] if param.nargs != 1 and base.endswith("S") else base  # usage adds "..."
            param.display_type_rich = _no_type  # the name column already says it
        elif getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = _metavar(param)
    for sub in getattr(command, "commands", {}).values():
        conventional_metavars(sub)
    return command
