"""A circuit breaker per satellite: stop calling a satellite that keeps failing.

    closed ──(threshold consecutive failures)──> open
    open ──(cooldown elapsed, next request)──> half_open   (one trial request at a time)
    half_open ──success──> closed
    half_open ──failure──> open (cooldown starts again)

Time comes from an injected clock so tests move it by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from nexus_agent.satellites.models import BreakerState

__all__ = ["CircuitBreaker"]

Clock = Callable[[], float]
OnChange = Callable[[BreakerState, BreakerState], None]


class CircuitBreaker:
    def __init__(
        self,
        *,
        threshold: int = 5,
        cooldown: float = 30.0,
        clock: Clock = time.monotonic,
        on_change: OnChange | None = None,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.closed
        self._opened_at = 0.0
        self._trial_started: float | None = None
        self.consecutive_failures = 0
        self.last_error: str | None = None

    @property
    def state(self) -> BreakerState:
        """The state as of now: an open breaker whose cooldown has passed reads as half-open."""
        if self._state is BreakerState.open and self._clock() - self._opened_at >= self.cooldown:
            self._set(BreakerState.half_open)
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial request through."""
        if self.state is not BreakerState.open:
            return 0.0
        return max(0.0, self.cooldown - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a request go out now? In half-open only one trial request is in flight at a time."""
        state = self.state
        if state is BreakerState.closed:
            return True
        if state is BreakerState.open:
            return False
        now = self._clock()
        # A trial that never reported back (its caller was cancelled) stops blocking after one cooldown.
        if self._trial_started is not None and now - self._trial_started < self.cooldown:
            return False
        self._trial_started = now
        return True

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.last_error = None
        self._trial_started = None
        if self._state is not BreakerState.closed:
            self._set(BreakerState.closed)

    def record_failure(self, error: str) -> None:
        self.consecutive_failures += 1
        self.last_error = error
        self._trial_started = None
        if self._state is BreakerState.half_open or (
            self._state is BreakerState.closed and self.consecutive_failures >= self.threshold
        ):
            self._opened_at = self._clock()
            self._set(BreakerState.open)

    def _set(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if old is not new and self._on_change is not None:
            self._on_change(old, new)
