"""Hostile providers, end to end: the library against FakeSora and FakeRunway in hostile mode
(``fake.hostile(...)``), with a SQLite ledger and a download directory.

What is about the wire (bodies cut short or endless, lengths, raw header bytes, redirects
to another origin) is served on a loopback port, in real time. What a JSON body, an id or a
video's bytes carry reaches the library through the fake's in-process transport, on
simulated time (``IN_PROCESS``, ``IN_PROCESS_DOWNLOADS``): the same bytes through the same
parsing, without waiting for real.

Whatever the provider answers (wrong JSON types, dot ids, HTML pages for videos, endless
or cut bodies, redirects to another origin, absurd headers), every scenario must end with:

- no crash: nothing raised but soravideo's own documented errors;
- no wrong file: nothing in the download directory but verified videos, each the very
  bytes of its own job's video, and nothing written anywhere else;
- no leaked secret: the API key in no error (nor its causes), no log record at DEBUG, no
  job, no ledger byte, and no request received by another origin;
- no stray request: nothing sent outside the provider's resources (``stray_requests``);
- the exactly-once check (run by the e2e conftest after each scenario): jobs completed or
  failed cleanly, none stuck, no video owned twice or billed without a job.
"""

from __future__ import annotations

import fnmatch
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

import soravideo as sv
from helpers import tls
from soravideo.repositories import SQLiteRepository
from soravideo.testing import HOSTILE_IDS, FakeRunway, FakeSora, ForeignServer, VirtualClock
from soravideo.testing._fakeserver import FakeRequest, FakeResponse, FakeServer
from soravideo.transports import RunwayTransport, SoraTransport

API_KEY = "sk-hostile-a1b2c3d4e5f6-SECRET"
GENERATION_TIME = 0.05
WAIT = 10.0  # seconds a scenario waits for its jobs at most (they take well under one)
SETTINGS: dict[str, Any] = {
    "poll_min_interval": 0.02,
    "poll_max_interval": 0.1,
    "request_timeout": 5.0,
    "max_retry_after": 0.2,
}
# A size cap far below what an endless body sends (settings of w2-downloads).
MAX_DOWNLOAD_BYTES = 2_000_000
ENDLESS_LIMIT = 64 * 1024 * 1024


def _is_read(request: FakeRequest) -> bool:
    """A status read of one video (not its content)."""
    return request.method == "GET" and request.path.count("/") == 2


# What each provider's requests look like, for ``match=``.
MATCH: dict[str, dict[str, Any]] = {
    "sora": {
        "create": "POST /videos",
        "read": _is_read,
        "list": "GET /videos",
        "content": "GET /videos/*/content",
    },
    "runway": {
        "create": "POST /v1/*_to_video",
        "read": "GET /v1/tasks/*",
        "content": "GET /_cdn/*",
    },
}


# Scenarios whose hostility is all in what a JSON body or a header says (types, fields,
# ids, values): run in-process on simulated time. The others need a real socket (framing,
# lengths, endless streams, the HTTP parser's limits, another origin), or real time: a create
# answered with garbage leaves the job stuck in real time (an engine crash, see
# ENGINE_CRASH) where simulated time would jump to its retry.
IN_PROCESS = frozenset(
    {
        "test_hostile_status_answers_are_survived_and_the_job_completes",
        "test_a_runway_create_answered_with_a_page_fails_cleanly",
        "test_a_create_answered_with_a_hostile_id_never_sends_a_request_elsewhere",
        "test_status_reads_answered_with_a_hostile_id_never_send_a_request_elsewhere",
        "test_a_status_read_answered_with_another_jobs_id_never_swaps_videos",
        "test_listed_videos_with_hostile_ids_are_never_adopted_or_addressed",
        # Header values reach httpx as the same bytes in-process (latin-1, else UTF-8).
        "test_an_absurd_retry_after_is_capped_and_the_job_completes",
        "test_an_absurd_poll_hint_never_stalls_the_job",
        "test_error_answers_with_absurd_headers_are_survived",
    }
)
# Download scenarios: in-process too when the hostile body is all in its bytes or a plain
# header (``BODIES`` not ``ON_THE_WIRE``); a body cut short or an absurd length is served.
IN_PROCESS_DOWNLOADS = frozenset(
    {
        "test_a_download_that_is_not_the_video_leaves_no_file",
        "test_a_bad_download_is_tried_again_and_the_real_video_kept",
        "test_download_video_names_what_is_not_the_video",
    }
)
# Where an in-process client sends its requests (the fake's transport answers any host).
IN_PROCESS_URL = {"sora": "http://fakesora.invalid/v1", "runway": "http://fakerunway.invalid"}


def _in_process(request: pytest.FixtureRequest) -> bool:
    name = getattr(request.node, "originalname", None)
    if name in IN_PROCESS_DOWNLOADS:
        return request.node.callspec.params["name"] not in ON_THE_WIRE  # type: ignore[attr-defined]
    return name in IN_PROCESS


@pytest.fixture(params=["sora", "runway"])
def provider(request: pytest.FixtureRequest) -> str:
    """Which provider a scenario runs against (both, unless it says)."""
    return str(request.param)


@pytest.fixture
def fake(provider: str, request: pytest.FixtureRequest) -> FakeServer:
    """The provider's fake, demanding ``API_KEY`` (overrides the conftest's FakeSora).

    On a ``VirtualClock`` for the ``IN_PROCESS`` scenarios; served in real time otherwise.
    """
    clock = VirtualClock() if _in_process(request) else None
    if provider == "runway":
        return FakeRunway(api_key=API_KEY, generation_time=GENERATION_TIME, clock=clock)
    return FakeSora(api_key=API_KEY, generation_time=GENERATION_TIME, clock=clock)


@attrs.define
class Hostile:
    """One scenario: clients on the served fake, and every check a hostile run must pass."""

    fake: FakeServer
    provider: str
    base_url: str
    ledger: Path
    root: Path
    caplog: pytest.LogCaptureFixture
    errors: list[BaseException] = attrs.field(factory=list)
    foreign: ForeignServer | None = None
    clock: VirtualClock | None = None  # in-process, on simulated time
    in_process_clients: list[httpx.AsyncClient] = attrs.field(factory=list)

    @property
    def client_settings(self) -> dict[str, Any]:
        return {**SETTINGS, "clock": self.clock} if self.clock is not None else dict(SETTINGS)

    @property
    def downloads(self) -> Path:
        return self.root / "out" / "videos"

    @property
    def match(self) -> dict[str, Any]:
        return MATCH[self.provider]

    def transport(
        self, *, auth_style: str = "bearer", http_client: httpx.AsyncClient | None = None
    ) -> SoraTransport | RunwayTransport:
        transport: SoraTransport | RunwayTransport
        if self.clock is not None:
            assert http_client is None, "an in-process scenario has no client of the user's"
            http_client = httpx.AsyncClient(transport=self.fake.http_transport())
            self.in_process_clients.append(http_client)
        if self.provider == "runway":
            transport = RunwayTransport(
                base_url=self.base_url, api_key=API_KEY, http_client=http_client, clock=self.clock
            )
            # Runway asks for 5 s between polls; the fake generates in a fraction of one.
            transport._capabilities = attrs.evolve(transport.capabilities, min_poll_interval=0.0)
        else:
            transport = SoraTransport(
                base_url=self.base_url,
                api_key=API_KEY,
                auth_style=auth_style,  # type: ignore[arg-type]
                http_client=http_client,
                clock=self.clock,
                idempotent_creates=True,  # FakeSora deduplicates creates
            )
        transport.retry_policy = attrs.evolve(transport.retry_policy, base=0.02, cap=0.1)
        return transport

    def run(
        self,
        *prompts: str,
        auth_style: str = "bearer",
        follow_redirects: bool = False,
        download: bool = True,
        wait: float = WAIT,
        **settings: Any,
    ) -> list[sv.Job]:
        """Create one job per prompt, wait for them, and return them as the ledger ends.

        The client is async, run to its end here: an error that ends its engine leaves
        ``async with`` as a crash (a sync client's engine would die unseen). soravideo's
        own errors are kept for the secret checks; anything else fails the scenario.

        Args:
            prompts: One job each (default: one job).
            auth_style: The Sora transport's.
            follow_redirects: Hand the transport an ``httpx.AsyncClient`` of the user's
                that follows redirects itself.
            download: Download completed videos into ``downloads``.
            wait: Seconds to wait for each job at most.
            settings: Client settings.
        """
        return anyio.run(
            self._run,
            prompts or ("a red fox in the snow",),
            auth_style,
            follow_redirects,
            wait,
            {
                "download_dir": self.downloads if download else None,
                **self.client_settings,
                **settings,
            },
        )

    async def _run(
        self,
        prompts: tuple[str, ...],
        auth_style: str,
        follow_redirects: bool,
        wait: float,
        settings: dict[str, Any],
    ) -> list[sv.Job]:
        users = httpx.AsyncClient(follow_redirects=True, verify=tls()) if follow_redirects else None
        transport = self.transport(auth_style=auth_style, http_client=users)
        try:
            client = sv.AsyncSoraVideo(
                transport=transport, repository=SQLiteRepository(self.ledger), **settings
            )
            async with client:
                ids: list[str] = []
                for prompt in prompts:
                    try:
                        created = await client.videos.create_video(
                            sv.CreateVideoRequest(prompt=prompt)
                        )
                        ids.append(created.id)
                    except sv.SoraVideoError as exc:
                        self.errors.append(exc)
                for job_id in ids:
                    try:
                        await client.videos.wait_for_job(job_id, timeout=wait)
                    except sv.SoraVideoError as exc:
                        self.errors.append(exc)
                return [await client.videos.get_job(job_id) for job_id in ids]
        finally:
            # Also when the engine crashed: its sockets must not outlive the scenario.
            await transport.aclose()
            if users is not None:
                await users.aclose()
            await self.close_in_process_clients()

    async def close_in_process_clients(self) -> None:
        while self.in_process_clients:
            await self.in_process_clients.pop().aclose()

    def download(self, job: sv.Job, dest: Path) -> Path | None:
        """Download a completed job by hand (``download_video``); ``None`` if refused."""

        async def download() -> Path | None:
            async with sv.AsyncSoraVideo(
                transport=self.transport(),
                repository=SQLiteRepository(self.ledger),
                **self.client_settings,
            ) as client:
                try:
                    return await client.videos.download_video(job.id, dest)
                except sv.SoraVideoError as exc:
                    self.errors.append(exc)
                    return None
                finally:
                    await self.close_in_process_clients()

        return anyio.run(download)

    # -- the checks ---------------------------------------------------------------------

    def check(self, jobs: list[sv.Job]) -> None:
        """No wrong file, no leaked secret, no stray request (exactly once: the conftest)."""
        self.check_files(jobs)
        self.check_secrets(jobs)
        stray = [f"{r.method} {r.full_path}" for r in self.fake.stray_requests()]
        assert not stray, f"requests outside the provider's resources: {stray}"

    def check_files(self, jobs: list[sv.Job]) -> None:
        owners = {job.id: job for job in jobs}
        for path in sorted(self.root.rglob("*")):
            if path.is_dir() or path.name.startswith(self.ledger.name):
                continue
            assert path.parent == self.downloads, f"a file outside the download dir: {path}"
            job = owners.get(path.name.split(".")[0])
            assert job is not None, f"a file no job owns: {path.name}"
            assert job.remote_id is not None, f"a file for {job.id}, which has no video"
            content = self.fake.content(job.remote_id)
            data = path.read_bytes()
            assert data == content, (
                f"{path.name} is not job {job.id}'s video: {len(data)} bytes starting {data[:16]!r}"
            )
        for job in jobs:
            if job.result is not None and job.result.path is not None:
                assert Path(job.result.path).is_file(), f"job {job.id} names a missing file"
                assert Path(job.result.path).parent == self.downloads

    def check_secrets(self, jobs: list[sv.Job]) -> None:
        for record in self.caplog.records:
            if record.name.startswith("httpcore"):
                # httpcore's DEBUG trace prints the raw headers a server sent: a server
                # that echoes the key there shows it itself (see the request id test).
                continue
            text = record.getMessage()
            if record.exc_info:
                text += "".join(traceback.format_exception(*record.exc_info))
            assert API_KEY not in text, f"the key in a log record: {record.name}: {text[:300]}"
        for error in self.errors:
            for link in _chain(error):
                shown = _everything_shown(link)
                assert API_KEY not in shown, f"the key in an error: {shown[:300]}"
        for job in jobs:
            assert API_KEY not in repr(attrs.asdict(job)), f"the key in job {job.id}"
        for path in self.ledger.parent.glob(f"{self.ledger.name}*"):
            assert API_KEY.encode() not in path.read_bytes(), f"the key in {path.name}"
        if self.foreign is not None:
            assert self.foreign.seen(API_KEY) == [], "the key reached another origin"


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _everything_shown(error: BaseException) -> str:
    """What a program may print of an error: its text, repr, body and HTTP request."""
    parts = [str(error), repr(error), "".join(traceback.format_exception_only(error))]
    parts.append(repr(getattr(error, "body", None)))
    if isinstance(error, httpx.HTTPError):
        try:
            request = error.request
        except RuntimeError:
            request = None
        if request is not None:
            parts += [repr(request.headers), str(request.url)]
    return "\n".join(parts)


@pytest.fixture
def hostile(
    fake: FakeServer,
    provider: str,
    ledger_path: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> Hostile:
    caplog.set_level(logging.DEBUG)
    if _in_process(request):
        clock = fake.clock
        assert isinstance(clock, VirtualClock)
        url = IN_PROCESS_URL[provider]
        return Hostile(fake, provider, url, ledger_path, tmp_path, caplog, clock=clock)
    base_url: str = request.getfixturevalue("base_url")  # served for the whole scenario
    return Hostile(fake, provider, base_url, ledger_path, tmp_path, caplog)


def _completed_with_file(hostile: Hostile, jobs: list[sv.Job]) -> None:
    for job in jobs:
        assert job.status is sv.JobStatus.COMPLETED, (job.status, job.error)
        assert job.result is not None and job.result.path is not None, job.result
        assert job.remote_id is not None
        assert Path(job.result.path).read_bytes() == hostile.fake.content(job.remote_id)


def _ended(jobs: list[sv.Job]) -> None:
    for job in jobs:
        assert job.is_terminal, f"job {job.id} is {job.status.value}"


# -- JSON answers to status reads -----------------------------------------------------------

# (provider, answer) pairs that end the engine today.
READ_ANSWERS: dict[str, dict[str, Any]] = {
    "every field of another type": {"kind": "wrong_types"},
    "status as a number": {"kind": "wrong_types", "fields": ["status"]},
    "id as a list": {"kind": "wrong_types", "fields": ["id"]},
    "only the id": {"kind": "missing_fields"},
    "an empty object": {"kind": "missing_fields", "keep": ()},
    "huge numbers": {"kind": "huge_numbers"},
    "nested garbage": {"kind": "nested_garbage", "depth": 8},
    "garbage nested 100 000 deep": {"kind": "nested_garbage", "depth": 100_000},
    "an HTML page": {"kind": "html_body"},
    "a JSON error with a 200": {"kind": "json_error_body"},
    "an unknown status, negative progress": {
        "kind": "fields",
        "values": {"status": "teleported", "progress": -5, "output": "nope"},
    },
}


@pytest.mark.parametrize("name", READ_ANSWERS)
def test_hostile_status_answers_are_survived_and_the_job_completes(
    hostile: Hostile, name: str
) -> None:
    options = dict(READ_ANSWERS[name])
    kind = options.pop("kind")
    # Long enough that the hostile answers reach a job still generating.
    hostile.fake.generation_time = 0.3  # type: ignore[attr-defined]
    fault = hostile.fake.hostile(kind, match=hostile.match["read"], times=3, **options)

    jobs = hostile.run()

    assert fault.fired == 3
    _completed_with_file(hostile, jobs)
    hostile.check(jobs)


# -- JSON answers to creates ----------------------------------------------------------------

CREATE_ANSWERS: dict[str, dict[str, Any]] = {
    "every field of another type": {"kind": "wrong_types"},
    "id as a list": {"kind": "wrong_types", "fields": ["id"]},
    "no id": {"kind": "missing_fields", "keep": ("status", "prompt")},
    "huge numbers": {"kind": "huge_numbers"},
    "nested garbage": {"kind": "nested_garbage", "depth": 8},
    "an HTML page": {"kind": "html_body"},
    "a JSON error with a 200": {"kind": "json_error_body"},
}


@pytest.mark.parametrize("provider", ["sora"])
@pytest.mark.parametrize("answer", CREATE_ANSWERS.values(), ids=CREATE_ANSWERS.keys())
def test_a_create_answered_with_garbage_is_reconciled_never_sent_twice(
    hostile: Hostile, answer: dict[str, Any]
) -> None:
    options = dict(answer)
    kind = options.pop("kind")
    hostile.fake.hostile(kind, match=hostile.match["create"], **options)

    jobs = hostile.run(wait=5.0)

    _ended(jobs)
    assert hostile.fake.created_count() == 1
    hostile.check(jobs)


@pytest.mark.parametrize("provider", ["runway"])
@pytest.mark.parametrize("kind", ["html_body", "json_error_body"])
def test_a_runway_create_answered_with_a_page_fails_cleanly(hostile: Hostile, kind: str) -> None:
    # Before the create took effect: Runway can neither list nor deduplicate, so the
    # library cannot know and fails the job; nothing was made.
    hostile.fake.hostile(kind, match=hostile.match["create"], phase="before")  # type: ignore[arg-type]

    jobs = hostile.run()

    assert [j.status for j in jobs] == [sv.JobStatus.FAILED]
    assert hostile.fake.created_count() == 0
    hostile.check(jobs)


# -- hostile ids ------------------------------------------------------------------------------


# Every id against Sora; the worst against Runway too (its ids take the same path).
_IDS = [pytest.param("sora", i, id=f"sora-{i!a}") for i in HOSTILE_IDS] + [
    pytest.param("runway", i, id=f"runway-{i!a}") for i in (".", "..", "a/b", "vid\x00")
]


@pytest.mark.parametrize(("provider", "bad_id"), _IDS)
def test_a_create_answered_with_a_hostile_id_never_sends_a_request_elsewhere(
    hostile: Hostile, bad_id: str
) -> None:
    hostile.fake.hostile("bad_id", id=bad_id, match=hostile.match["create"])

    jobs = hostile.run()

    _ended(jobs)
    assert hostile.fake.created_count() == 1
    # An id that is one plain path segment once quoted (``%2e%2e``) may be used, quoted;
    # any other is refused, and its job fails naming it (it made a video soravideo
    # cannot address: the exactly-once check accounts for it).
    for job in jobs:
        if job.remote_id is None:
            assert job.error is not None and job.error.code == "invalid_remote_id", job.error
    hostile.check(jobs)


@pytest.mark.parametrize("bad_id", [".", "..", "a/b", "vid\r\nx-injected: 1"], ids=ascii)
def test_status_reads_answered_with_a_hostile_id_never_send_a_request_elsewhere(
    hostile: Hostile, bad_id: str
) -> None:
    hostile.fake.hostile("bad_id", id=bad_id, match=hostile.match["read"], times=3)

    jobs = hostile.run()

    _completed_with_file(hostile, jobs)
    hostile.check(jobs)


def test_a_status_read_answered_with_another_jobs_id_never_swaps_videos(
    hostile: Hostile,
) -> None:
    # The first video is made and finished; the second job's reads then answer with the
    # first video: a job must never take (nor download) a video that is not its own.
    first = hostile.run("the first video")
    other = first[0].remote_id
    assert other is not None
    # Done before the first read (0.02 s), which, hostile, says "completed".
    hostile.fake.generation_time = 0.005  # type: ignore[attr-defined]
    hostile.fake.hostile("bad_id", id=other, match=hostile.match["read"], times=3)

    second = hostile.run("the second video")

    jobs = first + second
    assert second[0].remote_id != other
    _completed_with_file(hostile, jobs)
    hostile.check(jobs)


@pytest.mark.parametrize("provider", ["sora"])
def test_listed_videos_with_hostile_ids_are_never_adopted_or_addressed(
    hostile: Hostile,
) -> None:
    # The create's answer is lost: reconciliation lists recent videos, all with bad ids.
    hostile.fake.reset_next_create()  # type: ignore[attr-defined]
    hostile.fake.hostile("bad_id", id="..", match=hostile.match["list"], times=None)

    jobs = hostile.run()

    _ended(jobs)
    assert hostile.fake.created_count() == 1
    hostile.check(jobs)


# -- content downloads ------------------------------------------------------------------------

# Each hostile answer to a content download, and the error soravideo names it with: a
# DownloadError code, or a broken connection (ProviderConnectionError, no code).
BODIES: dict[str, tuple[dict[str, Any], str | None]] = {
    "an HTML error page": ({"kind": "html_body"}, "content_type"),
    "a JSON error with a 200": ({"kind": "json_error_body"}, "content_type"),
    "the video labelled text/html": (
        {"kind": "headers", "headers": {"content-type": "text/html"}},
        "content_type",
    ),
    "bytes that are no video": ({"kind": "not_video"}, "not_media"),
    "cut short, with Content-Length": ({"kind": "truncated"}, None),
    "cut short, without Content-Length": (
        {"kind": "truncated", "content_length": False},
        "incomplete_download",
    ),
    "an absurd Content-Length": ({"kind": "huge_length"}, "too_large"),
}
# The bodies whose hostility is in the HTTP framing (a length, a body cut short): on loopback.
ON_THE_WIRE = frozenset(
    {
        "cut short, with Content-Length",
        "cut short, without Content-Length",
        "an absurd Content-Length",
    }
)


def _bodies(names: list[str]) -> list[Any]:
    """Every body against Sora; one mislabelled and one cut short against Runway.

    What differs between the two is how the transport opens the content (its own
    endpoint with the key, a CDN URL without); the checks of the bytes are the same code.
    """
    on_runway = ("an HTML error page", "cut short, without Content-Length")
    return [pytest.param("sora", n, id=f"sora-{n}") for n in names] + [
        pytest.param("runway", n, id=f"runway-{n}") for n in names if n in on_runway
    ]


def _hostile_body(hostile: Hostile, name: str, times: int | None) -> Any:
    options = dict(BODIES[name][0])
    kind = options.pop("kind")
    return hostile.fake.hostile(kind, match=hostile.match["content"], times=times, **options)


@pytest.mark.parametrize(("provider", "name"), _bodies(list(BODIES)))
def test_a_download_that_is_not_the_video_leaves_no_file(hostile: Hostile, name: str) -> None:
    fault = _hostile_body(hostile, name, times=None)

    jobs = hostile.run()

    assert fault.fired >= 1
    for job in jobs:
        # The video was made; only its download failed, and left nothing behind.
        assert job.status is sv.JobStatus.COMPLETED, job.error
        assert job.result is not None and job.result.path is None
    assert not any(hostile.downloads.glob("*")), list(hostile.downloads.glob("*"))
    hostile.check(jobs)


# Too large is not tried again (it would be as large again): the test above has it.
@pytest.mark.parametrize(
    ("provider", "name"), _bodies([n for n, (_, code) in BODIES.items() if code != "too_large"])
)
def test_a_bad_download_is_tried_again_and_the_real_video_kept(hostile: Hostile, name: str) -> None:
    _hostile_body(hostile, name, times=1)

    jobs = hostile.run()

    _completed_with_file(hostile, jobs)
    hostile.check(jobs)


@pytest.mark.parametrize("provider", ["sora"])
@pytest.mark.parametrize("name", BODIES)
def test_download_video_names_what_is_not_the_video(hostile: Hostile, name: str) -> None:
    jobs = hostile.run(download=False)
    _hostile_body(hostile, name, times=None)
    target = hostile.downloads / "mine.mp4"

    saved = hostile.download(jobs[0], target)

    assert saved is None and not target.exists()
    [error] = hostile.errors
    code = BODIES[name][1]
    if code is None:
        assert isinstance(error, sv.ProviderConnectionError), repr(error)
    else:
        assert isinstance(error, sv.DownloadError) and error.code == code, repr(error)
    hostile.check(jobs)


def test_a_garbled_content_type_over_the_real_video_is_harmless(hostile: Hostile) -> None:
    # "video/" then bytes that are not UTF-8: a video by its label and its bytes. Whether
    # it is kept or refused, no other file may be written.
    garbled = {"content-type": "video/\xff\xfe"}
    hostile.fake.hostile("headers", headers=garbled, match=hostile.match["content"], times=None)

    jobs = hostile.run()

    for job in jobs:
        assert job.status is sv.JobStatus.COMPLETED, job.error
    hostile.check(jobs)


def test_an_endless_download_stops_at_max_download_bytes(hostile: Hostile) -> None:
    endless = hostile.fake.hostile(
        "endless", match=hostile.match["content"], times=None, limit=ENDLESS_LIMIT
    )

    jobs = hostile.run(max_download_bytes=MAX_DOWNLOAD_BYTES)

    assert endless.fired == 1  # too large: not tried again
    assert endless.streams.wait_closed(timeout=30), "the fake is still sending"
    # The client hung up at the cap, far before the fake's own limit (what the sockets'
    # buffers held comes on top).
    assert MAX_DOWNLOAD_BYTES <= endless.streams.sent_bytes < ENDLESS_LIMIT / 4
    assert not any(hostile.downloads.glob("*"))
    for job in jobs:
        assert job.status is sv.JobStatus.COMPLETED and job.result is not None
        assert job.result.path is None
    hostile.check(jobs)


def test_an_absurd_content_length_is_refused_before_reading(hostile: Hostile) -> None:
    fault = hostile.fake.hostile("huge_length", match=hostile.match["content"], times=None)

    jobs = hostile.run(max_download_bytes=MAX_DOWNLOAD_BYTES)

    assert fault.fired == 1
    assert not any(hostile.downloads.glob("*"))
    assert any("max_download_bytes" in r.getMessage() for r in hostile.caplog.records)
    hostile.check(jobs)


# -- redirects --------------------------------------------------------------------------------


@pytest.fixture
def foreign(hostile: Hostile) -> Iterator[tuple[ForeignServer, str]]:
    """Another origin on another loopback port, serving whatever it is asked as a video."""

    def serve_video(request: FakeRequest) -> FakeResponse:
        ids = hostile.fake.created_ids()
        body = hostile.fake.content(ids[-1]) if ids else b""
        return FakeResponse(status=200, headers={"content-type": "video/mp4"}, body=body)

    server = ForeignServer(answer=serve_video)
    hostile.foreign = server
    with server.serve() as url:
        yield server, url


REDIRECTED_CLIENTS: dict[str, dict[str, Any]] = {
    "bearer": {"auth_style": "bearer"},
    "azure": {"auth_style": "azure"},
    "bearer, a client that follows redirects": {"auth_style": "bearer", "follows": True},
    "azure, a client that follows redirects": {"auth_style": "azure", "follows": True},
}


@pytest.mark.parametrize("provider", ["sora"])
@pytest.mark.parametrize(
    "setup",
    [pytest.param(v, id=k) for k, v in REDIRECTED_CLIENTS.items()],
)
def test_a_download_redirected_to_another_origin_carries_no_credential(
    hostile: Hostile, foreign: tuple[ForeignServer, str], setup: dict[str, Any]
) -> None:
    server, url = foreign
    hostile.fake.hostile("redirect", to=f"{url}/cdn/video.mp4", match="GET /videos/*/content")
    jobs = hostile.run(auth_style=setup["auth_style"], follow_redirects=setup.get("follows", False))

    assert server.received, "the redirect was not followed"
    assert [r.full_path for r in server.received] == ["/cdn/video.mp4"]
    # The foreign host served the real video: the download may keep it.
    _completed_with_file(hostile, jobs)
    hostile.check(jobs)


@pytest.mark.parametrize(
    "provider",
    ["sora", "runway"],
)
def test_status_reads_redirected_to_another_origin_carry_no_credential(
    hostile: Hostile, foreign: tuple[ForeignServer, str]
) -> None:
    server, url = foreign
    # Not a job of the provider: the key is the point here (other ids: the swap test).
    server.answer = FakeResponse(status=200, headers={"content-type": "text/html"}, body=b"hi")
    hostile.fake.hostile("redirect", to=f"{url}/steal", match=hostile.match["read"], times=3)
    jobs = hostile.run(auth_style="azure", follow_redirects=True)

    _ended(jobs)
    hostile.check(jobs)


REDIRECT_TARGETS: dict[str, str] = {
    "a file URL": "file:///etc/passwd",
    "an unknown scheme": "gopher://127.0.0.1:1/x",
    "no URL at all": "http://[::1",
    "itself, for ever": "{self}",
}


@pytest.mark.parametrize("target", REDIRECT_TARGETS.values(), ids=REDIRECT_TARGETS.keys())
def test_a_download_redirected_nowhere_fails_cleanly(hostile: Hostile, target: str) -> None:
    if target == "{self}":
        content = hostile.match["content"]

        def loop(request: FakeRequest) -> bool:
            return request.path == "/loop" or fnmatch.fnmatchcase(
                f"{request.method} {request.path}", content
            )

        loop_target = hostile.base_url.rstrip("/") + "/loop"
        hostile.fake.hostile("redirect", to=loop_target, match=loop, times=None)
    else:
        hostile.fake.hostile("redirect", to=target, match=hostile.match["content"], times=None)

    jobs = hostile.run()

    for job in jobs:
        assert job.status is sv.JobStatus.COMPLETED and job.result is not None
        assert job.result.path is None
    assert not any(hostile.downloads.glob("*"))
    hostile.check_files(jobs)
    hostile.check_secrets(jobs)


# -- absurd headers ---------------------------------------------------------------------------

RETRY_AFTERS = ["1e12", "-5", "nan", "inf", "Wed, 21 Oct 2999 07:28:00 GMT", "\xff\xfe", ""]
# Every value against Sora; a few against Runway (the same retry code reads them).
_RETRY_AFTERS = [pytest.param("sora", v, id=f"sora-{v!a}") for v in RETRY_AFTERS] + [
    pytest.param("runway", v, id=f"runway-{v!a}") for v in ("1e12", "-5", "\xff\xfe")
]


@pytest.mark.parametrize(("provider", "value"), _RETRY_AFTERS)
def test_an_absurd_retry_after_is_capped_and_the_job_completes(
    hostile: Hostile, value: str
) -> None:
    hostile.fake.hostile("retry_after", value=value, match=hostile.match["create"], times=2)
    hostile.fake.hostile("retry_after", value=value, ms=value, match=hostile.match["read"], times=2)

    jobs = hostile.run()

    _completed_with_file(hostile, jobs)
    assert hostile.fake.created_count() == 1
    hostile.check(jobs)


POLL_HINTS = ["1e308", "-1", "nan", "99999999999999999999999", "\xff"]


@pytest.mark.parametrize("provider", ["sora"])
@pytest.mark.parametrize("value", POLL_HINTS)
def test_an_absurd_poll_hint_never_stalls_the_job(hostile: Hostile, value: str) -> None:
    hostile.fake.generation_time = 0.3  # type: ignore[attr-defined]  # hints reach a live job
    hostile.fake.hostile(
        "headers",
        headers={"openai-poll-after-ms": value},
        match=hostile.match["read"],
        times=None,
    )

    jobs = hostile.run(wait=3.0)  # done in 0.3 s, unless a hint stalls it

    _completed_with_file(hostile, jobs)
    hostile.check(jobs)


ERROR_HEADERS: dict[str, dict[str, str]] = {
    # 64 KiB once cost 40 s: redact_text was quadratic on one long token of a log line.
    "a request id of 64 KiB": {"x-request-id": "r" * 65536},
    "a request id that is not UTF-8": {"x-request-id": "req-\xff\xfe\xfd"},
    "a request id echoing the key": {"x-request-id": f"req-{API_KEY}"},
    "a content type that is not UTF-8": {"content-type": "application/json; charset=\xff"},
}


@pytest.mark.parametrize("headers", ERROR_HEADERS.values(), ids=ERROR_HEADERS.keys())
def test_error_answers_with_absurd_headers_are_survived(
    hostile: Hostile, headers: dict[str, str]
) -> None:
    hostile.fake.hostile(
        "headers", headers=headers, status=500, match=hostile.match["read"], times=2
    )
    hostile.fake.hostile(
        "headers", headers=headers, status=503, match=hostile.match["content"], times=1
    )

    jobs = hostile.run()

    _completed_with_file(hostile, jobs)
    hostile.check(jobs)


def test_a_header_past_the_http_limit_is_a_connection_error(hostile: Hostile) -> None:
    hostile.fake.hostile(
        "headers", headers={"x-padding": "p" * (1 << 20)}, match=hostile.match["read"], times=2
    )

    jobs = hostile.run()

    _completed_with_file(hostile, jobs)
    hostile.check(jobs)


# -- endless answers where JSON is expected -----------------------------------------------------


def test_an_endless_status_answer_is_cut_off(hostile: Hostile) -> None:
    endless = hostile.fake.hostile(
        "endless", match=hostile.match["read"], times=1, limit=ENDLESS_LIMIT
    )

    jobs = hostile.run()

    assert endless.streams.wait_closed(timeout=30)
    # Read up to the 16 MiB cap on answers; the sockets' buffers hold a few MiB more.
    assert endless.streams.sent_bytes < ENDLESS_LIMIT / 2, "the whole answer was read"
    _completed_with_file(hostile, jobs)
    hostile.check(jobs)
