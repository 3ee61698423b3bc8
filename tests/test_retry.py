from __future__ import annotations

import email.utils
import functools
import math

import anyio
import anyio.lowlevel
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from soravideo import (
    AmbiguousSubmissionError,
    AuthenticationError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from soravideo._core.retry import (
    Decision,
    Failure,
    RequestKind,
    RetryPolicy,
    backoff,
    call_with_retries,
    classify,
    create_waits,
    failure_of,
    outcome_of,
    parse_retry_after,
    retry_after_of,
)

READ, DELETE, CREATE = RequestKind.READ, RequestKind.DELETE, RequestKind.CREATE
RETRY, FAIL, AMBIGUOUS = Decision.RETRY, Decision.FAIL, Decision.AMBIGUOUS
NOW = 1_750_000_000.0


def chained(error: ProviderError, cause: BaseException) -> ProviderError:
    error.__cause__ = cause
    return error


def status_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/v1/videos/v")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError("boom", request=request, response=response)


# --- classify ---------------------------------------------------------------------------

CLASSIFY_TABLE = [
    # reads and deletes: 408/409/429/5xx and non-local connection failures are retried
    *[(kind, s, RETRY) for kind in (READ, DELETE) for s in (408, 409, 429, 500, 502, 503, 504)],
    *[(kind, s, FAIL) for kind in (READ, DELETE) for s in (400, 401, 403, 404, 410, 422)],
    *[(kind, f, RETRY) for kind in (READ, DELETE) for f in Failure if f is not Failure.LOCAL],
    *[(kind, Failure.LOCAL, FAIL) for kind in (READ, DELETE)],
    # creates: retried only when the server certainly did not act
    (CREATE, Failure.CONNECT, RETRY),
    (CREATE, Failure.TIMEOUT, AMBIGUOUS),
    (CREATE, Failure.AFTER_SEND, AMBIGUOUS),
    (CREATE, Failure.LOCAL, FAIL),
    *[(CREATE, s, RETRY) for s in (408, 409, 429, 503)],
    *[(CREATE, s, AMBIGUOUS) for s in (500, 502, 504)],
    *[(CREATE, s, FAIL) for s in (400, 401, 403, 404, 422)],
    # a success is never "retried"
    *[(kind, s, FAIL) for kind in RequestKind for s in (200, 204, 302)],
]


@pytest.mark.parametrize(("kind", "outcome", "expected"), CLASSIFY_TABLE)
def test_classify_table(kind: RequestKind, outcome: int | Failure, expected: Decision) -> None:
    assert classify(kind, outcome) is expected


FAILURE_TABLE: list[tuple[BaseException, Failure | None]] = [
    (httpx.ConnectError("refused"), Failure.CONNECT),
    (httpx.ConnectTimeout("slow"), Failure.CONNECT),
    (httpx.PoolTimeout("busy"), Failure.CONNECT),
    (httpx.ProxyError("proxy said no"), Failure.CONNECT),
    (httpx.ReadTimeout("slow"), Failure.TIMEOUT),
    (httpx.WriteTimeout("slow"), Failure.TIMEOUT),
    (httpx.ReadError("reset"), Failure.AFTER_SEND),
    (httpx.WriteError("reset"), Failure.AFTER_SEND),
    (httpx.RemoteProtocolError("eof"), Failure.AFTER_SEND),
    (httpx.DecodingError("gzip"), Failure.AFTER_SEND),
    (httpx.LocalProtocolError("bad header"), Failure.LOCAL),
    (httpx.UnsupportedProtocol("ftp"), Failure.LOCAL),
    (chained(ProviderConnectionError("x"), httpx.ConnectError("refused")), Failure.CONNECT),
    (chained(ProviderTimeoutError("x"), httpx.ConnectTimeout("slow")), Failure.CONNECT),
    (chained(ProviderTimeoutError("x"), httpx.ReadTimeout("slow")), Failure.TIMEOUT),
    (ProviderTimeoutError("no cause"), Failure.TIMEOUT),
    (ProviderConnectionError("no cause"), Failure.AFTER_SEND),
    # ambiguity stays ambiguous whatever it was raised from
    (AmbiguousSubmissionError("x"), Failure.AFTER_SEND),
    (chained(AmbiguousSubmissionError("x"), httpx.ConnectError("?")), Failure.AFTER_SEND),
    (chained(AmbiguousSubmissionError("x"), httpx.ReadTimeout("slow")), Failure.TIMEOUT),
    (ValueError("not a transport failure"), None),
    (ProviderError("an answer", status_code=400), None),
]


@pytest.mark.parametrize(("error", "expected"), FAILURE_TABLE)
def test_failure_of_table(error: BaseException, expected: Failure | None) -> None:
    assert failure_of(error) is expected


def test_outcome_of_reads_status_from_either_error_kind() -> None:
    assert outcome_of(status_error(503)) == 503
    assert outcome_of(ProviderUnavailableError("x", status_code=502)) == 502
    assert outcome_of(httpx.ReadTimeout("slow")) is Failure.TIMEOUT
    assert outcome_of(KeyError("x")) is None


# --- Retry-After ------------------------------------------------------------------------

RETRY_AFTER_TABLE: list[tuple[dict[str, str], float | None]] = [
    ({}, None),
    ({"retry-after-ms": "1500"}, 1.5),
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
    ({"Retry-After": "9"}, 9.0),
    ({"RETRY-AFTER-MS": "250"}, 0.25),
    ({"retry-after": "2.5"}, 2.5),
    ({"retry-after": " 7 "}, 7.0),
    ({"retry-after": "-5"}, 0.0),
    ({"retry-after": "soon"}, None),
    ({"retry-after": ""}, None),
    ({"retry-after": "inf"}, None),
    ({"retry-after-ms": "nan", "retry-after": "2"}, 2.0),
    ({"retry-after-ms": "garbage"}, None),
    ({"retry-after": "999999999"}, 86_400.0),
    ({"retry-after": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
    ({"retry-after": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
    ({"retry-after": "Wed, 99 Foo 2026 99:99:99 GMT"}, None),
]


@pytest.mark.parametrize(("headers", "expected"), RETRY_AFTER_TABLE)
def test_parse_retry_after_table(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, NOW) == expected


def test_parse_retry_after_clamps_and_reads_httpx_headers() -> None:
    assert parse_retry_after({"retry-after": "500"}, NOW, max_seconds=120) == 120.0
    assert parse_retry_after(httpx.Headers({"Retry-After-Ms": "40"}), NOW) == 0.04


def test_retry_after_of_reads_the_error_then_the_response_it_came_from() -> None:
    assert retry_after_of(RateLimitError("x", retry_after=3.0), NOW) == 3.0
    assert retry_after_of(status_error(503, {"retry-after": "4"}), NOW) == 4.0
    mapped = chained(ProviderUnavailableError("x"), status_error(503, {"retry-after-ms": "700"}))
    assert retry_after_of(mapped, NOW) == 0.7
    assert retry_after_of(ProviderUnavailableError("x"), NOW) is None


# --- backoff and next_delay -------------------------------------------------------------

BACKOFF_TABLE = [
    # attempt, jitter, mode, expected (base 0.5, cap 8)
    (1, 0.0, "equal", 0.25),
    (1, 1.0, "equal", 0.5),
    (2, 1.0, "equal", 1.0),
    (3, 0.5, "equal", 1.5),
    (5, 1.0, "equal", 8.0),
    (50, 1.0, "equal", 8.0),
    (10_000, 0.0, "equal", 4.0),
    (1, 0.0, "full", 0.0),
    (4, 1.0, "full", 4.0),
    (4, 0.5, "full", 2.0),
    (0, 1.0, "equal", 0.5),
]


@pytest.mark.parametrize(("attempt", "jitter", "mode", "expected"), BACKOFF_TABLE)
def test_backoff_table(attempt: int, jitter: float, mode: str, expected: float) -> None:
    assert backoff(attempt, jitter=jitter, mode=mode) == pytest.approx(expected)  # type: ignore[arg-type]


POLICY = RetryPolicy(max_retries=3)

NEXT_DELAY_TABLE: list[tuple[int, BaseException, RequestKind, float | None]] = [
    (1, RateLimitError("x", status_code=429, retry_after=3.0), READ, 3.0),
    (1, RateLimitError("x", status_code=429, retry_after=0.0), CREATE, 0.0),
    (1, RateLimitError("x", status_code=429, retry_after=500.0), READ, None),
    (1, RateLimitError("x", status_code=429, code="insufficient_quota"), READ, None),
    (1, RateLimitError("x", status_code=429), READ, 0.5),
    (2, ProviderUnavailableError("x", status_code=500), READ, 1.0),
    (3, ProviderUnavailableError("x", status_code=502), DELETE, 2.0),
    (4, ProviderUnavailableError("x", status_code=502), READ, None),
    (
        1,
        chained(
            ProviderUnavailableError("x", status_code=503), status_error(503, {"retry-after": "6"})
        ),
        CREATE,
        6.0,
    ),
    (1, ProviderUnavailableError("x", status_code=500), CREATE, None),
    (1, AmbiguousSubmissionError("x", status_code=503), CREATE, None),
    (1, AmbiguousSubmissionError("x"), READ, None),
    (1, AuthenticationError("x", status_code=401), READ, None),
    (1, ProviderError("x", status_code=404), DELETE, None),
    (1, chained(ProviderConnectionError("x"), httpx.ConnectError("refused")), CREATE, 0.5),
    (1, chained(ProviderTimeoutError("x"), httpx.ReadTimeout("slow")), CREATE, None),
    (1, chained(ProviderTimeoutError("x"), httpx.ReadTimeout("slow")), READ, 0.5),
    (1, httpx.RemoteProtocolError("eof"), CREATE, None),
    (1, httpx.RemoteProtocolError("eof"), READ, 0.5),
    (1, RuntimeError("a bug"), READ, None),
]


@pytest.mark.parametrize(("attempt", "error", "kind", "expected"), NEXT_DELAY_TABLE)
def test_next_delay_table(
    attempt: int, error: BaseException, kind: RequestKind, expected: float | None
) -> None:
    assert POLICY.next_delay(attempt, error, kind=kind, now=NOW, jitter=1.0) == expected


def test_rate_limits_can_be_left_to_the_caller() -> None:
    policy = RetryPolicy(retry_rate_limits=False)
    for hint in (None, 1.0):
        limited = RateLimitError("x", status_code=429, retry_after=hint)
        assert policy.decide(limited, kind=READ) is FAIL
        assert policy.next_delay(1, limited, kind=CREATE) is None
    unavailable = ProviderUnavailableError("x", status_code=503)
    assert policy.next_delay(1, unavailable, kind=READ, jitter=1.0) == 0.5


def test_max_retries_zero_never_retries() -> None:
    policy = RetryPolicy(max_retries=0)
    assert policy.next_delay(1, ProviderUnavailableError("x", status_code=503), jitter=1.0) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"max_retries": True},
        {"base": -0.1},
        {"cap": math.inf},
        {"max_retry_after": math.nan},
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------

attempts = st.integers(min_value=1, max_value=200)
fractions = st.floats(min_value=0.0, max_value=1.0)
modes = st.sampled_from(["equal", "full"])
kinds = st.sampled_from(list(RequestKind))
statuses = st.integers(min_value=400, max_value=599)
hints = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1000.0))
policies = st.builds(
    RetryPolicy,
    max_retries=st.integers(min_value=0, max_value=10),
    base=st.floats(min_value=0.0, max_value=5.0),
    cap=st.floats(min_value=0.0, max_value=60.0),
    max_retry_after=st.floats(min_value=0.0, max_value=300.0),
    jitter_mode=modes,
)


def status_errors(status: int, hint: float | None) -> ProviderError:
    if status == 429:
        return RateLimitError("x", status_code=status, retry_after=hint)
    if status >= 500:
        return ProviderUnavailableError("x", status_code=status)
    return ProviderError("x", status_code=status)


@given(attempts, fractions, modes, st.floats(0.0, 10.0), st.floats(0.0, 100.0))
def test_backoff_is_within_zero_and_cap_and_deterministic(
    attempt: int, jitter: float, mode: str, base: float, cap: float
) -> None:
    delay = backoff(attempt, base=base, cap=cap, jitter=jitter, mode=mode)  # type: ignore[arg-type]
    assert 0.0 <= delay <= cap
    assert delay == backoff(attempt, base=base, cap=cap, jitter=jitter, mode=mode)  # type: ignore[arg-type]


@given(attempts, fractions, modes, st.floats(0.0, 10.0), st.floats(0.0, 100.0))
def test_backoff_never_shrinks_with_attempts(
    attempt: int, jitter: float, mode: str, base: float, cap: float
) -> None:
    # For a fixed jitter fraction (so also for its expectation) the delay is non-decreasing.
    now = backoff(attempt, base=base, cap=cap, jitter=jitter, mode=mode)  # type: ignore[arg-type]
    later = backoff(attempt + 1, base=base, cap=cap, jitter=jitter, mode=mode)  # type: ignore[arg-type]
    assert now <= later


@given(policies, attempts, kinds, statuses, hints, fractions)
def test_delay_is_within_cap_or_the_honoured_hint(
    policy: RetryPolicy,
    attempt: int,
    kind: RequestKind,
    status: int,
    hint: float | None,
    jitter: float,
) -> None:
    error = status_errors(status, hint)
    delay = policy.next_delay(attempt, error, kind=kind, now=NOW, jitter=jitter)
    if delay is None:
        return
    assert attempt <= policy.max_retries
    if status == 429 and hint is not None:
        assert delay == hint <= policy.max_retry_after
    else:
        assert 0.0 <= delay <= policy.cap


@given(policies, attempts, kinds, st.sampled_from([400, 401, 403, 404, 422]), hints)
def test_client_errors_are_never_retried(
    policy: RetryPolicy, attempt: int, kind: RequestKind, status: int, hint: float | None
) -> None:
    assert classify(kind, status) is FAIL
    error = chained(
        ProviderError("x", status_code=status), status_error(status, {"retry-after": "1"})
    )
    assert policy.next_delay(attempt, error, kind=kind, now=NOW) is None


after_send_errors = st.sampled_from(
    [
        httpx.ReadTimeout("slow"),
        httpx.WriteTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.WriteError("reset"),
        httpx.RemoteProtocolError("eof"),
        AmbiguousSubmissionError("x"),
        chained(ProviderTimeoutError("x"), httpx.ReadTimeout("slow")),
        chained(ProviderConnectionError("x"), httpx.RemoteProtocolError("eof")),
        ProviderUnavailableError("x", status_code=500),
        ProviderUnavailableError("x", status_code=504),
    ]
)


@given(policies, attempts, after_send_errors, fractions)
def test_create_is_never_retried_after_an_ambiguous_send(
    policy: RetryPolicy, attempt: int, error: BaseException, jitter: float
) -> None:
    assert policy.decide(error, kind=CREATE) is AMBIGUOUS
    assert policy.next_delay(attempt, error, kind=CREATE, now=NOW, jitter=jitter) is None


@given(kinds, st.sampled_from(list(Failure)) | statuses)
def test_only_creates_are_ever_ambiguous(kind: RequestKind, outcome: int | Failure) -> None:
    if classify(kind, outcome) is AMBIGUOUS:
        assert kind is CREATE


# --- the tenacity executor --------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.retries: list[tuple[int, float, BaseException]] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def on_retry(self, attempt: int, delay: float, error: BaseException) -> None:
        self.retries.append((attempt, delay, error))


def script(*steps: BaseException | str) -> tuple[list[int], object]:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls) + 1)
        step = steps[len(calls) - 1]
        if isinstance(step, BaseException):
            raise step
        return step

    return calls, attempt


@pytest.mark.anyio
async def test_executor_retries_until_success_and_reports_each_retry() -> None:
    rec = Recorder()
    first = RateLimitError("slow down", status_code=429, retry_after=2.0)
    second = ProviderUnavailableError("down", status_code=503)
    calls, attempt = script(first, second, "ok")
    result = await call_with_retries(
        attempt,  # type: ignore[arg-type]
        policy=RetryPolicy(max_retries=3, jitter_mode="full"),
        kind=READ,
        sleep=rec.sleep,
        on_retry=rec.on_retry,
    )
    assert result == "ok"
    assert calls == [1, 2, 3]
    assert rec.sleeps[0] == 2.0
    assert 0.0 <= rec.sleeps[1] <= 1.0
    assert [(a, e) for a, _, e in rec.retries] == [(1, first), (2, second)]
    assert [d for _, d, _ in rec.retries] == rec.sleeps


@pytest.mark.anyio
async def test_executor_reraises_the_last_error_when_retries_run_out() -> None:
    rec = Recorder()
    errors = [ProviderUnavailableError(f"down {i}", status_code=502) for i in range(3)]
    calls, attempt = script(*errors)
    with pytest.raises(ProviderUnavailableError) as info:
        await call_with_retries(
            attempt,  # type: ignore[arg-type]
            policy=RetryPolicy(max_retries=2),
            kind=DELETE,
            sleep=rec.sleep,
        )
    assert info.value is errors[2]
    assert calls == [1, 2, 3]
    assert len(rec.sleeps) == 2


@pytest.mark.anyio
@pytest.mark.parametrize(
    "error",
    [
        AuthenticationError("no", status_code=401),
        chained(AmbiguousSubmissionError("maybe"), httpx.ReadTimeout("slow")),
        ProviderUnavailableError("x", status_code=500),
        KeyError("a bug"),
    ],
)
async def test_executor_does_not_retry_a_create_that_may_have_happened(
    error: BaseException,
) -> None:
    rec = Recorder()
    calls, attempt = script(error, "never")
    with pytest.raises(type(error)) as info:
        await call_with_retries(attempt, policy=POLICY, kind=CREATE, sleep=rec.sleep)  # type: ignore[arg-type]
    assert info.value is error
    assert calls == [1]
    assert rec.sleeps == []


@pytest.mark.anyio
async def test_executor_retries_a_create_that_never_left() -> None:
    rec = Recorder()
    never_sent = chained(ProviderConnectionError("refused"), httpx.ConnectError("refused"))
    calls, attempt = script(
        never_sent, RateLimitError("busy", status_code=429, retry_after=1.0), "made"
    )
    result = await call_with_retries(attempt, policy=POLICY, kind=CREATE, sleep=rec.sleep)  # type: ignore[arg-type]
    assert result == "made"
    assert calls == [1, 2, 3]
    assert rec.sleeps[1] == 1.0


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kind", "stopped_while", "expected"),
    [
        (CREATE, "waiting", True),  # 429, then stopped in the wait: nothing made
        (CREATE, "sending", False),  # stopped during the second attempt: it may have made one
        (READ, "waiting", False),  # not a create: nothing to tell
    ],
)
async def test_create_waits_tells_a_create_stopped_between_attempts(
    kind: RequestKind, stopped_while: str, expected: bool
) -> None:
    reached = anyio.Event()
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            raise RateLimitError("busy", status_code=429, retry_after=5.0)
        reached.set()  # the second attempt hangs on the wire
        await anyio.sleep_forever()
        return "made"

    async def sleep(_seconds: float) -> None:
        if stopped_while == "waiting":
            reached.set()
            await anyio.sleep_forever()
        await anyio.lowlevel.checkpoint()

    with create_waits() as cut_while_waiting:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                functools.partial(call_with_retries, attempt, policy=POLICY, kind=kind, sleep=sleep)
            )
            await reached.wait()
            tg.cancel_scope.cancel()  # a stopping engine's close_timeout
    assert cut_while_waiting() is expected
    assert calls == ([1] if stopped_while == "waiting" else [1, 2])


@pytest.mark.anyio
async def test_create_waits_is_false_for_a_create_that_returned_after_retries() -> None:
    calls, attempt = script(RateLimitError("busy", status_code=429, retry_after=1.0), "made")
    with create_waits() as cut_while_waiting:
        result = await call_with_retries(
            attempt,  # type: ignore[arg-type]
            policy=POLICY,
            kind=CREATE,
            sleep=Recorder().sleep,
        )
    assert (result, calls, cut_while_waiting()) == ("made", [1, 2], False)
