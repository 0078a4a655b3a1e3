"""`python -m diag` runs the kmsdiag CLI (with the fast path for `kmsdiag explain`)."""

from diag.cli.fast import main

main()
