"""The contract every [`Transport`][soravideo.transports.Transport] must keep, as a pytest suite.

Subclass [`TransportContract`][soravideo.testing.transport_contract.TransportContract] in a
test module (a name starting with ``Test``) and provide two fixtures: ``transport`` (your
transport wired to a fake provider, in-process) and ``fake`` (that fake, which implements
[`FakeProvider`][soravideo.testing.FakeProvider])::

    import httpx
    import pytest
    from soravideo.testing import FakeSora, TransportContract
    from soravideo.transports import SoraTransport

    class TestSoraTransport(TransportContract):
        @pytest.fixture
        def fake(self):
            return FakeSora()

        @pytest.fixture
        async def transport(self, fake):
            client = httpx.AsyncClient(transport=fake.http_transport(), base_url="http://fake/v1")
            async with client:
                transport = SoraTransport(base_url="http://fake/v1", http_client=client)
                yield transport
                await transport.aclose()

The tests are async and marked for anyio's pytest plugin (``pytest.mark.anyio``), so the
project needs ``anyio`` (a soravideo dependency) and an ``anyio_backend`` fixture if it
wants a backend other than asyncio. This module imports pytest: import it from tests only.
"""

from __future__ import annotations

import uuid

import pytest

from .._core.errors import AmbiguousSubmissionError, NotFoundError, ProviderError
from .._core.models import CreateVideoRequest, JobStatus
from ..transports.base import RemoteJob, SupportsFetchSeen, Transport
from ._fakeserver import FakeProvider

__all__ = ["FakeProvider", "TransportContract"]

_PROMPT = "a red fox running through fresh snow at dawn"


def _key() -> str:
    return uuid.uuid4().hex


async def _submit(transport: Transport, prompt: str = _PROMPT) -> RemoteJob:
    return await transport.submit(CreateVideoRequest(prompt=prompt), idempotency_key=_key())


class TransportContract:
    """What every transport does, checked against its fake. Subclass it; see the module doc.

    Fixtures the subclass provides:
        transport: A [`Transport`][soravideo.transports.Transport] talking to ``fake``.
        fake: The [`FakeProvider`][soravideo.testing.FakeProvider] behind it, on simulated time.

    Examples:
        ```python
        # tests/test_my_gateway.py: pytest runs every test of the contract on this class.
        from collections.abc import AsyncIterator

        import httpx
        import pytest
        from soravideo.testing import FakeSora, TransportContract
        from soravideo.transports import SoraTransport


        class TestSoraTransportOnMyGateway(TransportContract):
            @pytest.fixture
            def fake(self) -> FakeSora:
                return FakeSora(generation_time=60)

            @pytest.fixture
            async def transport(self, fake: FakeSora) -> AsyncIterator[SoraTransport]:
                base_url = "http://gateway.invalid/v1"
                async with httpx.AsyncClient(transport=fake.http_transport(), base_url=base_url) as http:
                    yield SoraTransport(base_url=base_url, api_key="sk-test", http_client=http, clock=fake.clock)
        ```
    """

    @pytest.mark.anyio
    async def test_submit_returns_a_processing_job_with_a_remote_id(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        job = await _submit(transport)

        assert isinstance(job, RemoteJob)
        assert job.remote_id
        assert job.status is JobStatus.PROCESSING
        assert 0 <= job.progress < 100
        assert fake.created_count() == 1

    @pytest.mark.anyio
    async def test_fetch_shows_processing_then_completed_with_progress_100(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        job = await _submit(transport)

        early = await transport.fetch(job.remote_id)
        fake.advance_until_done()
        done = await transport.fetch(job.remote_id)

        assert early.status is JobStatus.PROCESSING
        assert done.remote_id == job.remote_id
        assert done.status is JobStatus.COMPLETED
        assert done.progress == 100
        assert done.error is None

    @pytest.mark.anyio
    async def test_a_failing_prompt_ends_failed_with_an_error_code(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        job = await _submit(transport, fake.failing_prompt)

        fake.advance_until_done()
        failed = await transport.fetch(job.remote_id)

        assert failed.status is JobStatus.FAILED
        assert failed.error is not None
        assert failed.error.code
        assert failed.error.message

    @pytest.mark.anyio
    async def test_fetch_many_returns_every_requested_job_and_leaves_unknown_ids_out(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        jobs = [await _submit(transport, f"{_PROMPT}, take {n}") for n in range(3)]
        ids = [job.remote_id for job in jobs]

        found = await transport.fetch_many([*ids, "no-such-remote-job-0000"])

        assert set(found) == set(ids)
        assert all(found[i].remote_id == i for i in ids)

    @pytest.mark.anyio
    async def test_fetch_many_of_nothing_is_empty(self, transport: Transport) -> None:
        assert await transport.fetch_many([]) == {}

    @pytest.mark.anyio
    async def test_fetch_many_seen_answers_as_fetch_many_and_for_watched_jobs_only(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        # Only where the transport has the optional SupportsFetchSeen.
        if not isinstance(transport, SupportsFetchSeen):
            pytest.skip("this transport has no fetch_many_seen")
        asked, watched, other = (
            [await _submit(transport, f"{_PROMPT}, take {n}") for n in range(2)],
            await _submit(transport, f"{_PROMPT}, watched"),
            await _submit(transport, f"{_PROMPT}, not watched"),
        )
        ids = [job.remote_id for job in asked]

        found = await transport.fetch_many_seen(
            [*ids, "no-such-remote-job-0000"],
            watched={watched.remote_id, "no-such-remote-job-0001"},
        )

        assert list(found)[:2] == ids
        assert set(found) <= {*ids, watched.remote_id}
        assert other.remote_id not in found
        assert all(job.remote_id == remote_id for remote_id, job in found.items())
        if watched.remote_id in found:
            alone = await transport.fetch(watched.remote_id)
            assert found[watched.remote_id].status is alone.status
        assert await transport.fetch_many_seen([], watched={watched.remote_id}) == {}

    @pytest.mark.anyio
    async def test_cancel_stops_an_in_flight_job(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        if not transport.capabilities.can_cancel:
            pytest.skip("this provider cannot cancel")
        job = await _submit(transport)

        # A running job is stopped, never reported "ended" (which only a job already
        # finished may be: Transport.cancel).
        assert await transport.cancel(job.remote_id) is None
        fake.advance_until_done()

        outcome: object
        try:
            outcome = (await transport.fetch(job.remote_id)).status
        except NotFoundError:
            outcome = "gone"
        except ProviderError as exc:
            outcome = "gone" if exc.status_code == 404 else exc

        assert outcome in (JobStatus.CANCELLED, "gone")

    @pytest.mark.anyio
    async def test_cancel_of_a_job_already_gone_is_not_an_error(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        if not transport.capabilities.can_cancel:
            pytest.skip("this provider cannot cancel")
        job = await _submit(transport)
        await transport.cancel(job.remote_id)

        assert await transport.cancel(job.remote_id) in (None, "ended")

    @pytest.mark.anyio
    async def test_a_cancel_that_reports_ends_says_so_and_keeps_the_finished_video(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        capabilities = transport.capabilities
        if not (capabilities.can_cancel and capabilities.cancel_reports_ended):
            pytest.skip("this transport does not declare Capabilities.cancel_reports_ended")
        job = await _submit(transport)
        fake.advance_until_done()

        # What the engine counts on when it asks before writing a cancel: a finished job's
        # cancel says "ended", and its video is still there, finished.
        assert await transport.cancel(job.remote_id) == "ended"
        assert (await transport.fetch(job.remote_id)).status is JobStatus.COMPLETED

    @pytest.mark.anyio
    async def test_open_content_streams_the_whole_video(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        job = await _submit(transport)
        fake.advance_until_done()

        async with transport.open_content(job.remote_id) as stream:
            data = b"".join([chunk async for chunk in stream.aiter_bytes()])
            content_type = stream.content_type
            content_length = stream.content_length

        assert data
        assert content_type is not None
        assert content_type.startswith("video/")
        assert content_length == len(data)

    @pytest.mark.anyio
    async def test_validate_accepts_a_plain_request(self, transport: Transport) -> None:
        assert transport.validate(CreateVideoRequest(prompt=_PROMPT)) == []

    @pytest.mark.anyio
    async def test_validate_rejects_a_duration_the_model_cannot_make(
        self, transport: Transport
    ) -> None:
        models = [m for m in transport.capabilities.models.values() if m.durations]
        if not models:
            pytest.skip("no model declares its durations")
        model = models[0]
        assert model.durations is not None
        bad = max(model.durations) + 1

        errors = transport.validate(
            CreateVideoRequest(prompt=_PROMPT, model=model.name, duration=bad), "videos[2]"
        )

        assert [e.field for e in errors] == ["videos[2].duration"]

    @pytest.mark.anyio
    async def test_the_same_idempotency_key_makes_one_remote_job(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        key = _key()
        request = CreateVideoRequest(prompt=_PROMPT)

        first = await transport.submit(request, idempotency_key=key)
        second = await transport.submit(request, idempotency_key=key)

        assert second.remote_id == first.remote_id
        assert fake.created_count() == 1

    @pytest.mark.anyio
    async def test_different_idempotency_keys_make_different_jobs(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        first = await _submit(transport)
        second = await _submit(transport)

        assert first.remote_id != second.remote_id
        assert fake.created_count() == 2

    @pytest.mark.anyio
    async def test_a_create_whose_answer_is_lost_is_ambiguous(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        fake.reset_next_create()

        with pytest.raises(AmbiguousSubmissionError):
            await _submit(transport)

        assert fake.created_count() == 1  # it did happen: the caller must reconcile

    @pytest.mark.anyio
    async def test_list_recent_includes_a_new_job(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        if not transport.capabilities.can_list:
            pytest.skip("this provider cannot list")
        job = await _submit(transport)

        recent = await transport.list_recent(limit=10)

        assert job.remote_id in [r.remote_id for r in recent]

    @pytest.mark.anyio
    async def test_remix_of_a_finished_job_makes_a_new_job(
        self, transport: Transport, fake: FakeProvider
    ) -> None:
        if not transport.capabilities.can_remix:
            pytest.skip("this provider cannot remix")
        source = await _submit(transport)
        fake.advance_until_done()

        remix = await transport.remix(
            source.remote_id, "the same, at night", idempotency_key=_key()
        )

        assert remix.remote_id != source.remote_id
        assert remix.status is JobStatus.PROCESSING
        assert fake.created_count() == 2

    @pytest.mark.anyio
    async def test_ping_succeeds(self, transport: Transport) -> None:
        await transport.ping()

    @pytest.mark.anyio
    async def test_aclose_is_idempotent(self, transport: Transport) -> None:
        await transport.aclose()
        await transport.aclose()

    @pytest.mark.anyio
    async def test_it_is_a_transport(self, transport: Transport) -> None:
        assert isinstance(transport, Transport)
        assert transport.name
        assert transport.capabilities.default_model
