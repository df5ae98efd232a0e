"""Failed-login limits per username and per client address (pure: the clock is passed in)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass
class FailureWindow:
    """At most ``limit`` failures per key within ``window_s`` seconds."""

    limit: int
    window_s: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after(self, key: str, now: float) -> int:
        """Seconds until the key may try again; 0 if it may now."""
        failures = self._failures.get(key)
        if not failures:
            return 0
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return 0
        if len(failures) < self.limit:
            return 0
        return max(1, math.ceil(failures[0] + self.window_s - now))

    def fail(self, key: str, now: float) -> None:
        self._failures.setdefault(key, deque()).append(now)

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass
class LoginLimiter:
    """Guessing one user's password, or many users' from one address, is slowed down."""

    per_user: FailureWindow = field(default_factory=lambda: FailureWindow(5, 300.0))
    per_client: FailureWindow = field(default_factory=lambda: FailureWindow(20, 300.0))

    def retry_after(self, username: str, client: str, now: float) -> int:
        return max(
            self.per_user.retry_after(username.lower(), now),
            self.per_client.retry_after(client, now),
        )

    def failed(self, username: str, client: str, now: float) -> None:
        self.per_user.fail(username.lower(), now)
        self.per_client.fail(client, now)

    def succeeded(self, username: str) -> None:
        self.per_user.forget(username.lower())
