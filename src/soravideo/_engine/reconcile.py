"""Reconciliation: find the video an unanswered create may have made, before sending again.

A create whose answer never came (a reset connection, a process that died) may or may not
have made a video. Where the provider lists its recent jobs, the one that matches is
adopted; anything less certain is left to a re-send with the same ``Idempotency-Key`` where
the provider deduplicates creates, and fails the job elsewhere (``Submitter``).
"""

from __future__ import annotations

import logging

from .._core.errors import ProviderError
from .._core.models import Job
from ..repositories.base import JobRepository
from ..transports.base import RemoteJob, Transport
from .pacer import Pacer

__all__ = ["Reconciler"]

logger = logging.getLogger("soravideo")

# Matching an ambiguous create against the provider's recent jobs allows for clock skew.
_RECONCILE_SKEW = 5.0
# Remote ids this engine has recorded, so reconciliation never adopts one twice.
_SEEN_LIMIT = 50_000


class Reconciler:
    """Match unanswered creates with the provider's recent jobs.

    Args:
        transport: The provider.
        repository: The ledger (a video another job owns is never adopted).
        pacer: The engine's pace (listing is a request like any other).
    """

    def __init__(self, *, transport: Transport, repository: JobRepository, pacer: Pacer) -> None:
        self.transport = transport
        self.repository = repository
        self.pacer = pacer
        self._seen: dict[str, None] = {}

    def remember(self, remote_id: str) -> None:
        """Note a remote id this engine recorded for a job: never adopted for another one."""
        self._seen[remote_id] = None
        if len(self._seen) > _SEEN_LIMIT:
            self._seen.pop(next(iter(self._seen)))

    def seen(self, remote_id: str) -> bool:
        """Whether this engine recorded the remote id for a job (recently)."""
        return remote_id in self._seen

    async def reconcile(self, job: Job, *, oldest_of_several: bool = True) -> RemoteJob | None:
        """Find the remote job an earlier, unanswered create may have made.

        Adopts a remote job only when exactly one recent remote job matches this job's
        request (the transport's ``describes``, else the prompt), was created after the
        job's first attempt (``started_at``, less a small clock skew) and belongs to no
        other job in the ledger (any process's, not only this engine's); anything less
        certain falls back to re-sending the create with the same ``Idempotency-Key``, which
        a provider that honours keys answers with the original video instead of a second one.

        Where the provider does not deduplicate creates (``idempotent_creates`` false), no
        re-send is safe, so several matching videos (jobs of one request, each sent with its
        answer lost) are not left unowned: the oldest is adopted. The ledger lets a video
        belong to one job only, so the next such job adopts the next one. Not for a request
        with an image: a list does not show it, so alike videos may be of other images.

        Args:
            job: A processing job without a remote id.
            oldest_of_several: Adopt the oldest of several matches where creates are not
                deduplicated (the create's own retry); ``False`` for a cancel, which stops
                what it finds and so must find a video certainly the job's own, never an
                alike job's whose answer is still on its way.

        Returns:
            The remote job to adopt, or ``None``.

        Raises:
            RepositoryError: The ledger could not be asked who owns a candidate.
        """
        if not self.transport.capabilities.can_list or job.started_at is None:
            # Without the time of the first attempt, no remote job can be proven to be ours.
            return None
        started = job.started_at.timestamp()
        try:
            recent = await self.pacer.call(self.transport.list_recent, limit=100)
        except ProviderError as exc:
            logger.warning("job %s: could not list remote jobs to reconcile: %s", job.id, exc)
            return None
        candidates = [
            remote
            for remote in recent
            if not self.seen(remote.remote_id)
            and self.describes(remote, job)
            and remote.created_at is not None
            and remote.created_at.timestamp() >= started - _RECONCILE_SKEW
        ]
        # Another process's job may own one (a second client on the same ledger).
        unowned = []
        for remote in candidates:
            owner = await self.repository.find_job_by_remote_id(job.provider, remote.remote_id)
            if owner is None or owner.id == job.id:
                unowned.append(remote)
        candidates = unowned
        if not candidates:
            return None
        if len(candidates) > 1:
            if self.transport.capabilities.idempotent_creates or not oldest_of_several:
                return None  # the re-send with the same key is answered with the original
            if job.request.input_reference is not None:
                return None  # a list shows no image: alike videos may be of other images
            candidates.sort(key=lambda remote: (remote.created_at, remote.remote_id))
            logger.info(
                "job %s: %d recent remote jobs match its request and none is recorded; "
                "adopting the oldest",
                job.id,
                len(candidates),
            )
        logger.info("job %s: reconciled with remote job %s", job.id, candidates[0].remote_id)
        return candidates[0]

    def describes(self, remote: RemoteJob, job: Job) -> bool:
        """Whether a listed remote job is what this job's create would have made."""
        describes = getattr(self.transport, "describes", None)
        if describes is not None:
            return bool(describes(remote, job.request))
        return bool(remote.raw.get("prompt") == job.request.prompt)
