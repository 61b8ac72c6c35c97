"""Which cloud failures are worth another attempt, and how long to wait before it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds for retrying transient failures (refused/timed-out connections, 429, 5xx).

    ``token_replay_s`` is msal's replay window for a token-endpoint 5xx without ``Retry-After``: a
    retry sooner than that would be answered from msal's memory, not by the identity platform.
    """

    attempts: int = 3
    backoff_s: float = 2.0  # first wait without Retry-After; doubles per attempt
    max_backoff_s: float = 30.0
    max_retry_after_s: float = 120.0  # never wait longer than this, whatever the server asks
    token_replay_s: float = 5.0

    def wait_for(self, attempt: int, error: Transient) -> float:
        if error.retry_after is not None:
            wait = min(error.retry_after, self.max_retry_after_s)
        else:
            wait = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        return max(wait, min(error.min_wait, self.max_retry_after_s))


class Transient(Exception):
    """A failure another attempt may cure; ``message`` is the one line shown if none does."""

    def __init__(self, message: str, *, retry_after: float | None = None, min_wait: float = 0.0) -> None:
        self.message = message
        self.retry_after = retry_after
        self.min_wait = min_wait
        super().__init__(message)


def run_with_retries(fn: Callable[[], T], policy: RetryPolicy, *, attempts: int | None = None,
                     sleep: Callable[[float], None]) -> T:
    """Call ``fn`` until it returns or raises something other than ``Transient``.

    After the last attempt the final ``Transient`` is re-raised for the caller to translate.
    """

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, Transient):
            return policy.wait_for(state.attempt_number, error)
        return 0.0

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, attempts if attempts is not None else policy.attempts)),
        wait=wait,
        retry=tenacity.retry_if_exception_type(Transient),
        sleep=sleep,
        reraise=True,
    )
    return retrying(fn)
