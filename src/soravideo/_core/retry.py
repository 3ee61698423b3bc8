"""The retry policy: pure decisions, and a thin tenacity executor that carries them out.

Everything that decides (what to retry, how long to wait, what a ``Retry-After`` header
says) is a pure function of its inputs, so it is tested by table and by hypothesis. Only
``call_with_retries`` does I/O, and only through the ``sleep`` it is given.

Retrying is safe for reads and deletes. A create is different: it must not be sent twice unless the
first one certainly did not happen. Either the request never reached the server (a connect error) or
the server answered that it did not act on it (``408``, ``409``, ``429``, ``503``). Any other
failure of a create after its bytes left the machine (a timeout, a broken connection, a
``500``/``502``/``504``) is *ambiguous*: the video may exist. Such a create is never retried; it
surfaces as [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError] and the runner
reconciles it. A create that certainly did not happen (``create_never_happened``) is sent again as
it is, by the policy and by the runner alike.

A server-requested wait counts for at most ``RetryPolicy.retry_after_cap`` (a client's
``max_retry_after``): ``RetryAfterCap`` caps it and warns once, so one absurd
``Retry-After`` cannot stall every request for a day.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import enum
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Literal, TypeVar

import anyio
import attrs
import httpx
import tenacity

from .errors import AmbiguousSubmissionError, ProviderConnectionError, ProviderTimeoutError

__all__ = [
    "DEFAULT_RETRY_AFTER_CAP",
    "Decision",
    "Failure",
    "OnRetry",
    "RequestKind",
    "RetryAfterCap",
    "RetryPolicy",
    "backoff",
    "call_with_retries",
    "classify",
    "create_never_happened",
    "create_waits",
    "failure_of",
    "outcome_of",
    "parse_retry_after",
    "retry_after_of",
]

T = TypeVar("T")

OnRetry = Callable[[int, float, BaseException], None]
"""A hook called before each retry with ``(attempt, delay, error)``; ``attempt`` is the one that failed."""

log = logging.getLogger("soravideo")

MAX_RETRY_AFTER = 120.0
"""Longest server-requested wait a request retry sits through (the official client's limit)."""
DEFAULT_RETRY_AFTER_CAP = 300.0
"""The most any ``Retry-After`` counts for (``Settings.max_retry_after``'s default)."""

_RETRY_AFTER_CEILING = 86_400.0
_STATUS_RETRIED = frozenset({408, 409, 429})
# A create that got one of these answers was refused, not carried out: the server said so.
_CREATE_STATUS_RETRIED = frozenset({408, 409, 429, 503})
# Rate-limit answers that only a human can fix; waiting does not help.
_NEVER_RETRIED_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})


class RequestKind(str, enum.Enum):
    """What a request does, which decides whether repeating it is safe."""

    READ = "read"
    DELETE = "delete"
    CREATE = "create"

    def __str__(self) -> str:
        return self.value


class Decision(str, enum.Enum):
    """What to do after a failed attempt."""

    RETRY = "retry"
    FAIL = "fail"
    AMBIGUOUS = "ambiguous"

    def __str__(self) -> str:
        return self.value


class Failure(str, enum.Enum):
    """How a request failed when no HTTP status came back.

    ``CONNECT``: it never reached the server (connect error, connect or pool timeout).
    ``TIMEOUT``: it was (maybe partly) sent and no answer came in time.
    ``AFTER_SEND``: the connection broke, or the answer was unreadable, after sending.
    ``LOCAL``: our side refused to send it (bad URL, protocol misuse); retrying cannot help.
    """

    CONNECT = "connect"
    TIMEOUT = "timeout"
    AFTER_SEND = "after_send"
    LOCAL = "local"

    def __str__(self) -> str:
        return self.value


Outcome = int | Failure


def failure_of(error: BaseException) -> Failure | None:
    """Return how a request failed, from an httpx exception or a mapped soravideo one.

    A soravideo connection error is judged by the httpx exception it was raised from; without one,
    an [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError] or a plain connection error
    counts as ``Failure.AFTER_SEND`` (the cautious reading) and a timeout as ``Failure.TIMEOUT``.

    Args:
        error: The exception raised by an attempt.

    Returns:
        The failure kind, or ``None`` when ``error`` is not a transport failure.
    """
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Failure.CONNECT
    if isinstance(error, httpx.ProxyError):
        return Failure.CONNECT
    if isinstance(error, httpx.TimeoutException):
        return Failure.TIMEOUT
    if isinstance(error, (httpx.LocalProtocolError, httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return Failure.LOCAL
    if isinstance(error, httpx.RequestError):
        return Failure.AFTER_SEND
    if isinstance(error, ProviderConnectionError):
        cause = failure_of(error.__cause__) if error.__cause__ is not None else None
        if isinstance(error, AmbiguousSubmissionError):
            # Ambiguity is final: whatever caused it, the create may have happened.
            return cause if cause in (Failure.TIMEOUT, Failure.AFTER_SEND) else Failure.AFTER_SEND
        if cause is not None:
            return cause
        return Failure.TIMEOUT if isinstance(error, ProviderTimeoutError) else Failure.AFTER_SEND
    return None


def outcome_of(error: BaseException) -> Outcome | None:
    """Return the HTTP status or the ``Failure`` an attempt's exception stands for.

    Args:
        error: An httpx exception or a soravideo ``ProviderError``.

    Returns:
        The status code, the failure kind, or ``None`` for anything else (never retried).
    """
    if isinstance(error, httpx.HTTPStatusError):
        return error.response.status_code
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool):
        return status
    return failure_of(error)


def classify(kind: RequestKind, outcome: Outcome) -> Decision:
    """Decide whether a failed request may be repeated.

    Reads and deletes are retried on ``408``, ``409``, ``429``, any ``5xx`` and any
    connection failure that is not local. A create is retried only when it certainly
    did not happen: a connect failure, or ``408`` / ``409`` / ``429`` / ``503`` (answers
    that mean "not done, try again", and the retry carries the same ``Idempotency-Key``).
    Other ``5xx`` answers and failures after sending make a create ``Decision.AMBIGUOUS``.

    Args:
        kind: What the request does.
        outcome: Its HTTP status code, or how it failed without one.

    Returns:
        ``RETRY``, ``FAIL`` or ``AMBIGUOUS`` (only ever for a create).
    """
    if isinstance(outcome, Failure):
        if outcome is Failure.CONNECT:
            return Decision.RETRY
        if outcome is Failure.LOCAL:
            return Decision.FAIL
        return Decision.AMBIGUOUS if kind is RequestKind.CREATE else Decision.RETRY
    if outcome < 400:
        return Decision.FAIL
    if kind is RequestKind.CREATE:
        if outcome in _CREATE_STATUS_RETRIED:
            return Decision.RETRY
        return Decision.AMBIGUOUS if outcome >= 500 else Decision.FAIL
    if outcome in _STATUS_RETRIED or outcome >= 500:
        return Decision.RETRY
    return Decision.FAIL


def create_never_happened(error: BaseException) -> bool:
    """Whether a create that raised ``error`` certainly did not happen.

    True for a failure before any byte could reach the server (connect error, connect or
    pool timeout) and for answers that say "not done" (``408``, ``409``, ``429``,
    ``503``): exactly the creates ``classify`` retries. Sending such a create again
    cannot make a second video; any other failed create may have happened.

    Args:
        error: The exception a create raised (an httpx one or a mapped soravideo one).

    Returns:
        ``True`` only when the create certainly made nothing.
    """
    if isinstance(error, AmbiguousSubmissionError):
        return False
    outcome = outcome_of(error)
    return outcome is not None and classify(RequestKind.CREATE, outcome) is Decision.RETRY


class RetryAfterCap:
    """Cap server-requested waits at a limit, logging one warning the first time it bites.

    A provider (or a proxy in front of it) may send ``Retry-After: 1000000000`` or a date
    years away; honoured as is, one such answer would stop every request for that long.
    One warning per owner (a transport's session, a runner) says it happened without
    flooding the log with one line per request.

    Args:
        who: Names the owner in the warning (e.g. ``"sora"``).
    """

    def __init__(self, who: str) -> None:
        self.who = who
        self.warned = False

    def __call__(self, seconds: float | None, cap: float) -> float | None:
        """Return ``seconds`` capped at ``cap`` (``None`` stays ``None``).

        Args:
            seconds: The server's requested wait.
            cap: The most it may count for (``Settings.max_retry_after``).

        Returns:
            ``min(seconds, cap)``.
        """
        if seconds is None or seconds <= cap:
            return seconds
        if not self.warned:
            self.warned = True
            log.warning(
                "%s: the provider asked to wait %.0f s (Retry-After); waiting %.0f s instead "
                "(max_retry_after; this warning is shown once)",
                self.who,
                seconds,
                cap,
            )
        return cap


def backoff(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 8.0,
    jitter: float | None = None,
    mode: Literal["equal", "full"] = "equal",
) -> float:
    """Return the wait before retry number ``attempt``: exponential, capped, jittered.

    The ceiling is ``min(cap, base * 2 ** (attempt - 1))``. ``"equal"`` jitter waits
    between half the ceiling and the ceiling; ``"full"`` jitter anywhere from 0 to it.

    Args:
        attempt: The attempt that failed, counting from 1.
        base: The first ceiling, in seconds.
        cap: The largest ceiling, in seconds.
        jitter: A fraction in ``[0, 1]`` (random when ``None``); the same fraction gives
            the same delay.
        mode: ``"equal"`` or ``"full"`` jitter.

    Returns:
        Seconds to wait, within ``[0, cap]``.
    """
    fraction = random.random() if jitter is None else min(1.0, max(0.0, jitter))
    exponent = min(max(attempt, 1) - 1, 64)
    ceiling = max(0.0, min(cap, base * 2.0**exponent))
    if mode == "full":
        return ceiling * fraction
    return ceiling / 2 + ceiling / 2 * fraction


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def parse_retry_after(
    headers: Mapping[str, str], now: float, *, max_seconds: float = _RETRY_AFTER_CEILING
) -> float | None:
    """Return the server's requested wait in seconds, from the response headers.

    ``retry-after-ms`` wins over ``Retry-After``; ``Retry-After`` may be seconds or an
    HTTP date. A date in the past means 0. Garbage (non-numbers, NaN, infinities,
    unparsable dates) is ignored.

    Args:
        headers: The response headers (any case).
        now: The current time in Unix seconds, to turn a date into a delay.
        max_seconds: Clamp the answer to this many seconds.

    Returns:
        Seconds within ``[0, max_seconds]``, or ``None`` when there is no usable hint.
    """
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = _header(headers, name)
        if raw is None:
            continue
        try:
            value = float(raw.strip())
        except ValueError:
            continue
        if math.isfinite(value):
            return min(max_seconds, max(0.0, value / scale))
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    try:
        parsed = email.utils.parsedate_tz(raw.strip())
        if parsed is None:
            return None
        when = float(email.utils.mktime_tz(parsed))
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max_seconds, max(0.0, when - now))


def retry_after_of(error: BaseException, now: float) -> float | None:
    """Return the server's requested wait carried by an error, if any.

    A [`RateLimitError`][soravideo.RateLimitError] carries it as ``retry_after``; other mapped
    errors are read from the response of the ``httpx.HTTPStatusError`` they were raised from.

    Args:
        error: The exception raised by an attempt.
        now: The current time in Unix seconds.

    Returns:
        Seconds to wait, or ``None``.
    """
    hint = getattr(error, "retry_after", None)
    if isinstance(hint, (int, float)) and not isinstance(hint, bool) and math.isfinite(hint):
        return max(0.0, float(hint))
    source = error if isinstance(error, httpx.HTTPStatusError) else error.__cause__
    if isinstance(source, httpx.HTTPStatusError):
        return parse_retry_after(source.response.headers, now)
    return None


def _positive(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a finite number ≥ 0, got {value!r}")


def _whole(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be a whole number ≥ 0, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a transport retries one HTTP request.

    Args:
        max_retries: Retries after the first attempt (0 disables retrying).
        base: First backoff ceiling in seconds (doubles per retry).
        cap: Largest backoff in seconds.
        max_retry_after: Longest server-requested wait honoured in place; a longer
            ``Retry-After`` is not waited out here: the error is raised with its
            ``retry_after`` so the runner can schedule the job instead of holding a request.
        retry_after_cap: The most any ``Retry-After`` (seconds, ``retry-after-ms`` or an
            HTTP date) counts for, here and in the ``retry_after`` of the
            [`RateLimitError`][soravideo.RateLimitError] a transport raises: a longer one is taken
            as this, with one warning per transport. A client sets it to its
            ``Settings.max_retry_after`` (see ``HttpTransport.use_settings``).
        jitter_mode: ``"equal"`` or ``"full"`` jitter (see ``backoff``).
        retry_rate_limits: ``False`` raises every ``429`` at once (with its
            ``retry_after``), for a caller that schedules around rate limits itself (the
            runner pauses all requests and lowers its concurrency on each one it sees).

    Examples:
        ```python
        from soravideo.transports import SoraTransport

        policy = sv.RetryPolicy(max_retries=5, base=1.0, cap=30.0, jitter_mode="full")
        transport = SoraTransport(api_key="sk-...", retry_policy=policy)
        ```
    """

    max_retries: int = attrs.field(default=3, validator=_whole)
    base: float = attrs.field(default=0.5, validator=_positive)
    cap: float = attrs.field(default=8.0, validator=_positive)
    max_retry_after: float = attrs.field(default=MAX_RETRY_AFTER, validator=_positive)
    retry_after_cap: float = attrs.field(default=DEFAULT_RETRY_AFTER_CAP, validator=_positive)
    jitter_mode: Literal["equal", "full"] = "equal"
    retry_rate_limits: bool = True

    def decide(self, error: BaseException, *, kind: RequestKind = RequestKind.READ) -> Decision:
        """Classify an attempt's exception for a request of ``kind``.

        Args:
            error: The exception raised by the attempt.
            kind: What the request does.

        Returns:
            The decision; an [`AmbiguousSubmissionError`][soravideo.AmbiguousSubmissionError] is
            always ``AMBIGUOUS``.

        Examples:
            ```python
            policy = sv.RetryPolicy()
            print(policy.decide(sv.RateLimitError("slow down", status_code=429)))  # retry
            print(policy.decide(sv.AuthenticationError("bad key", status_code=401)))  # fail
            ```
        """
        if isinstance(error, AmbiguousSubmissionError):
            return Decision.AMBIGUOUS
        outcome = outcome_of(error)
        if outcome is None:
            return Decision.FAIL
        decision = classify(kind, outcome)
        if decision is Decision.RETRY and (
            getattr(error, "code", None) in _NEVER_RETRIED_CODES
            or (outcome == 429 and not self.retry_rate_limits)
        ):
            return Decision.FAIL
        return decision

    def next_delay(
        self,
        attempt: int,
        error: BaseException,
        *,
        kind: RequestKind = RequestKind.READ,
        now: float | None = None,
        jitter: float | None = None,
    ) -> float | None:
        """Return how long to wait before retrying, or ``None`` to stop.

        Args:
            attempt: The attempt that just failed, counting from 1.
            error: The exception it raised.
            kind: What the request does.
            now: The current Unix time (for ``Retry-After`` dates); ``time.time()`` if ``None``.
            jitter: The jitter fraction (random when ``None``).

        Returns:
            Seconds to wait: the server's ``Retry-After`` when it sent one (capped at
            ``retry_after_cap``, then honoured up to ``max_retry_after``), else the
            jittered backoff. ``None`` when the error is not retryable, the retries are
            spent, or the server asked for a longer wait.

        Examples:
            ```python
            policy = sv.RetryPolicy(base=0.5, cap=8.0, max_retries=3)
            error = sv.ProviderUnavailableError("busy", status_code=503)
            print([policy.next_delay(attempt, error, jitter=1.0) for attempt in (1, 2, 3, 4)])
            # [0.5, 1.0, 2.0, None]: doubling, then no fourth retry
            throttled = sv.RateLimitError("slow down", status_code=429, retry_after=20)
            print(policy.next_delay(1, throttled))  # the provider's hint, within max_retry_after
            ```
        """
        if attempt > self.max_retries or self.decide(error, kind=kind) is not Decision.RETRY:
            return None
        hint = retry_after_of(error, time.time() if now is None else now)
        if hint is not None:
            hint = min(hint, self.retry_after_cap)
            return hint if hint <= self.max_retry_after else None
        return backoff(attempt, base=self.base, cap=self.cap, jitter=jitter, mode=self.jitter_mode)


# Set by ``create_waits`` for its block: a one-item list, True while a create retried
# there waits between two attempts.
_CREATE_WAITING: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "soravideo_create_waiting", default=None
)


@contextlib.contextmanager
def create_waits() -> Iterator[Callable[[], bool]]:
    """Tell whether a create retried in the block was stopped while waiting to be sent again.

    A create is retried only after attempts that certainly made nothing (the outcomes of
    ``create_never_happened``), so a create stopped during that wait (a stopping engine's
    ``close_timeout`` cutting it short) made nothing: it is no ambiguous create. One stopped
    while an attempt was on the wire may have made a video.

    Yields:
        A function that returns ``True`` when the last create retried in the block stopped
        in its wait between attempts (read it once the create has returned or raised).
    """
    waiting = [False]
    token = _CREATE_WAITING.set(waiting)
    try:
        yield lambda: waiting[0]
    finally:
        _CREATE_WAITING.reset(token)


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    kind: RequestKind,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    on_retry: OnRetry | None = None,
    now: Callable[[], float] = time.time,
) -> T:
    """Run ``fn`` until it succeeds or ``policy`` says stop, then return or raise its last outcome.

    Args:
        fn: One attempt: returns the result or raises (a mapped soravideo error, or httpx's).
        policy: The policy that decides every retry and every delay.
        kind: What the request does.
        sleep: Waits between attempts (pass a ``Clock``'s ``sleep`` to control time).
        on_retry: Called as ``on_retry(attempt, delay, error)`` before each wait.
        now: Returns the current Unix time, for ``Retry-After`` dates.

    Returns:
        What ``fn`` returned.

    Raises:
        BaseException: The last attempt's exception, unchanged.
    """
    waiting = _CREATE_WAITING.get() if kind is RequestKind.CREATE else None
    if waiting is not None:
        pause = sleep

        async def sleep(seconds: float) -> None:
            # Marked for ``create_waits``: left marked when the wait is cut short.
            waiting[0] = True
            await pause(seconds)
            waiting[0] = False

    # Most requests succeed at once: the first attempt runs bare, and only a failure that
    # the policy retries pays for tenacity's machinery (then numbered from attempt 2).
    try:
        return await fn()
    except Exception as exc:
        first = policy.next_delay(1, exc, kind=kind, now=now())
        if first is None:
            raise
        if on_retry is not None:
            on_retry(1, first, exc)
    await sleep(first)

    # One decision per failed attempt, shared by tenacity's retry / stop / wait callbacks.
    pending: float | None = None

    def retry(state: tenacity.RetryCallState) -> bool:
        nonlocal pending
        outcome = state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        pending = (
            None
            if error is None
            else policy.next_delay(state.attempt_number + 1, error, kind=kind, now=now())
        )
        return pending is not None

    def stop(_state: tenacity.RetryCallState) -> bool:
        return pending is None

    def wait(_state: tenacity.RetryCallState) -> float:
        return pending or 0.0

    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if on_retry is not None and error is not None:
            on_retry(state.attempt_number + 1, pending or 0.0, error)

    retrying = tenacity.AsyncRetrying(
        sleep=sleep,
        stop=stop,
        wait=wait,
        retry=retry,
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(fn)
