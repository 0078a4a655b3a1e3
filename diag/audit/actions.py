"""The KMS actions the "who can use this key" matrix asks about (``diag.audit.access`` re-exports them). A
module of its own so that the blast radius of an `explain` fix (``diag.proof.blast``) reads them without
building the matrix's result classes."""

from __future__ import annotations

MATRIX_ACTIONS = (
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
)
