from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soravideo._engine.pacing import AdaptiveLimit, Observation, TokenBucket, next_poll_delay


def simulate(
    generation: float, *, min_interval: float = 1.0, max_interval: float = 120.0
) -> tuple[int, float]:
    """Poll a job with linear, whole-number progress; return (status requests, lateness)."""
    observations = [(0.0, 0)]
    now = 0.0
    polls = 0
    while True:
        now += next_poll_delay(
            observations, now, min_interval=min_interval, max_interval=max_interval
        )
        polls += 1
        if now >= generation:
            return polls, now - generation
        observations.append((now, int(100 * now / generation)))


@pytest.mark.parametrize(
    ("generation", "max_polls"),
    [(10.0, 3), (60.0, 4), (300.0, 6), (1200.0, 16)],
)
def test_eta_polling_is_cheap_and_prompt(generation: float, max_polls: int) -> None:
    polls, late = simulate(generation)
    assert polls <= max_polls
    assert late <= max(1.0, 0.05 * generation)


@pytest.mark.parametrize(
    ("observations", "now", "expected"),
    [
        # No progress yet: wait as long as the job has run (doubling), at least the minimum.
        ([(0, 0)], 0.0, 1.0),
        ([(0, 0), (4, 0)], 4.0, 4.0),
        # Capped by the maximum interval.
        ([(0, 0), (500, 0)], 500.0, 120.0),
        # 50 % after 10 s: completion between ~19.6 s and ~20.4 s: poll at the late bound.
        ([(0, 0), (10, 50)], 10.0, pytest.approx(50 / 4.9, rel=1e-6)),
    ],
)
def test_poll_delay_table(observations: list[Observation], now: float, expected: float) -> None:
    assert next_poll_delay(observations, now, min_interval=1.0, max_interval=120.0) == expected


def test_poll_delay_honours_provider_hint() -> None:
    delay = next_poll_delay([(0, 0)], 0.0, min_interval=1.0, max_interval=5.0, hint=9.0)
    assert delay == 9.0


def test_progress_after_a_queue_wait_is_measured_from_the_last_zero() -> None:
    # Queued for 100 s, then 10 % in 10 s: about 90 s remain, not 900.
    obs = [(0, 0), (100, 0), (110, 10)]
    delay = next_poll_delay(obs, 110.0, min_interval=1.0, max_interval=1000.0)
    assert 60.0 <= delay <= 100.0


@given(
    progress=st.lists(st.integers(0, 100), min_size=1, max_size=8).map(sorted),
    step=st.floats(0.1, 100.0),
    lo=st.floats(0.1, 10.0),
    span=st.floats(0.0, 300.0),
)
def test_poll_delay_always_within_bounds(
    progress: list[int], step: float, lo: float, span: float
) -> None:
    observations = [(0.0, 0)] + [(step * (i + 1), p) for i, p in enumerate(progress)]
    now = observations[-1][0]
    hi = lo + span
    delay = next_poll_delay(observations, now, min_interval=lo, max_interval=hi)
    assert lo <= delay <= hi
    assert math.isfinite(delay)


def test_adaptive_limit_halves_but_keeps_what_the_provider_accepts() -> None:
    limit = AdaptiveLimit(16)
    assert limit.current == 16
    assert limit.on_rate_limited(in_flight=4) == 8
    assert limit.on_rate_limited(in_flight=4) == 4
    assert limit.on_rate_limited(in_flight=4) == 4
    assert limit.on_rate_limited(in_flight=0) == 2
    assert limit.on_success(in_flight=1) == 2  # not full: nothing learnt
    assert limit.on_success(in_flight=2) == 3


@given(maximum=st.integers(1, 64), events=st.lists(st.tuples(st.booleans(), st.integers(0, 80))))
def test_adaptive_limit_stays_between_one_and_maximum(
    maximum: int, events: list[tuple[bool, int]]
) -> None:
    limit = AdaptiveLimit(maximum)
    for limited, in_flight in events:
        value = limit.on_rate_limited(in_flight) if limited else limit.on_success(in_flight)
        assert 1 <= value <= maximum


@pytest.mark.parametrize(
    ("current", "in_flight", "ahead", "expected"),
    [
        (8, 8, 5, 3),  # five wait ahead of this one: what runs, plus one waiting
        (8, 8, 0, 8),  # next in line (a runner starting) says nothing
        (3, 8, 1, 3),  # never raised by a queue
        (8, 2, 6, 1),  # others' requests ahead too: never below one
        (4, 4, 1, 3),
    ],
)
def test_adaptive_limit_shrinks_to_what_runs_when_the_provider_queues_our_work(
    current: int, in_flight: int, ahead: int, expected: int
) -> None:
    limit = AdaptiveLimit(8, current)
    assert limit.on_queued(in_flight, ahead) == expected
    assert limit.current == expected


@given(
    maximum=st.integers(1, 64),
    events=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 80), st.integers(0, 80))),
)
def test_adaptive_limit_stays_between_one_and_maximum_with_queue_positions(
    maximum: int, events: list[tuple[int, int, int]]
) -> None:
    limit = AdaptiveLimit(maximum)
    for kind, in_flight, ahead in events:
        if kind == 0:
            value = limit.on_rate_limited(in_flight)
        elif kind == 1:
            value = limit.on_success(in_flight)
        else:
            value = limit.on_queued(in_flight, ahead)
        assert 1 <= value <= maximum


def test_token_bucket_spaces_requests_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0)
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) == 0.0
    assert bucket.reserve(0.0) == pytest.approx(0.5)
    assert bucket.reserve(0.0) == pytest.approx(1.0)
    # After a quiet second, two tokens are back (the burst) but no more.
    bucket2 = TokenBucket(rate=2.0, burst=2.0)
    bucket2.reserve(0.0)
    assert bucket2.reserve(10.0) == 0.0
    assert bucket2.reserve(10.0) == 0.0
    assert bucket2.reserve(10.0) == pytest.approx(0.5)


@given(rate=st.floats(0.5, 100.0), n=st.integers(1, 200))
def test_token_bucket_never_exceeds_rate(rate: float, n: int) -> None:
    bucket = TokenBucket(rate=rate, burst=1.0)
    starts = [bucket.reserve(0.0) for _ in range(n)]
    # The k-th request may start no sooner than (k - burst) / rate.
    for k, start in enumerate(starts):
        assert start >= (k - 1) / rate - 1e-9


def test_token_bucket_rejects_bad_rates() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0.0)
