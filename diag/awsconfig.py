"""The one retry policy for kmsdiag's AWS calls (botocore ``Config``), used by collection and ingestion.

botocore's ``adaptive`` retry mode: the ``standard`` mode's retries (throttling, 5xx, connection errors,
with exponential backoff and jitter) plus client-side rate limiting once AWS throttles, so a pool of
threads slows down together instead of each burning its retries. ``total_max_attempts`` counts the first
call; a caller that paces itself (LookupEvents at 2 requests/s) asks for 1 attempt.
"""

from __future__ import annotations

from typing import Any

RETRY_MODE = "adaptive"
MAX_ATTEMPTS = 11  # the first call and up to 10 retries
# Bulk transfers (CloudTrail objects from S3, Athena): botocore's standard mode with 5 attempts, so a
# failing object is reported within seconds and the next cycle of `watch` is not held up by backoff.
TRANSFER_RETRY_MODE = "standard"
TRANSFER_MAX_ATTEMPTS = 5
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
USER_AGENT = "kmsdiag"


def client_config(
    *, pool: int = 10, max_attempts: int = MAX_ATTEMPTS, user_agent: str = USER_AGENT, mode: str = RETRY_MODE
) -> Any:
    """A botocore ``Config``: the retry policy above, ``pool`` connections (one per concurrent thread)."""
    from botocore.config import Config

    return Config(
        retries={"mode": mode, "total_max_attempts": max_attempts},
        max_pool_connections=pool,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        user_agent_extra=user_agent,
    )
