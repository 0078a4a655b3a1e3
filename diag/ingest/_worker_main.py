"""Entry point of an ingest worker process: ``python -m diag.ingest._worker_main`` (see pool.py)."""

import sys

from diag.ingest.worker import serve

serve(sys.stdin.buffer, sys.stdout.buffer)
