"""Hostile answers at the HTTP level (respx), for every transport: whatever a provider
answers to a status read, the transport returns a job or raises a ``ProviderError``, never
another exception that would end the engine; a read of one job answered about another is
refused; absurd poll hints are capped; JSON answers have a size cap.

Found by the hostile end-to-end tests of [W2-2] (``tests/e2e/test_hostile.py``).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import attrs
import httpx
import pytest
import respx

from soravideo import AmbiguousSubmissionError, CreateVideoRequest, ProviderError
from soravideo.transports import (
    FalTransport,
    GeminiTransport,
    OpenRouterTransport,
    ReplicateTransport,
    RunwayTransport,
    SoraTransport,
    Transport,
)
from soravideo.transports._http import (
    ANSWER_TOO_LARGE,
    MAX_ANSWER_BYTES,
    MAX_JSON_DEPTH,
    REMOTE_ID_MISMATCH,
    HttpTransport,
    finite_number,
)

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:8790"
KEY = "sk-hostile-answers-SECRET-0123456789"
HUGE = 10**400  # past float range: float(HUGE) and math.isnan(HUGE) raise OverflowError


@attrs.frozen
class Case:
    """One transport, the id a read asks for, and what its status answer looks like."""

    make: Callable[[], HttpTransport]
    asked: str
    answer: Callable[[str], dict[str, Any]]
    # The field of ``answer`` naming the job (None: the answer does not say).
    id_field: str | None = "id"


def _sora() -> HttpTransport:
    return SoraTransport(base_url=f"{ORIGIN}/v1", api_key=KEY)


def _runway() -> HttpTransport:
    return RunwayTransport(base_url=ORIGIN, api_key=KEY)


def _openrouter() -> HttpTransport:
    return OpenRouterTransport(base_url=f"{ORIGIN}/api/v1", api_key=KEY)


def _fal() -> HttpTransport:
    return FalTransport(base_url=ORIGIN, api_key=KEY)


def _gemini() -> HttpTransport:
    return GeminiTransport(base_url=ORIGIN, api_key=KEY)


def _replicate() -> HttpTransport:
    return ReplicateTransport(base_url=ORIGIN, api_key=KEY)


FAL_REQUEST = "0e7a1c5e-9a6c-4d5e-8f0e-2f7c1e9b8a11"
CASES = {
    "sora": Case(
        _sora,
        "video_a",
        lambda rid: {
            "id": rid,
            "object": "video",
            "status": "in_progress",
            "progress": HUGE,
            "created_at": HUGE,
            "expires_at": -HUGE,
        },
    ),
    "runway": Case(
        _runway,
        "3f2c9a1e-7b1d-4c55-9a0e-2b8f7c1d9e10",
        lambda rid: {
            "id": rid,
            "status": "RUNNING",
            "progress": HUGE,
            "cost": {"credits": HUGE},
        },
    ),
    "openrouter": Case(
        _openrouter,
        "gen-vid-a",
        lambda rid: {
            "id": rid,
            "status": "completed",
            "unsigned_urls": ["https://cdn.example/v.mp4"],
            "usage": {"cost": HUGE},
            "expires_at": HUGE,
        },
    ),
    "fal": Case(
        _fal,
        f"fal-ai:kling-video:{FAL_REQUEST}",
        lambda rid: {
            "status": "IN_QUEUE",
            "queue_position": HUGE,
            "request_id": rid.rsplit(":", 1)[-1],
        },
        id_field="request_id",
    ),
    "gemini": Case(
        _gemini,
        "v1_abc123",
        lambda rid: {"id": rid, "status": "in_progress", "created": HUGE},
    ),
    "gemini-veo": Case(
        _gemini,
        "models:veo-3.1-generate-preview:operations:op123",
        lambda rid: {"name": rid.replace(":", "/"), "done": False, "metadata": {"n": HUGE}},
        id_field="name",
    ),
    "replicate": Case(
        _replicate,
        "pred_a1",
        lambda rid: {
            "id": rid,
            "model": "google/veo-3.1",
            "version": "hidden",
            "status": "processing",
            "metrics": {"predict_time": HUGE},
            "created_at": "9" * 40,
        },
    ),
}


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[str(request.param)]


@pytest.fixture
async def transport(case: Case) -> AsyncIterator[HttpTransport]:
    made = case.make()
    made.retry_policy = attrs.evolve(made.retry_policy, max_retries=0)
    yield made
    await made.aclose()


def _answer_with(mock: respx.MockRouter, *args: Any, **kwargs: Any) -> respx.Route:
    """Every request gets this answer (the transports' URLs differ; what matters is the body)."""
    return mock.route().mock(return_value=httpx.Response(*args, **kwargs))


async def _read(transport: HttpTransport, remote_id: str) -> Any:
    try:
        return await transport.fetch(remote_id)
    except ProviderError as exc:
        return exc


# -- no exception but a ProviderError -----------------------------------------------------------


async def test_numbers_past_float_range_are_tolerated(
    mock: respx.MockRouter, case: Case, transport: HttpTransport
) -> None:
    _answer_with(mock, 200, content=json.dumps(case.answer(case.asked)))

    got = await _read(transport, case.asked)

    if not isinstance(got, ProviderError):
        assert got.remote_id == case.asked
        assert 0 <= got.progress <= 100
        for cost in (got.cost_usd, got.cost_credits):
            assert cost is None or 0 <= cost < float("inf")


@pytest.mark.parametrize("depth", [100_000, 5_000, MAX_JSON_DEPTH + 1])
async def test_json_nested_past_the_limit_is_an_unexpected_answer(
    mock: respx.MockRouter, case: Case, transport: HttpTransport, depth: int
) -> None:
    answer = case.answer(case.asked)
    garbage = "[" * depth + "]" * depth
    body = json.dumps(answer)[:-1] + f', "garbage": {garbage}}}'
    _answer_with(mock, 200, content=body)

    with pytest.raises(ProviderError):
        await transport.fetch(case.asked)


async def test_json_nested_within_the_limit_is_tolerated(
    mock: respx.MockRouter, case: Case, transport: HttpTransport
) -> None:
    depth = MAX_JSON_DEPTH - 2
    answer = case.answer(case.asked)
    body = json.dumps(answer)[:-1] + f', "garbage": {"[" * depth + "]" * depth}}}'
    _answer_with(mock, 200, content=body)

    got = await _read(transport, case.asked)

    assert isinstance(got, ProviderError) or got.remote_id == case.asked


@pytest.mark.parametrize("body", ["[" * 100_000, '{"error": ' + "[" * 100_000, "9" * 5000])
async def test_an_error_answer_nested_past_the_limit_is_still_a_provider_error(
    mock: respx.MockRouter, case: Case, transport: HttpTransport, body: str
) -> None:
    _answer_with(mock, 500, content=body, headers={"content-type": "application/json"})

    with pytest.raises(ProviderError) as info:
        await transport.fetch(case.asked)
    assert info.value.status_code == 500


def test_finite_number_takes_only_finite_json_numbers() -> None:
    assert finite_number(3) == 3.0
    assert finite_number(-2.5) == -2.5
    for bad in (HUGE, -HUGE, float("inf"), float("nan"), True, "3", None, [1]):
        assert finite_number(bad) is None


# -- a read of one job answered about another ------------------------------------------------------


async def test_a_read_answered_with_another_id_is_refused(
    mock: respx.MockRouter, case: Case, transport: HttpTransport
) -> None:
    other = case.asked[:-1] + ("x" if case.asked[-1] != "x" else "y")
    answer = case.answer(other)
    mock.get(f"{ORIGIN}/v1/videos").respond(404)  # Sora's list: fetch_many reads one by one
    # Replicate's list: an empty page, so fetch_many reads the id by itself.
    mock.get(f"{ORIGIN}/v1/predictions").respond(200, json={"results": [], "next": None})
    _answer_with(mock, 200, content=json.dumps(answer))

    with pytest.raises(ProviderError) as info:
        await transport.fetch(case.asked)
    assert info.value.code == REMOTE_ID_MISMATCH
    assert not isinstance(info.value, AmbiguousSubmissionError)
    with pytest.raises(ProviderError) as many:
        await cast(Transport, transport).fetch_many([case.asked])
    assert many.value.code == REMOTE_ID_MISMATCH


async def test_a_read_answered_with_its_own_id_is_kept(
    mock: respx.MockRouter, case: Case, transport: HttpTransport
) -> None:
    answer = {k: v for k, v in case.answer(case.asked).items() if not _is_huge(v)}
    _answer_with(mock, 200, content=json.dumps(answer))

    got = await transport.fetch(case.asked)

    assert got.remote_id == case.asked


def _is_huge(value: Any) -> bool:
    """A number past float range, or a block holding one (a cost)."""
    return (isinstance(value, int) and abs(value) > 2**64) or isinstance(value, dict)


async def test_a_sora_list_page_is_not_a_read_of_one_id(mock: respx.MockRouter) -> None:
    # A list answers about many videos: fetch_many takes each by its own id.
    items = [{"id": "video_b", "status": "completed"}, {"id": "video_a", "status": "queued"}]
    mock.get(f"{ORIGIN}/v1/videos").mock(
        return_value=httpx.Response(200, json={"data": items, "has_more": False})
    )
    async with SoraTransport(base_url=f"{ORIGIN}/v1", api_key=KEY) as sora:
        found = await sora.fetch_many(["video_a", "video_b"])
    assert {rid: job.remote_id for rid, job in found.items()} == {
        "video_a": "video_a",
        "video_b": "video_b",
    }


# -- poll hints -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        ("2000", 2.0),
        ("0", 0.0),
        ("1e308", "cap"),
        ("99999999999999999999999", "cap"),
        ("1" + "0" * 400, None),  # past float range: infinite
        ("inf", None),
        ("nan", None),
        ("-5", None),
        ("\xff", None),
        ("", None),
    ],
)
async def test_an_absurd_poll_hint_is_capped_or_ignored(
    mock: respx.MockRouter, hint: str, expected: float | str | None
) -> None:
    mock.get(f"{ORIGIN}/v1/videos/video_a").mock(
        return_value=httpx.Response(
            200,
            json={"id": "video_a", "status": "in_progress", "progress": 10},
            headers=[(b"openai-poll-after-ms", hint.encode("latin-1"))],  # not always ASCII
        )
    )
    async with SoraTransport(base_url=f"{ORIGIN}/v1", api_key=KEY) as sora:
        sora.use_settings(request_timeout=5.0, max_retry_after=7.0)
        job = await sora.fetch("video_a")
    assert job.poll_after == (7.0 if expected == "cap" else expected)


# -- a size cap on JSON answers ---------------------------------------------------------------------


class Endless:
    """An async body that never ends; counts what was taken from it."""

    def __init__(self, head: bytes = b'{"id": "video_a", "pad": "') -> None:
        self.head = head
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = self.head
        while True:
            self.sent += len(chunk)
            yield chunk
            chunk = b"x" * 65536


@pytest.mark.parametrize("status", [200, 500])
async def test_an_endless_answer_is_cut_off_at_the_cap(mock: respx.MockRouter, status: int) -> None:
    body = Endless()
    mock.get(f"{ORIGIN}/v1/videos/video_a").mock(
        return_value=httpx.Response(status, content=body.__aiter__())
    )
    async with SoraTransport(base_url=f"{ORIGIN}/v1", api_key=KEY, max_retries=0) as sora:
        sora._session.max_answer_bytes = 1 << 20
        with pytest.raises(ProviderError) as info:
            await sora.fetch("video_a")
    assert body.sent <= (1 << 20) + 65536
    if status == 200:
        assert info.value.code == ANSWER_TOO_LARGE
    else:
        # An error answer too long is still that error, from what was read of it.
        assert info.value.status_code == 500
        assert info.value.code != ANSWER_TOO_LARGE


async def test_a_compressed_answer_is_capped_once_decoded(mock: respx.MockRouter) -> None:
    bomb = gzip.compress(b'{"id": "video_a", "pad": "' + b"x" * (4 << 20) + b'"}')
    mock.get(f"{ORIGIN}/v1/videos/video_a").mock(
        return_value=httpx.Response(200, content=bomb, headers={"content-encoding": "gzip"})
    )
    async with SoraTransport(base_url=f"{ORIGIN}/v1", api_key=KEY) as sora:
        sora._session.max_answer_bytes = 1 << 20
        with pytest.raises(ProviderError) as info:
            await sora.fetch("video_a")
    assert info.value.code == ANSWER_TOO_LARGE


async def test_a_create_answered_too_long_may_have_happened(mock: respx.MockRouter) -> None:
    mock.post(f"{ORIGIN}/v1/videos").mock(
        return_value=httpx.Response(200, content=Endless().__aiter__())
    )
    async with SoraTransport(base_url=f"{ORIGIN}/v1", api_key=KEY) as sora:
        sora._session.max_answer_bytes = 1 << 20
        with pytest.raises(AmbiguousSubmissionError) as info:
            await sora.submit(CreateVideoRequest(prompt="a fox"), idempotency_key="k1")
    assert info.value.code == ANSWER_TOO_LARGE


async def test_an_answer_within_the_cap_is_read_whole(mock: respx.MockRouter) -> None:
    pad = "x" * (1 << 19)
    mock.get(f"{ORIGIN}/v1/videos/video_a").mock(
        return_value=httpx.Response(
            200,
            content=gzip.compress(
                json.dumps({"id": "video_a", "status": "queued", "pad": pad}).encode()
            ),
            headers={"content-encoding": "gzip", "x-request-id": "req_1"},
        )
    )
    async with SoraTransport(base_url=f"{ORIGIN}/v1", api_key=KEY) as sora:
        sora._session.max_answer_bytes = 1 << 20
        job = await sora.fetch("video_a")
    assert job.raw["pad"] == pad


def test_the_default_cap_is_16_mib() -> None:
    assert MAX_ANSWER_BYTES == 16 * 1024 * 1024
    assert SoraTransport(api_key=KEY)._session.max_answer_bytes == MAX_ANSWER_BYTES
    # Gemini may send a whole video inline (base64 in JSON): its cap is the download cap's.
    assert GeminiTransport(api_key=KEY)._session.max_answer_bytes > MAX_ANSWER_BYTES
