"""The columns of the ``events`` table, defined once: ingest writes them (``diag.ingest.normalize``), the
explain path reads them (``diag.diagnosis.find``). Names are the table's columns (001_core.sql + 002, 008)."""

from __future__ import annotations

# Column order of diag.ingest.normalize.normalize_values().
VALUE_COLUMNS: tuple[str, ...] = (
    "event_id",
    "event_time",
    "event_version",
    "event_source",
    "event_name",
    "event_type",
    "event_category",
    "aws_region",
    "source_ip",
    "user_agent",
    "error_code",
    "error_message",
    "caller_arn",
    "caller_type",
    "caller_account",
    "caller_principal_id",
    "caller_role_arn",
    "caller_session_name",
    "caller_user_name",
    "invoked_by",
    "recipient_account",
    "shared_event_id",
    "request_id",
    "key_arn",
    "key_id_given",
    "key_alias",
    "key_account",
    "bucket",
    "vpc_endpoint_id",
    "read_only",
    "management_event",
    "encryption_context",
    "reencrypt_source_key",  # 008_reencrypt_keys.sql
    "reencrypt_destination_key",
)
# Every column normalize_record() returns.
COLUMNS: tuple[str, ...] = (*VALUE_COLUMNS, "raw")
