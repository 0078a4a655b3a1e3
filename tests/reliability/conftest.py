"""Hypothesis budgets for the reliability suite, and the seed corpus of real records.

CI runs the ``ci`` profile (small ``max_examples``, no deadline: the machines are shared and noisy).
``HYPOTHESIS_PROFILE=full python -m pytest tests/reliability`` runs the full budget; ``dev`` sits between.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "suppress_health_check": (HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture),
    "derandomize": False,
    "print_blob": True,
}
settings.register_profile("ci", max_examples=40, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("dev", max_examples=200, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("full", max_examples=2000, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
