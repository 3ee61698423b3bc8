"""A hypothesis state machine that ends every step, and every run, with the exactly-once
invariant (``soravideo.testing.check_exactly_once``) between FakeSora and the ledger.

It interleaves single creates, batches (created, processed, cancelled), job cancels,
moving time, closing the client and opening a new one on the same ledger (the restart a
crash forces), and provider faults: 500, 429, a refused connection, a reset after the
create took effect (disabled until a known bug is fixed: see ``RECONCILE_FIXED``), a slow
create. After each step the check runs unsettled (jobs may be in
flight); at the end every batch is processed, time moves until every job has ended, and the
check runs settled: nothing orphaned, owned twice, stuck, left running or mispriced.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import anyio.lowlevel
import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import soravideo as sv
from soravideo.repositories import MemoryRepository
from soravideo.testing import FakeSora, check_exactly_once
from soravideo.transports import SoraTransport

BASE_URL = "http://fake.invalid/v1"
PROMPTS = ["a fox", "a cat", "fail-moderation here", "a dog"]
FAULTS = {
    "500": {"status": 500},
    "429": {"status": 429, "retry_after": 2},
    "refused": {"refuse": True},
    "reset after create": {"reset": True, "phase": "after"},
    "slow create": {"delay": 5.0},
}
# [W2-1] Known bug, being fixed in the engine: reconciling an ambiguous create adopts
# another job's video when both jobs have the same prompt. Found by this machine:
#   create_batch(['a fox']); inject('500', 'POST /videos'); create_batch(['a fox']);
#   create_batch(['a fox', 'a fox']); inject('reset after create', 'POST /videos');
#   process_batch(<the last batch>)
#   -> owned twice: video video_0a5d… is held by jobs job_…dfd, job_…099
# Set to True once the fix lands: the machine then provokes ambiguous creates too.
RECONCILE_FIXED = True
if not RECONCILE_FIXED:
    del FAULTS["reset after create"]


class ExactlyOnceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = sv.ManualClock()
        self.fake = FakeSora(clock=self.clock, generation_time=20)
        self.repository = MemoryRepository()  # outlives every client: the shared ledger
        self.batches: list[str] = []
        self.processed: set[str] = set()
        self.client = self.open()

    def open(self) -> sv.SoraVideo:
        transport = SoraTransport(
            base_url=BASE_URL,
            api_key="sk-machine",
            http_client=httpx.AsyncClient(transport=self.fake.http_transport(), base_url=BASE_URL),
            sleep=self.clock.sleep,
        )
        return sv.SoraVideo(
            transport=transport,
            repository=self.repository,
            clock=self.clock,
            max_concurrency=3,
            poll_min_interval=1.0,
            poll_max_interval=10.0,
            # Nobody moves the manual clock while a client closes, so a slow create's answer
            # never comes then: close gives up at once and leaves the job resumable.
            close_timeout=0.05,
        )

    # -- driving the sync client on a clock the test moves ---------------------------------

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self.client._call(fn, *args, **kwargs)

    def advancing(self, fn: Any, *args: Any) -> Any:
        """Run a call that may wait on the clock, moving time until it finishes."""
        future = self.client._ensure_portal().start_task_soon(fn, *args)
        for _ in range(10_000):
            if future.done():
                return future.result()
            self.call(self._advance, 1.0)
        raise AssertionError("the call never finished")

    async def _advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        for _ in range(20):
            await anyio.lowlevel.checkpoint()

    def settle(self) -> None:
        async def turns() -> None:
            for _ in range(50):
                await anyio.lowlevel.checkpoint()

        self.call(turns)

    def jobs(self) -> list[sv.Job]:
        return list(self.call(self.repository.list_jobs, limit=1000).items)

    # -- rules ---------------------------------------------------------------------------------

    @rule(prompt=st.sampled_from(PROMPTS), duration=st.sampled_from([4, 8]))
    def create(self, prompt: str, duration: int) -> None:
        self.client.videos.create_video(sv.CreateVideoRequest(prompt=prompt, duration=duration))
        self.settle()

    @rule(prompts=st.lists(st.sampled_from(PROMPTS), min_size=1, max_size=3))
    def create_batch(self, prompts: list[str]) -> None:
        videos = [sv.CreateVideoRequest(prompt=p) for p in prompts]
        created = self.client.batches.create_batch(sv.BatchVideoRequest(videos=videos))
        self.batches.append(created.batch_id)

    @precondition(lambda self: bool(set(self.batches) - self.processed))
    @rule(data=st.data())
    def process_batch(self, data: st.DataObject) -> None:
        batch_id = data.draw(st.sampled_from(sorted(set(self.batches) - self.processed)))
        self.processed.add(batch_id)
        self.advancing(self.client._async.batches.process_batch, batch_id)

    @precondition(lambda self: bool(self.batches))
    @rule(data=st.data())
    def cancel_batch(self, data: st.DataObject) -> None:
        batch_id = data.draw(st.sampled_from(self.batches))
        self.advancing(self.client._async.batches.cancel_batch, batch_id)
        self.settle()

    @rule(data=st.data())
    def cancel_job(self, data: st.DataObject) -> None:
        jobs = self.jobs()
        if not jobs:
            return
        job_id = data.draw(st.sampled_from(sorted(j.id for j in jobs)))
        with contextlib.suppress(sv.JobStateError):  # it may have ended meanwhile
            self.advancing(self.client._async.videos.cancel_job, job_id)
        self.settle()

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 10.0, 30.0]))
    def advance(self, seconds: float) -> None:
        self.call(self._advance, seconds)
        self.settle()

    @rule(fault=st.sampled_from(sorted(FAULTS)), match=st.sampled_from(["POST /videos", None]))
    def inject(self, fault: str, match: str | None) -> None:
        self.fake.inject(match=match, times=1, **FAULTS[fault])  # type: ignore[arg-type]

    @rule()
    def reopen(self) -> None:
        # Close (whatever is on the wire) and start again on the same ledger and provider.
        self.client.close()
        self.client = self.open()
        self.client.videos.list_jobs()  # starts the engine, which resumes the ledger
        self.settle()

    # -- the invariant -------------------------------------------------------------------------

    @invariant()
    def exactly_once_so_far(self) -> None:
        check_exactly_once(self.fake, self.jobs(), settled=False)

    def teardown(self) -> None:
        try:
            for batch_id in sorted(set(self.batches) - self.processed):
                self.advancing(self.client._async.batches.process_batch, batch_id)
            for _ in range(200):
                if all(j.is_terminal for j in self.jobs()):
                    break
                self.call(self._advance, 5.0)
            check_exactly_once(self.fake, self.jobs())
        finally:
            self.client.close()


ExactlyOnceMachine.TestCase.settings = settings(
    # Derandomized: the same examples on every run, so CI never flakes on a new one.
    derandomize=True,
    database=None,
    max_examples=20,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestExactlyOnceMachine = ExactlyOnceMachine.TestCase
