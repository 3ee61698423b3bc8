"""Error paths through the public API: bad input named field by field, unknown ids, a wrong key."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

import soravideo as sv
from helpers import ClientFactory, assert_created_once, assert_no_requests, logged, request
from soravideo.testing import FakeSora
from soravideo.transports import SoraTransport

# Every field that can be wrong after construction, wrong at once.
ALL_BAD = sv.CreateVideoRequest(
    prompt="   ",
    model="",
    duration=0,
    resolution="999p",
    aspect_ratio="7:5",
    size="big",
    input_reference=b"",
    metadata={"owner": 7},  # type: ignore[dict-item]
)
ALL_BAD_FIELDS = {
    "prompt",
    "model",
    "duration",
    "resolution",
    "aspect_ratio",
    "size",
    "input_reference",
    "metadata",
}


def test_invalid_fields_are_all_named_and_nothing_is_stored_or_sent(
    make_client: ClientFactory, fake: FakeSora
) -> None:
    with make_client() as client:
        with pytest.raises(sv.ValidationError) as caught:
            client.videos.create_video(ALL_BAD)
        assert set(caught.value.fields) == ALL_BAD_FIELDS
        assert len(caught.value.fields) == len(ALL_BAD_FIELDS)

        # Valid in general, but not for sora-2: the provider's own rules, named too.
        with pytest.raises(sv.ValidationError) as caught:
            client.videos.create_video(request(duration=7, size="1920x1080"))
        assert caught.value.fields == ("duration", "size")

        batch = sv.BatchVideoRequest(
            videos=[request(), request(prompt=""), request(duration=7), ALL_BAD],
            concurrency=0,
            budget_usd=-1.0,
        )
        with pytest.raises(sv.ValidationError) as caught:
            client.batches.create_batch(batch)
        assert set(caught.value.fields) == {
            "videos[1].prompt",
            "videos[2].duration",
            *(f"videos[3].{name}" for name in ALL_BAD_FIELDS),
            "concurrency",
            "budget_usd",
        }
        with pytest.raises(sv.ValidationError) as caught:
            client.batches.create_batch(sv.BatchVideoRequest(videos=[]))
        assert caught.value.fields == ("videos",)

        assert client.videos.list_jobs().total == 0
        assert client.batches.list_batches().total == 0
    assert_no_requests(fake)


def test_missing_fields_in_a_manifest_are_named_by_row(
    make_client: ClientFactory, fake: FakeSora, tmp_path: Path
) -> None:
    manifest = tmp_path / "videos.jsonl"
    rows = [{"prompt": "a fox"}, {"duration": 8}, {"prompt": "an owl", "duration": "x"}, {}]
    manifest.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    with make_client() as client:
        with pytest.raises(sv.ValidationError) as caught:
            client.batches.create_batch_from_file(manifest)
        assert set(caught.value.fields) == {"row 2: prompt", "row 3: duration", "row 4: prompt"}
        with pytest.raises(sv.ValidationError) as caught:
            client.batches.create_batch_from_file(tmp_path / "missing.jsonl")
        assert caught.value.fields == ("path",)
        assert client.batches.list_batches().total == 0
    assert_no_requests(fake)


def test_unknown_job_and_batch_ids(make_client: ClientFactory, fake: FakeSora) -> None:
    job_id, batch_id = "job_does_not_exist", "batch_does_not_exist"
    with make_client() as client:
        for call in (
            lambda: client.videos.get_job(job_id),
            lambda: client.videos.wait_for_job(job_id, timeout=1),
            lambda: client.videos.get_video_result(job_id),
            lambda: client.videos.cancel_job(job_id),
            lambda: client.videos.download_video(job_id, "unused.mp4"),
            lambda: client.videos.remix_video(job_id, "a new prompt"),
        ):
            with pytest.raises(sv.JobNotFoundError) as job_caught:
                call()
            assert job_id in str(job_caught.value)
        for batch_call in (
            lambda: client.batches.get_batch_status(batch_id),
            lambda: client.batches.process_batch(batch_id),
            lambda: client.batches.cancel_batch(batch_id),
        ):
            with pytest.raises(sv.BatchNotFoundError) as batch_caught:
                batch_call()
            assert batch_id in str(batch_caught.value)
            assert isinstance(batch_caught.value, sv.NotFoundError)
    assert_no_requests(fake)


def test_wrong_api_key_fails_the_job_once_without_retrying(
    make_client: ClientFactory, fake: FakeSora, base_url: str
) -> None:
    wrong = "sk-wrong-key-0123456789"
    with make_client(api_key=wrong) as client:
        job = client.videos.create_video(request())
        done = client.videos.wait_for_job(job.id, timeout=5)

    assert done.status is sv.JobStatus.FAILED
    assert done.error is not None
    assert (done.error.code, done.error.retryable) == ("invalid_api_key", False)
    assert wrong not in done.error.message
    assert (done.remote_id, done.attempts, done.result) == (None, 1, None)
    (create,) = logged(fake, "POST")  # exactly one create: an auth failure is never retried
    assert create.status == 401
    assert create.headers["authorization"] == "Bearer <redacted>"
    assert_created_once(fake, 0)

    # The transport's error is the AuthenticationError the job's failure came from.
    async def fetch() -> None:
        async with SoraTransport(base_url=base_url, api_key=wrong) as transport:
            await transport.fetch("video_any")

    with pytest.raises(sv.AuthenticationError) as caught:
        anyio.run(fetch)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert wrong not in str(caught.value)
    assert fake.count(status=401) == 2
