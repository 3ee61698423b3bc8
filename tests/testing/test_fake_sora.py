"""FakeSora's behaviour: the job life cycle, idempotency, limits, listing, validation, content."""

from __future__ import annotations

import json
import struct
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soravideo.testing import FakeSora, ManualClock
from soravideo.testing._media import iter_mp4_boxes

BASE = "http://fake.test/v1"
START = 1_800_000_000.0


def make(**knobs: Any) -> FakeSora:
    return FakeSora(clock=ManualClock(start=START), **knobs)


@pytest.fixture
def fake() -> FakeSora:
    return make(generation_time=60.0)


@pytest.fixture
async def client(fake: FakeSora) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        yield client


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/videos", json={"prompt": "a red fox", **body})
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()
    return payload


async def show(client: httpx.AsyncClient, video_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await client.get(f"/videos/{video_id}")).json()
    return payload


# -- life cycle ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_job_goes_queued_in_progress_completed_on_the_clock(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await create(client, seconds="8", size="1280x720")
    seen = [await show(client, video["id"])]
    for step in (15, 15, 29):
        fake.advance(step)
        seen.append(await show(client, video["id"]))
    fake.advance(1)
    seen.append(await show(client, video["id"]))

    assert video["status"] == "queued"
    assert video["created_at"] == int(START)
    assert [(v["status"], v["progress"]) for v in seen] == [
        ("queued", 0),
        ("in_progress", 25),
        ("in_progress", 50),
        ("in_progress", 98),
        ("completed", 100),
    ]
    done = seen[-1]
    assert done["completed_at"] == int(START) + 60
    assert done["expires_at"] == int(START) + 60 + 3600
    assert (done["seconds"], done["size"], done["model"]) == ("8", "1280x720", "sora-2")
    assert all(v["completed_at"] is None and v["expires_at"] is None for v in seen[:-1])


@pytest.mark.anyio
async def test_knobs_shape_the_life_cycle() -> None:
    fake = make(
        generation_time=lambda params: 10.0 * int(params["seconds"]),
        queue_time=5.0,
        progress_curve=lambda fraction: 100 * fraction**2,
    )
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        short = await create(client, seconds="4")
        long = await create(client, seconds="8")
        fake.advance(4)
        queued = await show(client, short["id"])
        fake.advance(16)
        quarter_long = await show(client, long["id"])
        fake.advance(20)
        done_short = await show(client, short["id"])

    assert (queued["status"], queued["progress"]) == ("queued", 0)
    assert (quarter_long["status"], quarter_long["progress"]) == ("in_progress", 6)
    assert done_short["status"] == "completed"


@pytest.mark.anyio
async def test_a_moderated_prompt_fails_partway_with_moderation_blocked(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await create(client, prompt=f"Please {fake.failing_prompt.upper()}")
    fake.advance(29)
    before = await show(client, video["id"])
    fake.advance(1)
    failed = await show(client, video["id"])
    content = await client.get(f"/videos/{video['id']}/content")

    assert before["status"] == "in_progress"
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "moderation_blocked"
    assert failed["completed_at"] == int(START) + 30
    assert failed["expires_at"] is None
    assert failed["progress"] == 50
    assert (content.status_code, content.json()["error"]["code"]) == (400, "video_not_available")


def test_a_fake_without_failure_prompts_has_no_failing_prompt() -> None:
    with pytest.raises(ValueError, match="no failure_prompts"):
        _ = FakeSora(failure_prompts=()).failing_prompt


@pytest.mark.anyio
async def test_poll_after_is_sent_only_while_a_job_is_running() -> None:
    fake = make(generation_time=10.0, poll_after_ms=750)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        video = await create(client)
        running = await client.get(f"/videos/{video['id']}")
        fake.advance_until_done()
        done = await client.get(f"/videos/{video['id']}")

    assert running.headers["openai-poll-after-ms"] == "750"
    assert "openai-poll-after-ms" not in done.headers


@pytest.mark.anyio
async def test_advance_until_done_is_a_no_op_when_nothing_runs(fake: FakeSora) -> None:
    before = fake.now()
    fake.advance_until_done()
    assert fake.now() == before


# -- idempotency ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_idempotency_key_returns_the_original_job_for_24_hours(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = (await client.post("/videos", json={"prompt": "one"}, headers=key)).json()
    fake.advance(10)
    again = (await client.post("/videos", json={"prompt": "changed"}, headers=key)).json()
    fake.advance(86_400)
    later = (await client.post("/videos", json={"prompt": "one"}, headers=key)).json()

    assert again["id"] == first["id"]
    assert again["prompt"] == "one"
    assert again["status"] == "in_progress"  # the original, as it is now
    assert later["id"] != first["id"]
    assert fake.created_count() == 2
    assert fake.duplicate_count() == 1
    assert [r.tag for r in fake.requests] == ["created", "replayed", "created"]


@pytest.mark.anyio
async def test_idempotency_keys_are_scoped_to_their_endpoint(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    key = {"Idempotency-Key": "same"}
    source = (await client.post("/videos", json={"prompt": "src"}, headers=key)).json()
    fake.advance_until_done()
    remix = await client.post(f"/videos/{source['id']}/remix", json={"prompt": "b"}, headers=key)
    remix_again = await client.post(
        f"/videos/{source['id']}/remix", json={"prompt": "b"}, headers=key
    )

    assert remix.json()["id"] != source["id"]
    assert remix_again.json()["id"] == remix.json()["id"]
    assert fake.created_count() == 2


# -- the concurrency limit --------------------------------------------------------------


@pytest.mark.anyio
async def test_creates_beyond_the_concurrency_limit_get_429_until_a_slot_frees() -> None:
    fake = make(generation_time=40.0, max_concurrent=2)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        first = await create(client)
        fake.advance(10)
        await create(client)
        refused = await client.post("/videos", json={"prompt": "third"})
        fake.advance(30)  # the first one completes
        accepted = await client.post("/videos", json={"prompt": "third"})
        refused_again = await client.post("/videos", json={"prompt": "fourth"})
        await client.delete(f"/videos/{accepted.json()['id']}")  # cancelling frees a slot
        after_cancel = await client.post("/videos", json={"prompt": "fourth"})

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "30"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert accepted.status_code == 200
    assert refused_again.status_code == 429
    assert after_cancel.status_code == 200
    assert fake.peak_concurrency() == 2
    assert fake.rate_limited_count() == 2
    assert first["id"] not in fake.cancelled_ids()


@pytest.mark.anyio
async def test_a_fixed_retry_after_overrides_the_computed_one() -> None:
    fake = make(generation_time=400.0, max_concurrent=1, retry_after=7)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        await create(client)
        refused = await client.post("/videos", json={"prompt": "two"})

    assert refused.headers["retry-after"] == "7"


@pytest.mark.anyio
async def test_peak_concurrency_is_exact_over_overlapping_jobs(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    await create(client)  # runs [0, 60)
    fake.advance(20)
    await create(client)  # [20, 80)
    fake.advance(40)
    await create(client)  # [60, 120): starts as the first ends
    fake.advance_until_done()

    assert fake.peak_concurrency() == 2


# -- delete and cancel ----------------------------------------------------------------


@pytest.mark.anyio
async def test_deleting_a_running_job_cancels_it_and_a_finished_one_is_just_deleted(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    running = await create(client)
    finished = await create(client)
    fake.advance_until_done()
    late = await create(client)

    answers = [(await client.delete(f"/videos/{v['id']}")).json() for v in (late, finished)]
    gone = await client.get(f"/videos/{late['id']}")

    assert answers[0] == {"id": late["id"], "object": "video.deleted", "deleted": True}
    assert gone.status_code == 404
    assert fake.cancelled_ids() == [late["id"]]
    assert set(fake.deleted_ids()) == {late["id"], finished["id"]}
    assert fake.video(late["id"])["status"] == "cancelled"
    assert fake.delete_count() == 2
    assert [r.tag for r in fake.requests if r.route == "delete"] == ["cancelled", "deleted"]
    assert (await show(client, running["id"]))["status"] == "completed"


@pytest.mark.anyio
async def test_a_gateway_keeps_a_cancelled_job_visible_until_deleted_again() -> None:
    fake = make(gateway_statuses=True)
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        video = await create(client)
        fake.advance(1)
        await client.delete(f"/videos/{video['id']}")
        fake.advance(100)
        cancelled = await show(client, video["id"])
        second = await client.delete(f"/videos/{video['id']}")
        gone = await client.get(f"/videos/{video['id']}")

    assert (cancelled["status"], cancelled["progress"]) == ("cancelled", 20)  # 1 s of 5
    assert cancelled["completed_at"] is None
    assert second.status_code == 200
    assert gone.status_code == 404


# -- listing ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_list_pages_with_a_cursor_in_either_order(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    ids = []
    for n in range(5):
        ids.append((await create(client, prompt=f"n{n}"))["id"])
        fake.advance(1)

    async def page(**params: Any) -> dict[str, Any]:
        response = await client.get("/videos", params=params)
        assert response.status_code == 200, response.text
        payload: dict[str, Any] = response.json()
        return payload

    newest = await page(limit=2)
    following = await page(limit=2, after=newest["last_id"])
    last = await page(limit=2, after=following["last_id"])
    oldest = await page(limit=3, order="asc")
    everything = await page()
    empty = await page(limit=0)

    assert [v["id"] for v in newest["data"]] == [ids[4], ids[3]]
    assert (newest["first_id"], newest["last_id"], newest["has_more"]) == (ids[4], ids[3], True)
    assert [v["id"] for v in following["data"]] == [ids[2], ids[1]]
    assert ([v["id"] for v in last["data"]], last["has_more"]) == ([ids[0]], False)
    assert [v["id"] for v in oldest["data"]] == ids[:3]
    assert [v["id"] for v in everything["data"]] == ids[::-1]
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": True,
    }


@pytest.mark.anyio
async def test_list_hides_deleted_jobs_but_a_deleted_cursor_still_works(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    ids = [(await create(client, prompt=f"n{n}"))["id"] for n in range(3)]
    await client.delete(f"/videos/{ids[1]}")

    listed = (await client.get("/videos", params={"order": "asc"})).json()
    after_deleted = (await client.get("/videos", params={"order": "asc", "after": ids[1]})).json()
    unknown = await client.get("/videos", params={"after": "video_unknown"})

    assert [v["id"] for v in listed["data"]] == [ids[0], ids[2]]
    assert [v["id"] for v in after_deleted["data"]] == [ids[2]]
    assert (unknown.status_code, unknown.json()["error"]["param"]) == (400, "after")
    assert fake.status_request_count() == 3


# -- validation and auth -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "prompt", "missing_required_parameter"),
        ({"prompt": ""}, "prompt", "invalid_value"),
        ({"prompt": "x" * 32_001}, "prompt", "invalid_value"),
        ({"prompt": 7}, "prompt", "invalid_type"),
        ({"prompt": "x", "seconds": 8}, "seconds", "invalid_type"),
        ({"prompt": "x", "seconds": "5"}, "seconds", "invalid_value"),
        ({"prompt": "x", "size": "640x480"}, "size", "invalid_value"),
        ({"prompt": "x", "model": "sora-2", "size": "1920x1080"}, "size", "invalid_value"),
        ({"prompt": "x", "model": 2}, "model", "invalid_type"),
        ({"prompt": "x", "duration": 8}, "duration", "unknown_parameter"),
        ({"prompt": "x", "input_reference": "fox.png"}, "input_reference", "invalid_value"),
        ({"prompt": "x", "input_reference": {}}, "input_reference", "invalid_value"),
    ],
)
@pytest.mark.anyio
async def test_invalid_creates_name_the_bad_parameter(
    client: httpx.AsyncClient, body: Mapping[str, Any], param: str, code: str
) -> None:
    response = await client.post("/videos", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert error["message"]


@pytest.mark.parametrize(
    ("body", "model"),
    [
        ({"seconds": "20", "size": "1792x1024"}, "sora-2"),
        ({"model": "sora-2-pro", "seconds": "16", "size": "1080x1920"}, "sora-2-pro"),
        ({"model": "sora-2-pro-2025-10-06", "size": "1920x1080"}, "sora-2-pro-2025-10-06"),
        ({"model": "gateway/other-model", "seconds": "12"}, "gateway/other-model"),
        ({"input_reference": {"file_id": "file-123"}}, "sora-2"),
    ],
)
@pytest.mark.anyio
async def test_documented_later_additions_and_gateway_models_are_accepted(
    client: httpx.AsyncClient, body: Mapping[str, Any], model: str
) -> None:
    video = await create(client, **body)
    assert video["model"] == model


@pytest.mark.anyio
async def test_bodies_that_are_neither_json_nor_multipart_are_refused(
    client: httpx.AsyncClient,
) -> None:
    text = await client.post("/videos", content=b"prompt=x", headers={"content-type": "text/plain"})
    array = await client.post("/videos", json=["prompt"])
    no_boundary = await client.post(
        "/videos", content=b"x", headers={"content-type": "multipart/form-data"}
    )

    assert [r.status_code for r in (text, array, no_boundary)] == [400, 400, 400]


@pytest.mark.anyio
async def test_multipart_creates_carry_files_and_nested_references(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    with_file = await client.post(
        "/videos",
        data={"prompt": "from a file", "seconds": "12", "model": "sora-2-pro"},
        files={"input_reference": ("start.webp", b"RIFF....WEBP", "image/webp")},
    )
    nested = await client.post(
        "/videos",
        data={"prompt": "from a url", "input_reference[image_url]": "https://example.com/a.png"},
        files={"unused": ("x.txt", b"", "text/plain")},
    )

    assert with_file.status_code == 200
    params = fake.create_params(with_file.json()["id"])
    assert params["input_reference"] == {
        "filename": "start.webp",
        "content_type": "image/webp",
        "bytes": 12,
    }
    assert (params["seconds"], params["model"]) == ("12", "sora-2-pro")
    # An unknown multipart field is refused like an unknown JSON one.
    assert nested.json()["error"]["param"] == "unused"


@pytest.mark.anyio
async def test_a_key_protects_every_route_in_bearer_or_azure_style() -> None:
    fake = make(api_key="sk-right-key-0123456789")
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        missing = await client.get("/videos")
        wrong = await client.get("/videos", headers={"Authorization": "Bearer sk-wrong"})
        basic = await client.get("/videos", headers={"Authorization": "Basic abc"})
        bearer = await client.get(
            "/videos", headers={"Authorization": "Bearer sk-right-key-0123456789"}
        )
        azure = await client.get(
            "/videos",
            headers={"api-key": "sk-right-key-0123456789"},
            params={"api-version": "preview"},
        )

    assert [r.status_code for r in (missing, wrong, basic, bearer, azure)] == [
        401,
        401,
        401,
        200,
        200,
    ]
    assert missing.json()["error"]["code"] is None
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    assert "sk-" not in wrong.text


# -- content and remix --------------------------------------------------------------


@pytest.mark.anyio
async def test_content_is_refused_until_the_video_is_done_then_served_in_three_variants(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    video = await create(client, seconds="12", size="1792x1024")
    early = await client.get(f"/videos/{video['id']}/content")
    fake.advance_until_done()
    mp4 = await client.get(f"/videos/{video['id']}/content")
    webp = await client.get(f"/videos/{video['id']}/content", params={"variant": "thumbnail"})
    jpeg = await client.get(f"/videos/{video['id']}/content", params={"variant": "spritesheet"})

    assert (early.status_code, early.json()["error"]["code"]) == (400, "video_not_ready")
    assert mp4.headers["content-type"] == "video/mp4"
    assert int(mp4.headers["content-length"]) == len(mp4.content) > 64 * 1024
    boxes = dict(iter_mp4_boxes(mp4.content))
    moov = dict(iter_mp4_boxes(boxes[b"moov"]))
    timescale, duration = struct.unpack_from(">II", moov[b"mvhd"], 12)
    assert duration / timescale == 12
    tkhd = dict(iter_mp4_boxes(moov[b"trak"]))[b"tkhd"]
    assert struct.unpack_from(">II", tkhd, len(tkhd) - 8) == (1792 << 16, 1024 << 16)
    assert webp.headers["content-type"] == "image/webp"
    assert webp.content[:4] == b"RIFF"
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert jpeg.content[:2] == b"\xff\xd8"


@pytest.mark.anyio
async def test_content_bytes_repeat_per_seed_and_differ_per_video() -> None:
    async def download(seed: int) -> list[bytes]:
        fake = FakeSora(seed=seed, clock=ManualClock(start=START), generation_time=1.0)
        async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
            ids = [(await create(client))["id"] for _ in range(2)]
            fake.advance_until_done()
            return [(await client.get(f"/videos/{i}/content")).content for i in ids]

    first, second = await download(1)
    again = await download(1)

    assert first != second
    assert [first, second] == again


@pytest.mark.anyio
async def test_content_expires(fake: FakeSora, client: httpx.AsyncClient) -> None:
    video = await create(client)
    fake.advance(60 + 3600)
    expired = await client.get(f"/videos/{video['id']}/content")

    assert (expired.status_code, expired.json()["error"]["code"]) == (404, "video_expired")
    assert (await show(client, video["id"]))["status"] == "completed"


@pytest.mark.anyio
async def test_remix_needs_a_completed_source_and_inherits_its_shape(
    fake: FakeSora, client: httpx.AsyncClient
) -> None:
    source = await create(client, model="sora-2-pro", seconds="8", size="1024x1792")
    too_early = await client.post(f"/videos/{source['id']}/remix", json={"prompt": "b"})
    fake.advance_until_done()
    remix = await client.post(f"/videos/{source['id']}/remix", json={"prompt": "at dusk"})
    no_prompt = await client.post(f"/videos/{source['id']}/remix", json={})
    extra = await client.post(f"/videos/{source['id']}/remix", json={"prompt": "x", "seconds": "4"})

    assert (too_early.status_code, too_early.json()["error"]["code"]) == (
        400,
        "invalid_video_state",
    )
    made = remix.json()
    assert made["remixed_from_video_id"] == source["id"]
    assert (made["model"], made["seconds"], made["size"], made["prompt"]) == (
        "sora-2-pro",
        "8",
        "1024x1792",
        "at dusk",
    )
    assert made["status"] == "queued"
    assert no_prompt.json()["error"]["param"] == "prompt"
    assert extra.json()["error"]["code"] == "unknown_parameter"


@pytest.mark.anyio
async def test_ids_repeat_per_seed() -> None:
    async def ids(seed: int) -> list[str]:
        fake = FakeSora(seed=seed)
        async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
            return [(await create(client))["id"] for _ in range(3)]

    assert await ids(3) == await ids(3)
    assert await ids(3) != await ids(4)
    assert all(i.startswith("video_") and len(i) == 54 for i in await ids(5))


class _SettableClock:
    """A clock a test sets freely, backwards too (as a wall clock may jump)."""

    def __init__(self) -> None:
        self.now = START

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - never slept on
        raise AssertionError("not slept on")


_steps = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.floats(min_value=-5, max_value=5).map(round)),
        st.tuples(st.just("delete"), st.integers(min_value=0, max_value=30)),
    ),
    max_size=25,
)
_pages = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=6),
        st.sampled_from(["asc", "desc"]),
        st.none() | st.integers(min_value=0, max_value=30),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(steps=_steps, pages=_pages)
def test_list_pages_match_a_sort_of_every_video(
    steps: list[tuple[str, float]], pages: list[tuple[int, str, int | None]]
) -> None:
    """The list walks its creation index (a page costs its own length, [W2-4]); whatever
    the clock did, each page is what sorting every video by (created_at, creation) gives."""
    clock = _SettableClock()
    fake = FakeSora(clock=clock, generation_time=60.0)
    made: list[tuple[float, int, str]] = []  # (created, order made, id)
    deleted: set[str] = set()
    with httpx.Client(transport=fake.sync_http_transport(), base_url=BASE) as http:
        for kind, value in steps:
            if kind == "create":
                clock.now += value
                video = http.post("/videos", json={"prompt": f"n{len(made)}"}).json()
                made.append((clock.now, len(made), video["id"]))
            elif made:
                victim = made[int(value) % len(made)][2]
                if http.delete(f"/videos/{victim}").status_code == 200:
                    deleted.add(victim)
        for limit, order, cursor in pages:
            params: dict[str, Any] = {"limit": limit, "order": order}
            ordered = [video_id for _, _, video_id in sorted(made)]
            if order == "desc":
                ordered.reverse()
            if cursor is not None and made:
                after = made[cursor % len(made)][2]
                params["after"] = after
                ordered = ordered[ordered.index(after) + 1 :]
            visible = [video_id for video_id in ordered if video_id not in deleted]
            page = http.get("/videos", params=params).json()
            assert [v["id"] for v in page["data"]] == visible[:limit]
            assert page["has_more"] == (len(visible) > limit)
            shown = visible[:limit]
            assert (page["first_id"], page["last_id"]) == (
                (shown[0], shown[-1]) if shown else (None, None)
            )


# -- the answers' bytes ---------------------------------------------------------------------


def _dumped(answer: httpx.Response) -> bytes:
    """What json.dumps makes of the answer's payload (its keys in the order sent)."""
    return json.dumps(answer.json()).encode()


@pytest.mark.anyio
@pytest.mark.parametrize("gateway", [False, True])
async def test_answers_are_json_dumps_of_the_resources_in_every_state(gateway: bool) -> None:
    """The resources are encoded by hand for speed: byte for byte what json.dumps makes
    of ``fake.video()``, whatever the state, the prompt or the page."""
    fake = make(
        generation_time=60.0,
        queue_time=5.0,
        expires_after=100.0,
        gateway_statuses=gateway,
        progress_curve=lambda fraction: 100 * fraction**2,
    )
    prompts = ["a red fox", "fail-moderation now", 'Ünï "cödé" \\ \n\t\u2028 🦊 \x00', "x" * 300]
    async with httpx.AsyncClient(transport=fake.http_transport(), base_url=BASE) as client:
        ids = []
        for n, prompt in enumerate(prompts):
            answer = await client.post(
                "/videos", json={"prompt": prompt}, headers={"Idempotency-Key": f"k{n}"}
            )
            assert answer.content == json.dumps(fake.video(answer.json()["id"])).encode()
            ids.append(answer.json()["id"])
            fake.advance(0.5)
        replay = await client.post(
            "/videos", json={"prompt": prompts[0]}, headers={"Idempotency-Key": "k0"}
        )
        assert replay.content == json.dumps(fake.video(ids[0])).encode()
        fake.advance(6)
        await client.delete(f"/videos/{ids[3]}")  # cancelled while generating
        statuses: set[str] = set()
        for step in (0.0, 10.0, 30.0, 60.0, 200.0):
            fake.advance(step)
            if step == 60.0:
                remix = await client.post(f"/videos/{ids[0]}/remix", json={"prompt": "again"})
                assert remix.status_code == 200, remix.text
                assert remix.content == json.dumps(fake.video(remix.json()["id"])).encode()
            for video_id in fake.created_ids():
                one = await client.get(f"/videos/{video_id}")
                if one.status_code == 200:
                    assert one.content == json.dumps(fake.video(video_id)).encode()
                    statuses.add(one.json()["status"])
            for params in ({}, {"order": "asc", "limit": 2}, {"limit": 0}, {"after": ids[1]}):
                page = await client.get("/videos", params=params)
                assert page.content == _dumped(page)
                assert page.json()["data"] == [fake.video(v["id"]) for v in page.json()["data"]]

    assert statuses >= {"queued", "in_progress", "completed", "failed"}
    assert ("cancelled" in statuses, "expired" in statuses) == (gateway, gateway)


@settings(max_examples=50, deadline=None)
@given(prompt=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_any_prompt_is_answered_as_json_dumps_would(prompt: str) -> None:
    fake = make()
    with httpx.Client(transport=fake.sync_http_transport(), base_url=BASE) as http:
        created = http.post("/videos", json={"prompt": prompt})
        listed = http.get("/videos")
    assert created.content == json.dumps(fake.video(created.json()["id"])).encode()
    assert listed.content == _dumped(listed)
