"""Fidelity: the official ``replicate`` client (1.0.7), unchanged but for its base URL and
token, creates, reads, lists and cancels predictions on FakeReplicate served on loopback.

The fake runs on a clock the test moves, so every status the client sees is set up.
``aborted`` is left out: the official client cannot parse it (its ``Prediction.status``
allows five words), which the last test shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pydantic.v1
import pytest
import replicate
from replicate.exceptions import ReplicateError
from replicate.pagination import paginate

from soravideo._core.clock import ManualClock
from soravideo.testing import FakeReplicate, check_exactly_once

TOKEN = "r8_fidelity_0123456789abcdef"
VEO = "google/veo-3"


@pytest.fixture
def fake() -> FakeReplicate:
    return FakeReplicate(
        api_token=TOKEN, clock=ManualClock(), generation_time=50.0, queue_time=5.0, page_size=2
    )


@pytest.fixture
def base_url(fake: FakeReplicate, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "REPLICATE_POLL_INTERVAL"):
        monkeypatch.delenv(name, raising=False)
    with fake.serve() as url:
        yield url


def client(base_url: str, transport: httpx.HTTPTransport, **kwargs: Any) -> replicate.Client:
    # replicate.Client has no close(): the test owns the transport and closes it.
    return replicate.Client(api_token=TOKEN, base_url=base_url, transport=transport, **kwargs)


def test_the_official_client_creates_reads_lists_and_cancels(
    fake: FakeReplicate, base_url: str
) -> None:
    with httpx.HTTPTransport() as transport:
        rc = client(base_url, transport)
        made = rc.predictions.create(model=VEO, input={"prompt": "a cat", "duration": 8})
        other = rc.predictions.create(model=VEO, input={"prompt": "a dog"})
        third = rc.predictions.create(model="minimax/video-01", input={"prompt": "an owl"})
        assert (made.status, made.model, made.version) == ("starting", VEO, "hidden")
        assert made.urls is not None and made.urls["get"].startswith(base_url)

        fake.advance(10)
        assert rc.predictions.get(made.id).status == "processing"
        cancelled = rc.predictions.cancel(other.id)
        assert cancelled.status == "canceled"

        fake.advance_until_done()
        done = rc.predictions.get(made.id)
        assert done.status == "succeeded" and isinstance(done.output, str)
        assert done.metrics is not None and done.metrics["predict_time"] == pytest.approx(50.0)
        assert httpx.get(done.output).content == fake.video_bytes(made.id)

        pages = list(paginate(rc.predictions.list))
        assert [len(page) for page in pages] == [2, 1]  # two a page: `next` was followed
        assert [p.id for page in pages for p in page] == [third.id, other.id, made.id]

    assert fake.count(route="list") == 2
    assert fake.cancelled_ids() == [other.id]


def test_a_version_and_errors_as_the_client_reads_them(fake: FakeReplicate, base_url: str) -> None:
    version = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
    fake.versions[version] = VEO
    with httpx.HTTPTransport() as transport:
        rc = client(base_url, transport)
        made = rc.predictions.create(version=version, input={"prompt": "a cat"})
        assert (made.model, made.version) == (VEO, version)
        with pytest.raises(ReplicateError) as invalid:
            rc.predictions.create(model=VEO, input={"prompt": "a cat", "duration": 5})
        with pytest.raises(ReplicateError) as missing:
            rc.predictions.get("nosuchprediction")
        bad = replicate.Client(api_token="r8_wrong", base_url=base_url, transport=transport)
        with pytest.raises(ReplicateError) as refused:
            bad.predictions.get(made.id)
    assert (invalid.value.status, invalid.value.title) == (422, "Input validation failed")
    assert invalid.value.detail is not None and "input.duration" in invalid.value.detail
    assert (missing.value.status, refused.value.status) == (404, 401)
    assert fake.created_count() == 1


def test_cancel_after_sent_as_a_client_wide_header_sets_a_deadline_on_creates_only(
    fake: FakeReplicate, base_url: str
) -> None:
    with httpx.HTTPTransport() as transport:
        rc = client(base_url, transport, headers={"Cancel-After": "5m"})
        made = rc.predictions.create(model=VEO, input={"prompt": "a cat"})
        rc.predictions.get(made.id)
        fake.advance_until_done()
        assert rc.predictions.get(made.id).status == "succeeded"  # 55 s, within its 5 min
    assert fake.deadline_of(made.id) == pytest.approx(fake.requests[0].time + 300)


def test_the_official_client_cannot_parse_aborted_which_the_fake_sends(
    fake: FakeReplicate, base_url: str
) -> None:
    fake.queue_time = 600.0
    with httpx.HTTPTransport() as transport:
        rc = client(base_url, transport, headers={"Cancel-After": "1m"})
        made = rc.predictions.create(model=VEO, input={"prompt": "a cat"})
        fake.advance(120)
        assert fake.status_of(made.id) == "aborted"
        with pytest.raises(pydantic.v1.ValidationError, match="status"):
            rc.predictions.get(made.id)


def test_the_fake_records_what_the_client_sent(fake: FakeReplicate, base_url: str) -> None:
    with httpx.HTTPTransport() as transport:
        rc = client(base_url, transport)
        made = rc.predictions.create(model=VEO, input={"prompt": "a cat", "duration": 4})
        fake.advance_until_done()
    create = fake.requests[0]
    assert create.headers["authorization"] == "Bearer <redacted>"
    assert create.headers["user-agent"].startswith("replicate-python/")
    assert fake.create_params(made.id) == {"prompt": "a cat", "duration": 4}
    # Made by the official client, owned by no soravideo job: the check says so.
    with pytest.raises(AssertionError, match="orphan"):
        check_exactly_once(fake, [])
