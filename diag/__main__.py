"""`python -m diag` runs the kmsdiag CLI."""

from diag.cli.app import main

main()
