"""Per-user limit on expensive commands (SPEC §11 `limits.per_user_per_minute`)."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable


class SlidingWindowLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._hits: defaultdict[str, deque[float]] = defaultdict(deque)

    def check(self, key: str) -> float:
        """Record a hit and return 0, or return the seconds to wait if the key is over its limit."""
        now = self._clock()
        hits = self._hits[key]
        while hits and now - hits[0] >= 60.0:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return 60.0 - (now - hits[0])
        hits.append(now)
        return 0.0
