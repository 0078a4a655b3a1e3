"""`python -m diag` runs the kmsdiag CLI (with the fast path for `kmsdiag explain`)."""

from diag.cli import interrupt

interrupt.install()  # first: a Ctrl-C while the CLI is still importing ends as cleanly as one later

from diag.cli.fast import main  # noqa: E402

main()
