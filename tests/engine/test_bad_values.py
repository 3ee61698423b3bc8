"""Every bad value of the public surface is a ValidationError naming it ([W2-2] item 8).

``priority="bogus"``, ``metadata="abc"``, ``input_reference=123``, ``provider_options``
holding a set, bytes or an object, ``list_batches(page=2**62)`` once raised ValueError,
TypeError, OverflowError or (PostgreSQL) a RepositoryError "bigint out of range"; ids of the
wrong type reached the ledger. Each is now a ``ValidationError`` with ``.errors``, raised
before anything is stored or sent, by the async client and its sync twin alike.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

import soravideo as sv
from helpers import assert_no_requests

pytestmark = pytest.mark.anyio

Req = sv.CreateVideoRequest
Batch = sv.BatchVideoRequest


class _Thing:
    pass


def _batch(**fields: Any) -> sv.BatchVideoRequest:
    fields.setdefault("videos", [Req(prompt="a fox")])
    return Batch(**fields)


# (what, call on a client, the fields named). The call takes an async or a sync client.
CASES: list[tuple[str, Callable[[Any], Any], set[str]]] = [
    ("priority", lambda c: c.videos.create_video(Req(prompt="x", priority="bogus")), {"priority"}),
    ("priority type", lambda c: c.videos.create_video(Req(prompt="x", priority=3)), {"priority"}),
    ("metadata", lambda c: c.videos.create_video(Req(prompt="x", metadata="abc")), {"metadata"}),
    (
        "metadata values",
        lambda c: c.videos.create_video(Req(prompt="x", metadata={"a": 1})),
        {"metadata"},
    ),
    (
        "input_reference",
        lambda c: c.videos.create_video(Req(prompt="x", input_reference=123)),
        {"input_reference"},
    ),
    (
        "options set",
        lambda c: c.videos.create_video(Req(prompt="x", provider_options={1, 2})),
        {"provider_options"},
    ),
    (
        "options bytes",
        lambda c: c.videos.create_video(Req(prompt="x", provider_options=b"ab")),
        {"provider_options"},
    ),
    (
        "options object",
        lambda c: c.videos.create_video(Req(prompt="x", provider_options=_Thing())),
        {"provider_options"},
    ),
    (
        "options holding a set, bytes and an object",
        lambda c: c.videos.create_video(
            Req(prompt="x", provider_options={"s": {1}, "b": b"x", "o": _Thing()})
        ),
        {"provider_options.s", "provider_options.b", "provider_options.o"},
    ),
    (
        "every bad field at once",
        lambda c: c.videos.create_video(
            Req(prompt=5, priority="bogus", metadata="abc", input_reference=123, duration=2**70)
        ),
        {"prompt", "priority", "metadata", "input_reference", "duration"},
    ),
    ("not a request", lambda c: c.videos.create_video("a fox"), {"request"}),
    ("batch videos None", lambda c: c.batches.create_batch(Batch(videos=None)), {"videos"}),
    ("batch videos text", lambda c: c.batches.create_batch(Batch(videos="abc")), {"videos"}),
    (
        "batch video not a request",
        lambda c: c.batches.create_batch(Batch(videos=[{"prompt": "x"}])),
        {"videos[0]"},
    ),
    (
        "batch fields",
        lambda c: c.batches.create_batch(
            _batch(metadata="abc", concurrency=2**70, budget_usd=10**400, name=5)
        ),
        {"metadata", "concurrency", "budget_usd", "name"},
    ),
    (
        "batch video fields",
        lambda c: c.batches.create_batch(
            _batch(videos=[Req(prompt="x"), Req(prompt="y", priority="bogus", metadata="abc")])
        ),
        {"videos[1].priority", "videos[1].metadata"},
    ),
    ("batch key type", lambda c: c.batches.create_batch(_batch(), key=5), {"key"}),
    ("batch key NUL", lambda c: c.batches.create_batch(_batch(), key="k\x00"), {"key"}),
    ("batch key long", lambda c: c.batches.create_batch(_batch(), key="k" * 300), {"key"}),
    (
        "batch budget NaN",
        lambda c: c.batches.create_batch(_batch(budget_usd=math.nan)),
        {"budget_usd"},
    ),
    ("list_batches page", lambda c: c.batches.list_batches(page=2**62), {"page"}),
    ("list_batches limit", lambda c: c.batches.list_batches(limit=True), {"limit"}),
    ("list_jobs page", lambda c: c.videos.list_jobs(page=2**62), {"page"}),
    (
        "list_jobs everything",
        lambda c: c.videos.list_jobs(status="done", batch_id=5, page=0, limit=2**62),
        {"status", "batch_id", "page", "limit"},
    ),
    ("list_jobs page float", lambda c: c.videos.list_jobs(page=1.0), {"page"}),
    ("get_job int", lambda c: c.videos.get_job(5), {"job_id"}),
    ("get_job None", lambda c: c.videos.get_job(None), {"job_id"}),
    ("get_job spaces", lambda c: c.videos.get_job("job 1"), {"job_id"}),
    ("get_job NUL", lambda c: c.videos.get_job("job_\x00"), {"job_id"}),
    ("get_job long", lambda c: c.videos.get_job("j" * 200), {"job_id"}),
    ("get_job path", lambda c: c.videos.get_job("../job"), {"job_id"}),
    ("get_video_result", lambda c: c.videos.get_video_result(b"job_1"), {"job_id"}),
    ("cancel_job", lambda c: c.videos.cancel_job(5), {"job_id"}),
    ("wait_for_job id", lambda c: c.videos.wait_for_job(["job_1"]), {"job_id"}),
    ("wait_for_job NaN", lambda c: c.videos.wait_for_job("job_1", timeout=math.nan), {"timeout"}),
    ("wait_for_job inf", lambda c: c.videos.wait_for_job("job_1", timeout=math.inf), {"timeout"}),
    ("wait_for_job negative", lambda c: c.videos.wait_for_job("job_1", timeout=-5), {"timeout"}),
    ("wait_for_job text", lambda c: c.videos.wait_for_job("job_1", timeout="9"), {"timeout"}),
    ("download id", lambda c: c.videos.download_video(5, "out.mp4"), {"job_id"}),
    (
        "download dest and variant",
        lambda c: c.videos.download_video("job_1", 5, variant=None),
        {"dest", "variant"},
    ),
    ("remix", lambda c: c.videos.remix_video(5, 6), {"job_id", "prompt"}),
    ("process_batch id", lambda c: c.batches.process_batch(5), {"batch_id"}),
    (
        "process_batch concurrency",
        lambda c: c.batches.process_batch("batch_1", concurrency="2"),
        {"concurrency"},
    ),
    (
        "process_batch concurrency 0",
        lambda c: c.batches.process_batch("batch_1", concurrency=0),
        {"concurrency"},
    ),
    ("get_batch_status", lambda c: c.batches.get_batch_status(5), {"batch_id"}),
    ("cancel_batch", lambda c: c.batches.cancel_batch(["batch_1"]), {"batch_id"}),
    ("manifest path int", lambda c: c.batches.create_batch_from_file(5), {"path"}),
    ("manifest path bytes", lambda c: c.batches.create_batch_from_file(b"m.csv"), {"path"}),
    ("manifest path missing", lambda c: c.batches.create_batch_from_file("nope.csv"), {"path"}),
    ("estimate not a request", lambda c: c.batches.estimate_cost("a fox"), {"request"}),
    (
        "estimate duration text",
        lambda c: c.batches.estimate_cost(Req(prompt="x", duration="4")),
        {"duration"},
    ),
    (
        "estimate batch videos",
        lambda c: c.batches.estimate_cost(Batch(videos=5)),
        {"videos"},
    ),
]


async def _outcome(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


@pytest.mark.parametrize(("what", "call", "named"), CASES, ids=[c[0] for c in CASES])
async def test_async_client_names_the_bad_value_and_stores_nothing(
    client: sv.AsyncSoraVideo, what: str, call: Callable[[Any], Any], named: set[str]
) -> None:
    with pytest.raises(sv.ValidationError) as info:
        await _outcome(call(client))
    assert set(info.value.fields) == named, what
    assert info.value.errors
    str(info.value).encode("utf-8")
    assert (await client.videos.list_jobs()).total == 0
    assert (await client.batches.list_batches()).total == 0
    assert client.fake is not None
    assert_no_requests(client.fake)


@pytest.mark.parametrize(("what", "call", "named"), CASES, ids=[c[0] for c in CASES])
def test_sync_client_names_the_bad_value_and_stores_nothing(
    sync_client: sv.SoraVideo, what: str, call: Callable[[Any], Any], named: set[str]
) -> None:
    with pytest.raises(sv.ValidationError) as info:
        call(sync_client)
    assert set(info.value.fields) == named, what
    assert sync_client.videos.list_jobs().total == 0
    assert sync_client.batches.list_batches().total == 0
    assert sync_client.fake is not None
    assert_no_requests(sync_client.fake)


@pytest.fixture(scope="module")
def sync_client() -> Any:
    with sv.SoraVideo.simulated() as client:
        yield client


@pytest.mark.parametrize(
    "settings",
    [
        {"request_timeout": math.nan},
        {"poll_min_interval": math.inf},
        {"close_timeout": -1},
        {"max_concurrency": 2.5},
        {"lease_seconds": True},
    ],
)
def test_settings_refuse_nan_infinity_and_wrong_types(settings: dict[str, Any]) -> None:
    with pytest.raises(sv.ValidationError) as info:
        sv.Settings(**settings)
    assert set(info.value.fields) == set(settings)


def test_settings_from_the_environment_refuse_nan() -> None:
    with pytest.raises(sv.ValidationError) as info:
        sv.Settings.from_env({"SORAVIDEO_REQUEST_TIMEOUT": "nan"})
    assert info.value.fields == ("request_timeout",)


async def test_repositories_bound_pages_before_their_queries(ledger: Callable[[], Any]) -> None:
    async with ledger() as repository:
        for call in (
            repository.list_jobs(page=2**62, limit=20),
            repository.list_batches(page=2**62, limit=20),
        ):
            with pytest.raises(sv.ValidationError) as info:
                await call
            assert info.value.fields == ("page",)


@pytest.mark.postgres
async def test_postgres_pages_are_a_validation_error_not_bigint_out_of_range(
    postgres_dsn: str,
) -> None:
    from soravideo.repositories.postgres import PostgresRepository

    async with sv.AsyncSoraVideo.simulated(repository=PostgresRepository(postgres_dsn)) as client:
        for call in (
            client.batches.list_batches(page=2**62),
            client.videos.list_jobs(page=2**62, limit=1000),
            client.videos.get_job("job_\x00"),  # PostgreSQL text holds no NUL
        ):
            with pytest.raises(sv.ValidationError):
                await call
        page = await client.batches.list_batches(page=10**9, limit=1000)  # the largest page
        assert page.items == ()
        assert (await client.videos.list_jobs()).total == 0


@pytest.mark.parametrize(
    ("job_fields", "request_fields", "named"),
    [
        ({"metadata": "abc"}, {}, {"jobs[0].metadata"}),
        ({}, {"priority": "bogus"}, {"jobs[0].request.priority"}),
        ({}, {"metadata": "abc"}, {"jobs[0].request.metadata"}),
        ({}, {"input_reference": 123}, {"jobs[0].request.input_reference"}),
        ({}, {"provider_options": [1]}, {"jobs[0].request.provider_options"}),
    ],
)
async def test_the_ledger_refuses_jobs_of_the_wrong_shape_given_directly(
    ledger: Callable[[], Any],
    job_fields: dict[str, Any],
    request_fields: dict[str, Any],
    named: set[str],
) -> None:
    # The models keep a value of the wrong type for validation to name; a job built by
    # hand and added to the ledger directly meets the ledger's own check instead.
    now = datetime.now(timezone.utc)
    job = sv.Job(
        id="job_direct",
        status=sv.JobStatus.PENDING,
        request=Req(prompt="a fox", **request_fields),
        provider="sora",
        created_at=now,
        updated_at=now,
        **job_fields,
    )
    async with ledger() as repository:
        with pytest.raises(sv.ValidationError) as info:
            await repository.add_jobs([job])
        assert set(info.value.fields) == named
        assert (await repository.list_jobs(page=1, limit=10)).total == 0
