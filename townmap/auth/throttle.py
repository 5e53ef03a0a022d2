"""Sign-in throttling: a growing delay after failures, a lock after many, a log line each.

Counted per user name and per client address, so guessing one account from many browser
sessions, or many accounts from one client, is slowed alike. The counters live in the
server process (like the sessions they protect); several servers on one workspace each
count their own. The rules are data: ``layers/auth/sign_in.toml``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("townmap.auth")


@dataclass(frozen=True)
class Policy:
    free_failures: int = 3
    first_delay_s: float = 2.0
    max_delay_s: float = 60.0
    lock_after: int = 10
    lock_minutes: float = 15.0

    @classmethod
    def from_layers(cls) -> Policy:
        from townmap.settings import layers_dir

        path = layers_dir() / "auth" / "sign_in.toml"
        return cls(**tomllib.loads(path.read_text(encoding="utf-8")))

    def wait_after(self, failures: int) -> float:
        """Seconds a key must wait after ``failures`` failures in a row."""
        if failures >= self.lock_after:
            return self.lock_minutes * 60
        extra = failures - self.free_failures
        if extra < 0:
            return 0.0
        return min(self.first_delay_s * 2**extra, self.max_delay_s)


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0


@dataclass(frozen=True)
class Verdict:
    """Whether an attempt may be checked now; if not, how long until it may, and why."""

    allowed: bool
    wait_s: int = 0
    locked: bool = False


@dataclass
class Throttle:
    policy: Policy
    clock: Callable[[], float] = time.monotonic
    _counts: dict[tuple, _Count] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def keys(workspace: str, user: str, client: str | None) -> list[tuple]:
        return [("user", workspace, user), ("client", workspace, client or "unknown")]

    def check(self, workspace: str, user: str, client: str | None) -> Verdict:
        """May this attempt's password be checked now? (Checked before hashing anything.)"""
        now = self.clock()
        waits = []
        with self._lock:
            for key in self.keys(workspace, user, client):
                count = self._counts.get(key)
                if count is not None:
                    left = count.last + self.policy.wait_after(count.failures) - now
                    waits.append((left, count.failures >= self.policy.lock_after))
        left, locked = max(waits, default=(0.0, False))
        if left <= 0:
            return Verdict(True)
        return Verdict(False, math.ceil(left), locked)

    def failed(self, workspace: str, user: str, client: str | None) -> None:
        now = self.clock()
        with self._lock:
            for key in self.keys(workspace, user, client):
                count = self._counts.setdefault(key, _Count())
                if now - count.last >= self.policy.lock_minutes * 60:  # quiet long enough
                    count.failures = 0
                count.failures += 1
                count.last = now
                n = count.failures
                if key[0] == "user":
                    log.warning(
                        "sign-in failed: user %r from %s at %s (%d in a row)",
                        user,
                        client or "unknown",
                        workspace,
                        n,
                    )
                if n == self.policy.lock_after:
                    log.warning(
                        "sign-in locked for %g min: %s %r at %s after %d failures",
                        self.policy.lock_minutes,
                        key[0],
                        key[2],
                        workspace,
                        n,
                    )

    def succeeded(self, workspace: str, user: str, client: str | None) -> None:
        """The user's count starts again; the client's does not (one known account must
        not wipe a client's guesses at others). A count also lapses after a quiet spell
        as long as the lock."""
        with self._lock:
            self._counts.pop(self.keys(workspace, user, client)[0], None)


_shared: Throttle | None = None


def shared() -> Throttle:
    """The server's one throttle (every session of this process counts into it)."""
    global _shared
    if _shared is None:
        _shared = Throttle(Policy.from_layers())
    return _shared
