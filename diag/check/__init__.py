"""`kmsdiag check`: would these accesses work? Evaluated offline against the collected policies.

Public API: ``check_access(con, CheckRequest) -> CheckResult``, ``load_requests(text, filename)``,
``evaluate_access(...)`` (the one-action core shared with the audit's access matrix).
"""

from diag.check.request import CheckRequest, load_requests, requests_from_document
from diag.check.run import ActionResult, CallerInfo, CheckResult, check_access, evaluate_access, resolve_caller

__all__ = [
    "ActionResult",
    "CallerInfo",
    "CheckRequest",
    "CheckResult",
    "check_access",
    "evaluate_access",
    "load_requests",
    "requests_from_document",
    "resolve_caller",
]
