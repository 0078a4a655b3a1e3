"""The `kmsdiag` command line: a typer app whose commands live one per module (``cmd_*.py``)."""
