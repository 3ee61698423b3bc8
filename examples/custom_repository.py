"""A custom ledger plugin: jobs kept in one JSON file, checked by the repository contract.

A ledger is any object with the async methods of
``soravideo.repositories.JobRepository``. This one keeps the rules (compare-and-set,
leases, held batches, pages) by delegating to the in-memory ledger, and writes a snapshot
of every job and batch to a JSON file after each change, atomically. It suits one process
and small ledgers; leases are not saved (after a restart nobody holds anything, which is
right for one process). ``tests/examples/test_plugin_contracts.py`` runs soravideo's
exported contract suite on it.

Run it from the repository root: ``python examples/custom_repository.py``. The ledger is
``demo-output/custom-repository/ledger.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

import soravideo as sv
from soravideo.repositories import JobRepository, MemoryRepository

OUT = Path("demo-output/custom-repository")


# --8<-- [start:repository]
class JSONFileRepository:
    """Keep jobs and batches in one JSON file (one process, small ledgers)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._memory = MemoryRepository()  # the rules live here
        self._lock: anyio.Lock | None = None

    async def open(self) -> None:
        if self._lock is not None:
            return  # idempotent
        self._lock = anyio.Lock()
        if not self.path.exists():
            return
        data = json.loads(self.path.read_text("utf-8"))
        jobs = [sv.converter.structure(job, sv.Job) for job in data["jobs"]]
        for raw in data["batches"]:
            batch = sv.converter.structure(raw, sv.Batch)
            await self._memory.add_jobs([j for j in jobs if j.batch_id == batch.id], batch=batch)
        await self._memory.add_jobs([j for j in jobs if j.batch_id is None])

    async def _save(self) -> None:
        """Write every job and batch to the file: a temporary file, then a rename."""
        assert self._lock is not None, "open() first"
        async with self._lock:
            jobs = await _all(self._memory.list_jobs)
            batches = await _all(self._memory.list_batches)
            text = json.dumps(
                {
                    "jobs": sv.converter.unstructure(jobs),
                    "batches": sv.converter.unstructure(batches),
                }
            )
            # A small file: written in place. (Slow I/O would go to a worker thread.)
            _write_atomically(self.path, text)

    # Writes: delegate, then save.
    async def add_jobs(self, jobs: Sequence[sv.Job], *, batch: sv.Batch | None = None) -> None:
        await self._memory.add_jobs(jobs, batch=batch)
        await self._save()

    async def update_job(
        self, job: sv.Job, *, expected_status: sv.JobStatus, lease_owner: str | None = None
    ) -> sv.Job:
        stored = await self._memory.update_job(
            job, expected_status=expected_status, lease_owner=lease_owner
        )
        await self._save()
        return stored

    async def update_batch(self, batch: sv.Batch, *, expected_status: sv.BatchStatus) -> sv.Batch:
        stored = await self._memory.update_batch(batch, expected_status=expected_status)
        await self._save()
        return stored

    # Leases live in memory only.
    async def claim_jobs(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        now: datetime,
        batch_id: str | None = None,
        job_ids: Sequence[str] | None = None,
    ) -> list[sv.Job]:
        return await self._memory.claim_jobs(
            owner,
            limit=limit,
            lease_seconds=lease_seconds,
            now=now,
            batch_id=batch_id,
            job_ids=job_ids,
        )

    async def renew_lease(
        self, job_ids: Sequence[str], owner: str, *, lease_seconds: float, now: datetime
    ) -> list[str]:
        return await self._memory.renew_lease(job_ids, owner, lease_seconds=lease_seconds, now=now)

    async def release_lease(self, job_ids: Sequence[str], owner: str) -> None:
        await self._memory.release_lease(job_ids, owner)

    # Webhook deliveries seen ([W2-7]): in memory too (this ledger serves one process).
    async def record_webhook_delivery(
        self, provider: str, delivery_id: str, *, remote_id: str | None, received_at: datetime
    ) -> bool:
        return await self._memory.record_webhook_delivery(
            provider, delivery_id, remote_id=remote_id, received_at=received_at
        )

    async def forget_webhook_delivery(self, provider: str, delivery_id: str) -> None:
        await self._memory.forget_webhook_delivery(provider, delivery_id)

    # Reads.
    async def get_job(self, job_id: str) -> sv.Job:
        return await self._memory.get_job(job_id)

    async def get_jobs(self, job_ids: Sequence[str]) -> list[sv.Job]:
        return await self._memory.get_jobs(job_ids)

    async def list_jobs(
        self,
        *,
        status: sv.JobStatus | None = None,
        batch_id: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> sv.Page[sv.Job]:
        return await self._memory.list_jobs(
            status=status, batch_id=batch_id, page=page, limit=limit
        )

    async def count_jobs(self, *, batch_id: str | None = None) -> Mapping[sv.JobStatus, int]:
        return await self._memory.count_jobs(batch_id=batch_id)

    async def find_job_by_remote_id(self, provider: str, remote_id: str) -> sv.Job | None:
        return await self._memory.find_job_by_remote_id(provider, remote_id)

    async def get_batch(self, batch_id: str) -> sv.Batch:
        return await self._memory.get_batch(batch_id)

    async def get_batch_by_key(self, key: str) -> sv.Batch | None:
        return await self._memory.get_batch_by_key(key)

    async def list_batches(self, *, page: int = 1, limit: int = 20) -> sv.Page[sv.Batch]:
        return await self._memory.list_batches(page=page, limit=limit)

    async def ping(self) -> None:
        if not self.path.parent.is_dir():
            raise sv.RepositoryError(f"no folder for the ledger: {self.path.parent}")

    async def aclose(self) -> None:
        pass  # every change is already on disk


async def _all(list_page: Any) -> list[Any]:
    """Collect every item of a paged listing."""
    items: list[Any] = []
    page = 1
    while True:
        result = await list_page(page=page, limit=1000)
        items.extend(result.items)
        if not result.has_next:
            return items
        page += 1


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)  # readers see the old file or the new one, never half


# --8<-- [end:repository]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ledger = OUT / "ledger.json"
    ledger.unlink(missing_ok=True)
    assert isinstance(JSONFileRepository(ledger), JobRepository)  # the protocol's shape

    # --8<-- [start:use]
    with sv.SoraVideo.simulated(repository=JSONFileRepository(ledger)) as client:
        job = client.videos.create_video(sv.CreateVideoRequest(prompt="a kite over dunes"))
        job = client.videos.wait_for_job(job.id, timeout=600)
        print(job)

    # A new client, a new process even: the ledger is in the file.
    with sv.SoraVideo.simulated(repository=JSONFileRepository(ledger)) as client:
        print(client.videos.get_job(job.id))
    # --8<-- [end:use]
    print(f"{ledger} holds {len(json.loads(ledger.read_text())['jobs'])} job(s)")


if __name__ == "__main__":
    main()
