"""The exactly-once invariant: what a fake provider created, checked against a ledger's jobs.

soravideo promises that every job is billed once and never lost. After any run against a fake
([`FakeSora`][soravideo.testing.FakeSora], [`FakeRunway`][soravideo.testing.FakeRunway] or any other
``FakeServer``), [`check_exactly_once`][soravideo.testing.check_exactly_once] compares the fake's
own record of what it was sent with the jobs of the ledger, and fails naming every rule broken:

- ``orphan``: a video the provider created that no job owns (a create whose answer was
  lost and never reconciled is paid for and never seen). A job that failed with code
  ``invalid_remote_id`` (the provider answered its create with an id no request may use:
  ``..``, ``a/b`` …) accounts for one video sent with its prompt: the ledger says what
  happened, and the job was not sent again;
- ``owned twice``: two jobs hold the same remote id (one video, two jobs, one of them lost);
- ``unknown video``: a job holds a remote id the provider never created;
- ``wrong owner``: the prompt sent for a job's video is not the job's prompt (a
  reconciliation that adopted another job's video);
- ``stuck``: once the run is settled, a job that is not terminal;
- ``still running``: a job that ended ``cancelled`` whose video was neither cancelled nor
  deleted at the provider (it runs on, and is billed). A fake whose provider has no cancel
  endpoint (``can_cancel = False``: FakeOpenRouter) is exempt: there a cancelled job's
  video runs on by design, and soravideo can only stop tracking it; so is a video its fake's
  ``can_cancel_video(id)`` says cannot be cancelled (FakeGemini's Veo operations);
- ``cost``: the cost the job records is not the price of what was sent for its video
  (FakeSora: the seconds and model sent, priced by the published table or ``prices``;
  FakeRunway: the credits the fake itself estimated or charged for the task; FakeFal: the
  endpoint, duration, resolution and audio sent, priced by fal's published table;
  FakeGemini: the model, seconds and resolution sent, priced by the transport's table;
  FakeOpenRouter: the estimate is the fake's price of what was sent, where the model has
  one, and ``cost_usd`` of a completed job is the ``usage.cost`` the fake reports;
  FakeReplicate: the input sent, priced by the fake's ``prices``, where it has one).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

import attrs

from .._core.models import Job
from ..repositories.base import JobRepository
from ..transports.base import INVALID_REMOTE_ID
from ..transports.sora import SORA_MODELS
from ._fake_fal import FakeFal
from ._fake_gemini import FakeGemini
from ._fake_openrouter import FakeOpenRouter
from ._fake_replicate import FakeReplicate
from ._fake_runway import FakeRunway
from ._fake_sora import FakeSora
from ._fakeserver import FakeServer

__all__ = ["check_exactly_once", "check_ledger_exactly_once"]

_PAGE = 1000  # the largest page every repository serves


@attrs.frozen
class _Sent:
    """What the fake says was sent for one video, as far as it records it."""

    prompt: str | None = None
    usd: float | None = None  # the price of what was sent, where a price table knows it
    credits: tuple[float, ...] = ()  # what the provider itself says it costs (any of these)
    charged_usd: float | None = None  # what the provider reports it charged, in USD
    reports_charge: bool = False  # whether the provider reports a charge in USD at all


def _sent(fake: FakeServer, video_id: str, prices: Mapping[str, float]) -> _Sent:
    try:
        params = fake.create_params(video_id)
    except NotImplementedError:
        return _Sent()
    if isinstance(fake, FakeSora):
        price = prices.get(str(params.get("model")))
        usd = None if price is None else round(int(params["seconds"]) * price, 6)
        return _Sent(prompt=str(params["prompt"]), usd=usd)
    prompt = params.get("promptText", params.get("prompt"))
    if isinstance(fake, (FakeFal, FakeGemini)):
        # fal and Gemini report no USD cost: the published price of what was sent is the check.
        return _Sent(
            prompt=prompt if isinstance(prompt, str) else None, usd=fake.price_usd(video_id)
        )
    if isinstance(fake, FakeReplicate):
        # Replicate reports no cost: the configured price of what was sent is the check.
        return _Sent(
            prompt=prompt if isinstance(prompt, str) else None, usd=fake.price_usd(video_id)
        )
    if isinstance(fake, FakeOpenRouter):
        return _Sent(
            prompt=prompt if isinstance(prompt, str) else None,
            usd=fake.estimate_of(video_id),
            charged_usd=fake.charged(video_id),
            reports_charge=True,
        )
    if isinstance(fake, FakeRunway):
        charged = fake.task(video_id).get("cost", {}).get("credits")
        estimated = fake.estimated_credits(video_id)
        credits = (estimated,) if charged is None else (estimated, float(charged))
        return _Sent(prompt=prompt if isinstance(prompt, str) else None, credits=credits)
    return _Sent(prompt=prompt if isinstance(prompt, str) else None)


def _charge_problem(job: Job, sent: _Sent) -> str | None:
    if not sent.reports_charge:
        return None
    if job.status.value != "completed" and job.cost_usd is None:
        return None  # not finished in the ledger: its cost was never read
    recorded, charged = job.cost_usd, sent.charged_usd
    if recorded is None or charged is None:
        same = recorded is charged
    else:
        same = math.isclose(recorded, charged, abs_tol=1e-6)
    return None if same else f"records ${recorded} charged, but the provider says ${charged}"


def _cost_problem(job: Job, sent: _Sent) -> str | None:
    if sent.usd is not None:
        recorded = job.estimated_cost_usd
        if recorded is None or not math.isclose(recorded, sent.usd, abs_tol=1e-6):
            return f"records ${recorded}, but what was sent costs ${sent.usd}"
    if sent.credits:
        recorded = job.cost_credits
        if recorded is None or not any(math.isclose(recorded, c) for c in sent.credits):
            shown = " or ".join(f"{c:g}" for c in sent.credits)
            return f"records {recorded} credits, but the provider says {shown}"
    return _charge_problem(job, sent)


def check_exactly_once(
    fake: FakeServer,
    jobs: Iterable[Job],
    *,
    settled: bool = True,
    provider: str | None = None,
    prices: Mapping[str, float] | None = None,
) -> None:
    """Assert that the jobs and what the fake created match one to one.

    Call it at the end of a test, with every job of the ledger (see
    [`check_ledger_exactly_once`][soravideo.testing.check_ledger_exactly_once] to read them from a
    repository).

    Args:
        fake: The fake provider the jobs were sent to.
        jobs: Every job of the ledger (a subset makes the fake's other videos orphans).
        settled: ``True`` (the default) once the run has waited for its jobs: every job
            must be terminal. ``False`` while jobs may still be in flight or after a
            crash: ``pending`` and ``processing`` jobs pass, and a video no job owns yet
            passes while an unfinished job with no remote id and the same prompt could
            still adopt it.
        provider: Check only the jobs of this provider (``"sora"``, ``"runway"`` …), for a
            ledger shared by several; ``None`` checks them all against ``fake``.
        prices: USD per second by model for FakeSora videos, overriding or adding to the
            published prices (pass what you passed to ``SoraTransport(prices=...)``).

    Raises:
        AssertionError: naming every violation, one per line.

    Examples:
        ```python
        from soravideo.testing import check_exactly_once

        requests = [sv.CreateVideoRequest(prompt=f"Shot {n}") for n in range(3)]
        jobs = await client.videos.create_videos(requests)
        done = [job async for job in client.videos.as_completed([job.id for job in jobs])]
        check_exactly_once(client.fake, done)  # raises AssertionError naming every violation
        ```
    """
    table = {n: m.price_per_second_usd for n, m in SORA_MODELS.items() if m.price_per_second_usd}
    table.update(prices or {})
    checked = [j for j in jobs if provider is None or j.provider == provider]
    created = fake.created_ids()
    known = set(created)
    stopped = set(fake.cancelled_ids()) | set(fake.deleted_ids())
    cancellable = bool(getattr(fake, "can_cancel", True))
    # Where only some videos can be cancelled (FakeGemini: interactions, not Veo operations).
    can_cancel_video = getattr(fake, "can_cancel_video", None)
    owners: dict[str, list[Job]] = defaultdict(list)
    for job in checked:
        if job.remote_id is not None:
            owners[job.remote_id].append(job)
    sent = {video_id: _sent(fake, video_id, table) for video_id in created}
    # Unfinished jobs without a remote id may still adopt an unowned video (not settled).
    adopters = [j for j in checked if not j.is_terminal and j.remote_id is None]
    # Jobs failed because their create was answered with an unusable id: each accounts for
    # one video with its prompt, which the library could never address.
    refused = [
        j
        for j in checked
        if j.remote_id is None and j.error is not None and j.error.code == INVALID_REMOTE_ID
    ]
    problems: list[str] = []

    for video_id in created:
        if video_id in owners:
            continue
        prompt = sent[video_id].prompt
        named = next((j for j in refused if prompt is None or j.request.prompt == prompt), None)
        if named is not None:
            refused.remove(named)
            continue
        adopter = next((j for j in adopters if prompt is None or j.request.prompt == prompt), None)
        if not settled and adopter is not None:
            adopters.remove(adopter)
            continue
        problems.append(f"orphan: video {video_id} ({prompt!r}) is owned by no job")

    for remote_id, holders in owners.items():
        if len(holders) > 1:
            names = ", ".join(j.id for j in holders)
            problems.append(f"owned twice: video {remote_id} is held by jobs {names}")
        if remote_id not in known:
            names = ", ".join(j.id for j in holders)
            problems.append(
                f"unknown video: job {names} holds {remote_id}, which the provider never created"
            )

    for job in checked:
        if settled and not job.is_terminal:
            problems.append(
                f"stuck: job {job.id} is {job.status.value} (remote id {job.remote_id})"
            )
        if job.remote_id is None or job.remote_id not in known:
            continue
        what = sent[job.remote_id]
        if what.prompt is not None and what.prompt != job.request.prompt:
            problems.append(
                f"wrong owner: job {job.id} ({job.request.prompt!r}) holds video "
                f"{job.remote_id}, sent for {what.prompt!r}"
            )
        stoppable = cancellable and (can_cancel_video is None or can_cancel_video(job.remote_id))
        if job.status.value == "cancelled" and stoppable and job.remote_id not in stopped:
            problems.append(
                f"still running: job {job.id} is cancelled, but its video {job.remote_id} "
                "was neither cancelled nor deleted at the provider"
            )
        cost = _cost_problem(job, what)
        if cost is not None:
            problems.append(f"cost: job {job.id} {cost}")

    if problems:
        raise AssertionError(
            f"exactly once: {len(problems)} violation(s) over {len(checked)} job(s) and "
            f"{len(created)} video(s)\n" + "\n".join(f"  - {p}" for p in problems)
        )


async def _ledger_jobs(repository: JobRepository) -> list[Job]:
    """Return every job of a ledger, page by page."""
    jobs: list[Job] = []
    page = 1
    while True:
        found = await repository.list_jobs(page=page, limit=_PAGE)
        jobs.extend(found.items)
        if not found.has_next:
            return jobs
        page += 1


async def check_ledger_exactly_once(
    fake: FakeServer,
    repository: JobRepository,
    *,
    settled: bool = True,
    provider: str | None = None,
    prices: Mapping[str, float] | None = None,
) -> None:
    """Read every job of ``repository`` and run
    [`check_exactly_once`][soravideo.testing.check_exactly_once] on them.

    The repository must be open (a client's ``client.repository`` is, once the client has
    been used; a new one is opened with ``async with``).

    Args:
        fake: The fake provider the jobs were sent to.
        repository: The ledger.
        settled / provider / prices: As [`check_exactly_once`][soravideo.testing.check_exactly_once]
            takes them.

    Raises:
        AssertionError: naming every violation, one per line.

    Examples:
        ```python
        from soravideo.testing import check_ledger_exactly_once

        created = await client.batches.create_batch(
            sv.BatchVideoRequest(videos=[sv.CreateVideoRequest(prompt=f"Tile {n}") for n in range(4)])
        )
        await client.batches.cancel_batch(created.batch_id)
        await check_ledger_exactly_once(client.fake, client.repository)  # every job of the ledger
        ```
    """
    check_exactly_once(
        fake,
        await _ledger_jobs(repository),
        settled=settled,
        provider=provider,
        prices=prices,
    )
