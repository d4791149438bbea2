"""Retries and polls of Cloud TPU calls, on google-api-core's retry loop and tpuctl's clock.

api-core's `Retry` decides what is retried (`is_transient`), runs the loop and lets an
`on_error` callback end it. Its own pauses use `time.sleep` and `time.monotonic`, which a
test cannot move, so they are switched off (zero delays, no timeout) and every wait and
deadline is kept in `on_error` on one clock (domain/clock.py): with a ManualClock no test
waits for real. A call has a number of attempts (TPUCTL_RETRIES), as the README documents;
api-core counts only time, so the count is kept here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from tpuctl.adapters.tpu_errors import NotSent, is_transient, translated
from tpuctl.domain.clock import WaitingClock
from tpuctl.errors import TpuctlError, UnavailableError

RetryProgress = Callable[[TpuctlError, int, int, float], None]   # (why, next attempt, attempts, delay)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for 429/5xx and dropped connections: at most `attempts` tries and,
    given a `deadline`, no wait that would end more than that many seconds after the first try."""

    attempts: int = 5
    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 10.0
    deadline: float | None = None

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failed attempt in a row."""
        return min(self.initial * self.multiplier ** (failures - 1), self.maximum)


def clockless_retry(predicate: Callable[[Exception], bool], on_error: Callable[[Exception], None]):
    """An api-core Retry whose own sleeps and timeout are off: `on_error` waits (on tpuctl's
    clock) or ends the loop by raising."""
    from google.api_core.retry import Retry

    return Retry(predicate=predicate, initial=0.0, maximum=0.0, timeout=None, on_error=on_error)


def never_retry():
    """For the operations client: a failed poll comes back to our own loop (the client's default
    retries 503 on the real clock)."""
    from google.api_core.retry import Retry

    return Retry(predicate=lambda exc: False, timeout=None)


class Attempts:
    """One call's budget of attempts: the wait before each next one, and the error once it is spent."""

    def __init__(self, what: str, policy: RetryPolicy, clock: WaitingClock, on_retry: RetryProgress | None):
        self.what, self.policy, self.clock, self.on_retry = what, policy, clock, on_retry
        self.failures = 0           # failed attempts in a row
        self.retried = False        # an attempt failed and another was made
        self.sent = False           # some attempt may have reached Cloud TPU
        self.started = clock.now()

    def retry(self):
        return clockless_retry(is_transient, self.wait_or_give_up)

    def wait_or_give_up(self, exc: Exception) -> None:
        """api-core's on_error: wait before the next attempt, or raise what to tell."""
        final = translated(self.what, exc).final      # the predicate let only a Transient through
        self.failures += 1
        self.sent = self.sent or not isinstance(final, NotSent)
        delay = self.policy.delay(self.failures)
        late = self.policy.deadline is not None and \
            self.clock.now() + timedelta(seconds=delay) > self.started + timedelta(seconds=self.policy.deadline)
        if self.failures >= self.policy.attempts or late:
            raise self._given_up(final) from None
        self.retried = True
        if self.on_retry is not None:
            self.on_retry(final, self.failures + 1, self.policy.attempts, delay)
        self.clock.sleep(delay)

    def succeeded(self) -> None:
        """A look went through: the next failure starts a new run of attempts."""
        self.failures = 0
        self.started = self.clock.now()

    def _given_up(self, final: TpuctlError) -> TpuctlError:
        if self.sent and isinstance(final, NotSent):        # an earlier attempt may have got through
            final = UnavailableError(final.message, final.hint)
        final.transient = True
        return final


class Pace:
    """A poll loop's pace: a look now, then after waits growing 1.5x up to `ceiling` seconds,
    until `timeout` seconds have passed (the caller then says what it was waiting for; None:
    no end)."""

    def __init__(self, clock: WaitingClock, first: float, timeout: float | None, ceiling: float = 5.0):
        self.clock, self.interval, self.ceiling = clock, first, ceiling
        self.deadline = None if timeout is None else clock.now() + timedelta(seconds=timeout)

    def wait(self) -> bool:
        """Wait before the next look; False once the time is up (no wait then)."""
        if self.deadline is not None and self.clock.now() > self.deadline:
            return False
        self.clock.sleep(self.interval)
        self.interval = min(self.interval * 1.5, self.ceiling)
        return True
