"""Per-key request pacing (AWS LookupEvents allows 2 requests/s per account and region) and backoff.

Clock and sleep are injectable so tests can verify the pacing without waiting.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Hashable


class RateLimiter:
    """At most ``rate`` requests per second for each key: requests are spaced ``1/rate`` apart."""

    def __init__(
        self,
        rate: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable) -> float:
        """Wait until ``key`` may send its next request; return the time it is sent at."""
        with self._lock:
            now = self.clock()
            at = max(now, self._next.get(key, now))
            self._next[key] = at + self.interval
        if at > now:
            self.sleep(at - now)
        return at


def backoff_delays(attempts: int, *, base: float = 1.0, cap: float = 30.0, jitter: bool = True) -> list[float]:
    """Exponential backoff (``base * 2**n``, capped), with "full jitter" unless disabled."""
    out = []
    for n in range(attempts):
        delay = min(cap, base * (2**n))
        out.append(random.uniform(delay / 2, delay) if jitter else delay)
    return out
