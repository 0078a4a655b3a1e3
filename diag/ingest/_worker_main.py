"""Entry point of an ingest worker process: ``python -m diag.ingest._worker_main`` (see pool.py).

A worker never prints a traceback of its own: Ctrl-C in a terminal reaches the whole process group, and
the parent (which handles it) stops its workers; a parent that died leaves a closed pipe, and the worker
just exits.
"""

import os
import signal
import sys

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGPIPE, signal.SIG_DFL)

from diag.ingest.worker import serve  # noqa: E402

try:
    serve(sys.stdin.buffer, sys.stdout.buffer)
except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
    os._exit(0)
