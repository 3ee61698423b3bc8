"""What a server runs beside its routes: the engine as a worker, and its batches.

The engine runs as ``client.run_worker()`` does for ``soravideo worker``: it claims jobs
from the ledger with a lease, so several servers (and workers) on one PostgreSQL ledger
share the work, and a server started after one died takes over the jobs it left in
flight once their leases expire. Batches are processed here as
``client.batches.process_batch`` does (their concurrency, then their final status):
the ones this server creates at once, and every unfinished one it finds in the ledger at
start and every ``RESCAN_SECONDS`` after, since the server that created it may be gone.
"""

from __future__ import annotations

import logging

import anyio
import anyio.abc

from .._api.client import AsyncSoraVideo
from .._core.errors import SoraVideoError

__all__ = ["RESCAN_SECONDS", "Background"]

RESCAN_SECONDS = 60.0
_PAGE = 1000

logger = logging.getLogger("soravideo")


class Background:
    """The worker and the batch processors of one server, in one task group."""

    def __init__(self, client: AsyncSoraVideo) -> None:
        self._client = client
        self._tg: anyio.abc.TaskGroup | None = None
        self._processing: set[str] = set()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the worker and the batches until cancelled (then the leases are given back)."""
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._client.run_worker)
                tg.start_soon(self._rescan)
                task_status.started()
        finally:
            self._tg = None

    def process(self, batch_id: str) -> None:
        """See a batch through in the background, unless this server already does."""
        if self._tg is None or batch_id in self._processing:
            return
        self._processing.add(batch_id)
        self._tg.start_soon(self._process, batch_id)

    async def _process(self, batch_id: str) -> None:
        try:
            await self._client.batches.process_batch(batch_id)
        except SoraVideoError as exc:
            # The next rescan tries again (a ledger that was down, say).
            logger.warning("batch %s: %s", batch_id, exc)
        finally:
            self._processing.discard(batch_id)

    async def _rescan(self) -> None:
        while True:
            try:
                page = 1
                while True:
                    got = await self._client.batches.list_batches(page=page, limit=_PAGE)
                    for batch in got.items:
                        if not batch.status.is_terminal:
                            self.process(batch.id)
                    if not got.has_next:
                        break
                    page += 1
            except SoraVideoError as exc:
                logger.warning("looking for unfinished batches: %s", exc)
            await anyio.sleep(RESCAN_SECONDS)
