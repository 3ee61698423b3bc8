"""The PostgreSQL ledger: many processes on many machines share one set of jobs.

psycopg 3 (async) and psycopg-pool are an optional extra, imported when a
[`PostgresRepository`][soravideo.repositories.postgres.PostgresRepository] is created, never when
``soravideo`` is imported.

Workers claim jobs with one ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`` statement
that stamps a lease (owner, expiry); every later write is a compare-and-set on the job's id, its
expected status and (when given) the lease owner. The queries live in ``sql/postgres.sql``; schema
migrations are applied on
[`PostgresRepository.open`][soravideo.repositories.postgres.PostgresRepository.open] under an
advisory lock, so processes that start together migrate once.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import TYPE_CHECKING, Any

import anyio

from .._core.converter import dumps, loads
from .._core.errors import (
    BatchNotFoundError,
    ConflictError,
    JobNotFoundError,
    NotFoundError,
    RepositoryError,
)
from .._core.models import Batch, BatchStatus, Job, JobStatus, Page
from .._core.redact import redact_text, scrub_exception, secrets_in
from ._common import (
    DELIVERY_RETENTION,
    PRUNE_BATCH,
    already_stored,
    batch_data,
    batch_status_conflict,
    check_lease_seconds,
    check_new,
    check_page,
    check_update,
    counts_by_status,
    first_remote_id_conflict,
    given_twice,
    key_taken,
    listing_suffix,
    nothing_to_claim,
    remote_id_taken,
    update_outcomes,
    with_progress,
)
from ._queries import load_queries, migrations
from .base import JobRepository, JobUpdate, SupportsUpdateJobs

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresRepository"]

_EXTRA_HINT = (
    "PostgresRepository needs psycopg 3 and psycopg-pool: pip install 'soravideo[postgres]'"
)


def _import_driver() -> tuple[ModuleType, ModuleType]:
    try:
        return importlib.import_module("psycopg"), importlib.import_module("psycopg_pool")
    except ImportError as exc:
        raise ImportError(_EXTRA_HINT) from exc


def _forget_connection(error: BaseException) -> None:
    # A failed connection attempt's psycopg error keeps the libpq connection, whose
    # ``password`` (and repr) show the DSN's password in clear: drop it, as psycopg's own
    # pickling does.
    if getattr(error, "pgconn", None) is not None:
        error._pgconn = None  # type: ignore[attr-defined]


def _utc(value: datetime) -> datetime:
    # Naive datetimes mean UTC everywhere in soravideo (as in the converter).
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _lease_expiry(now: datetime, lease_seconds: float) -> datetime:
    try:
        return _utc(now) + timedelta(seconds=lease_seconds)
    except OverflowError:
        # Beyond year 9999 a lease may as well never expire.
        return datetime.max.replace(tzinfo=timezone.utc)


class PostgresRepository(JobRepository, SupportsUpdateJobs):
    """Keep jobs in PostgreSQL, shared safely by many workers on many machines.

    Args:
        dsn: A libpq connection string or URL (``postgresql://user@host/db``). Its
            password is never shown: not in the repr, not in any error.
        min_size: Connections the pool keeps open.
        max_size: Most connections the pool opens.
        timeout: Seconds to wait for a free connection (or to connect) before failing.
        connect_kwargs: Extra keyword arguments for ``psycopg.AsyncConnection.connect``
            (say ``{"prepare_threshold": None}`` behind a PgBouncer older than 1.21 in
            transaction mode).

    Raises:
        ImportError: psycopg or psycopg-pool is missing (``pip install 'soravideo[postgres]'``).

    Example::

        async with PostgresRepository("postgresql://soravideo@db/ledger") as repository:
            page = await repository.list_jobs(status=JobStatus.PENDING)
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        connect_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._psycopg, self._psycopg_pool = _import_driver()
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ValueError(
                f"need 0 <= min_size <= max_size and max_size >= 1, got {min_size}, {max_size}"
            )
        self._dsn = dsn
        # The DSN's password (and any credential in it), hidden from every error.
        self._secrets = secrets_in(dsn)
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._connect_kwargs = dict(connect_kwargs or {})
        self._queries = load_queries("postgres.sql")
        self._pool: AsyncConnectionPool | None = None
        self._closed = False
        self._open_lock = anyio.Lock()

    def __repr__(self) -> str:
        # The DSN may hold a password: show only that it is PostgreSQL, and the pool size.
        state = "closed" if self._closed else "open" if self._pool is not None else "new"
        return f"PostgresRepository(max_size={self._max_size}, {state})"

    # -- connections ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and apply schema migrations. Idempotent.

        Raises:
            RepositoryError: the server cannot be reached, or its schema is newer than this code.
        """
        async with self._open_lock:
            if self._pool is not None:
                return
            if self._closed:
                raise RepositoryError("the repository is closed")
            kwargs = {"autocommit": True, **self._connect_kwargs}
            # One direct connection first: a bad DSN or a refused connection fails at once,
            # with the server's reason, instead of after the pool's timeout.
            try:
                conn = await self._psycopg.AsyncConnection.connect(self._dsn, **kwargs)
                try:
                    await self._migrate(conn)
                finally:
                    await conn.close()
            except self._psycopg.Error as exc:
                raise self._failure("cannot open the PostgreSQL ledger", exc) from exc
            pool = self._psycopg_pool.AsyncConnectionPool(
                self._dsn,
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._timeout,
                kwargs=kwargs,
                open=False,
                name="soravideo",
            )
            await pool.open(wait=False)
            self._pool = pool

    def _failure(self, what: str, error: BaseException) -> RepositoryError:
        """The error for a driver failure (raise it ``from error``), with no secret of the DSN.

        ``error`` and its chain are scrubbed in place (messages, the failed connection), so
        nothing reachable from the RepositoryError shows the password.
        """
        scrub_exception(error, self._secrets, _forget_connection)
        return RepositoryError(redact_text(f"{what}: {error}", self._secrets))

    async def _migrate(self, conn: AsyncConnection[Any]) -> None:
        steps = migrations(self._queries)
        latest = steps[-1][0] if steps else 0
        async with conn.transaction():
            await conn.execute(self._queries["lock_migrations"])
            await conn.execute(self._queries["create_version_table"])
            current = await self._scalar(conn, "schema_version")
            if current > latest:
                raise RepositoryError(
                    f"the ledger's schema is version {current}, newer than this soravideo "
                    f"knows ({latest}): upgrade soravideo"
                )
            for version, sql in steps:
                if version > current:
                    await conn.execute(sql)
                    await conn.execute(self._queries["record_version"], {"version": version})

    async def schema_version(self) -> int:
        """Return the version of the ledger's schema (the last migration applied).

        Returns:
            The version number; 0 before any migration.
        """
        async with self._connection() as conn:
            return await self._scalar(conn, "schema_version")

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        if self._pool is None:
            raise RepositoryError(
                "the repository is closed" if self._closed else "the repository is not open"
            )
        try:
            async with self._pool.connection() as conn:
                yield conn
        except self._psycopg.Error as exc:
            raise self._failure("PostgreSQL ledger", exc) from exc

    async def _scalar(
        self, conn: AsyncConnection[Any], name: str, params: Mapping[str, Any] | None = None
    ) -> int:
        cur = await conn.execute(self._queries[name], params)
        row = await cur.fetchone()
        return int(row[0]) if row is not None else 0

    async def _remote_owner(self, conn: AsyncConnection[Any], job: Job) -> str | None:
        params = {"provider": job.provider, "remote_id": job.remote_id}
        cur = await conn.execute(self._queries["find_job_by_remote_id"], params)
        row = await cur.fetchone()
        return str(row[0]) if row is not None else None

    async def _key_owner(self, conn: AsyncConnection[Any], key: str | None) -> str | None:
        cur = await conn.execute(self._queries["get_batch_by_key"], {"key": key})
        row = await cur.fetchone()
        return str(row[0]) if row is not None else None

    async def _remote_id_conflict(
        self, conn: AsyncConnection[Any], jobs: Sequence[Job]
    ) -> ConflictError:
        """Name the first job whose remote video is taken, by the ledger or by a job before it."""
        owners: dict[tuple[str, str], str] = {}
        for job in jobs:
            if job.remote_id is not None and (owner := await self._remote_owner(conn, job)):
                owners[(job.provider, job.remote_id)] = owner
        return first_remote_id_conflict(jobs, owners)

    async def ping(self) -> None:
        """Make one round trip to the server.

        Raises:
            RepositoryError: the server cannot be reached.
        """
        async with self._connection() as conn:
            await conn.execute(self._queries["ping"])

    async def aclose(self) -> None:
        """Close every pooled connection. Idempotent."""
        async with self._open_lock:
            pool, self._pool = self._pool, None
            self._closed = True
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> PostgresRepository:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- jobs ------------------------------------------------------------------------------

    async def add_jobs(self, jobs: Sequence[Job], *, batch: Batch | None = None) -> None:
        check_new(jobs, batch)
        jobs = list(jobs)
        ids = [job.id for job in jobs]
        duplicate = given_twice(ids)
        if duplicate is not None:
            raise duplicate
        given = {batch.id} if batch is not None else set()
        referenced = sorted({job.batch_id for job in jobs if job.batch_id is not None} - given)
        rows = {
            "ids": ids,
            "statuses": [job.status.value for job in jobs],
            "ranks": [job.priority.rank for job in jobs],
            "batch_ids": [job.batch_id for job in jobs],
            "created_ats": [_utc(job.created_at) for job in jobs],
            "updated_ats": [_utc(job.updated_at) for job in jobs],
            "providers": [job.provider for job in jobs],
            "remote_ids": [job.remote_id for job in jobs],
            "datas": [dumps(job) for job in jobs],
        }
        errors = self._psycopg.errors
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    if batch is not None:
                        await conn.execute(self._queries["insert_batch"], _batch_params(batch))
                    if referenced:
                        cur = await conn.execute(
                            self._queries["existing_batch_ids"], {"ids": referenced}
                        )
                        found = {batch_id for (batch_id,) in await cur.fetchall()}
                        missing = [batch_id for batch_id in referenced if batch_id not in found]
                        if missing:
                            raise BatchNotFoundError(missing[0])
                    if jobs:
                        await conn.execute(self._queries["insert_jobs"], rows)
            except errors.UniqueViolation as exc:
                constraint = exc.diag.constraint_name
                if batch is not None and constraint == "soravideo_batches_key":
                    raise key_taken(batch, await self._key_owner(conn, batch.key)) from exc
                if constraint == "soravideo_jobs_remote":
                    raise await self._remote_id_conflict(conn, jobs) from exc
                if batch is not None and constraint == "soravideo_batches_pkey":
                    raise already_stored("batch", batch.id) from exc
                job_id = _key_in(exc) or ids[0]
                raise already_stored("job", job_id) from exc
            except errors.ForeignKeyViolation as exc:
                # Only a batch created by another process could vanish; none is ever deleted.
                raise BatchNotFoundError(_key_in(exc) or "") from exc

    async def get_job(self, job_id: str) -> Job:
        async with self._connection() as conn:
            cur = await conn.execute(self._queries["get_job"], {"id": job_id})
            row = await cur.fetchone()
        if row is None:
            raise JobNotFoundError(job_id)
        return loads(row[0], Job)

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        if not job_ids:
            return []
        async with self._connection() as conn:
            cur = await conn.execute(self._queries["get_jobs"], {"ids": list(job_ids)})
            found = {job_id: data for job_id, data in await cur.fetchall()}
        return [loads(found[job_id], Job) for job_id in job_ids if job_id in found]

    async def update_job(
        self, job: Job, *, expected_status: JobStatus, lease_owner: str | None = None
    ) -> Job:
        params = _update_params(
            JobUpdate(job=job, expected_status=expected_status, lease_owner=lease_owner)
        )
        async with self._connection() as conn:
            try:
                cur = await conn.execute(self._queries["update_job"], params)
            except self._psycopg.errors.ForeignKeyViolation as exc:
                raise BatchNotFoundError(job.batch_id or "") from exc
            except self._psycopg.errors.UniqueViolation as exc:
                raise remote_id_taken(job, await self._remote_owner(conn, job)) from exc
            if cur.rowcount == 1:
                return job
            cur = await conn.execute(self._queries["job_state"], {"id": job.id})
            state = await cur.fetchone()
        actual = (JobStatus(state[0]), state[1]) if state is not None else None
        check_update(job, expected_status=expected_status, lease_owner=lease_owner, actual=actual)
        # The row changed between the write and the read: the write still lost the race.
        raise ConflictError(job.id, message=f"job {job.id!r} changed while it was being updated")

    async def update_jobs(
        self, updates: Sequence[JobUpdate]
    ) -> list[Job | ConflictError | NotFoundError]:
        updates = list(updates)
        if not updates:
            return []
        params = [_update_params(update) for update in updates]
        errors = self._psycopg.errors
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    # Lock the rows first, in id order (two batches never deadlock), and read
                    # their states: each statement then finds its row as read here, changed
                    # only by the statements before it (update_outcomes tells the refusals).
                    cur = await conn.execute(
                        self._queries["lock_jobs"], {"ids": sorted({p["id"] for p in params})}
                    )
                    states = {
                        job_id: (JobStatus(status), owner)
                        for job_id, status, owner in await cur.fetchall()
                    }
                    # One pipeline: the statements go out together, one result each.
                    cur = conn.cursor()
                    await cur.executemany(self._queries["update_job"], params, returning=True)
                    written = [cur.rowcount == 1]
                    while cur.nextset():
                        written.append(cur.rowcount == 1)
            except (errors.UniqueViolation, errors.ForeignKeyViolation):
                pass  # one of them was refused, which ended the transaction: see below
            else:
                return update_outcomes(updates, states, written)
        # A remote id or a batch refused one update, and PostgreSQL ends a transaction at its
        # first error: nothing was written. Each alone then, to tell which (rare: a bug or race).
        outcomes: list[Job | ConflictError | NotFoundError] = []
        for update in updates:
            try:
                outcomes.append(
                    await self.update_job(
                        update.job,
                        expected_status=update.expected_status,
                        lease_owner=update.lease_owner,
                    )
                )
            except (ConflictError, NotFoundError) as exc:
                outcomes.append(exc)
        return outcomes

    async def find_job_by_remote_id(self, provider: str, remote_id: str) -> Job | None:
        params = {"provider": provider, "remote_id": remote_id}
        async with self._connection() as conn:
            cur = await conn.execute(self._queries["find_job_by_remote_id"], params)
            row = await cur.fetchone()
        return loads(row[1], Job) if row is not None else None

    async def record_webhook_delivery(
        self, provider: str, delivery_id: str, *, remote_id: str | None, received_at: datetime
    ) -> bool:
        params = {
            "provider": provider,
            "delivery_id": delivery_id,
            "remote_id": remote_id,
            "received_at": _utc(received_at),
        }
        old = {"before": _utc(received_at - DELIVERY_RETENTION), "limit": PRUNE_BATCH}
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(self._queries["record_webhook_delivery"], params)
            recorded = await cur.fetchone() is not None
            if recorded:
                await conn.execute(self._queries["prune_webhook_deliveries"], old)
            return recorded

    async def forget_webhook_delivery(self, provider: str, delivery_id: str) -> None:
        params = {"provider": provider, "delivery_id": delivery_id}
        async with self._connection() as conn:
            await conn.execute(self._queries["forget_webhook_delivery"], params)

    async def claim_jobs(
        self,
        owner: str,
        *,
        limit: int,
        lease_seconds: float,
        now: datetime,
        batch_id: str | None = None,
        job_ids: Sequence[str] | None = None,
    ) -> list[Job]:
        if nothing_to_claim(limit, lease_seconds, job_ids):
            return []
        now = _utc(now)
        params: dict[str, Any] = {
            "owner": owner,
            "now": now,
            "expires_at": _lease_expiry(now, lease_seconds),
            "limit": limit,
            "batch_id": batch_id,
        }
        if job_ids is not None:
            name = "claim_jobs_by_id"
            params["ids"] = list(job_ids)
        elif batch_id is not None:
            name = "claim_batch_jobs"
        else:
            name = "claim_jobs"
        async with self._connection() as conn:
            cur = await conn.execute(self._queries[name], params)
            rows = await cur.fetchall()
        # RETURNING does not keep the subquery's order: restore it.
        jobs = [loads(data, Job) for (data,) in rows]
        jobs.sort(key=lambda j: (-j.priority.rank, _utc(j.created_at), j.id))
        return jobs

    async def renew_lease(
        self, job_ids: Sequence[str], owner: str, *, lease_seconds: float, now: datetime
    ) -> list[str]:
        check_lease_seconds(lease_seconds)
        if not job_ids:
            return []
        params = {
            "ids": list(job_ids),
            "owner": owner,
            "expires_at": _lease_expiry(now, lease_seconds),
        }
        async with self._connection() as conn:
            cur = await conn.execute(self._queries["renew_lease"], params)
            held = {job_id for (job_id,) in await cur.fetchall()}
        return [job_id for job_id in job_ids if job_id in held]

    async def release_lease(self, job_ids: Sequence[str], owner: str) -> None:
        if not job_ids:
            return
        async with self._connection() as conn:
            await conn.execute(
                self._queries["release_lease"], {"ids": list(job_ids), "owner": owner}
            )

    async def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        batch_id: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> Page[Job]:
        params: dict[str, Any] = {
            "limit": limit,
            "offset": check_page(page, limit),
            "status": JobStatus(status).value if status is not None else None,
            "batch_id": batch_id,
        }
        suffix = listing_suffix(status, batch_id)
        async with self._connection() as conn:
            cur = await conn.execute(self._queries[f"list_jobs{suffix}"], params)
            rows = await cur.fetchall()
        total = int(rows[0][0])
        items = [loads(data, Job) for _, data in rows if data is not None]
        return Page.build(items, page=page, limit=limit, total=total)

    async def count_jobs(self, *, batch_id: str | None = None) -> Mapping[JobStatus, int]:
        async with self._connection() as conn:
            if batch_id is None:
                cur = await conn.execute(self._queries["group_jobs_by_status"])
            else:
                cur = await conn.execute(
                    self._queries["group_batch_jobs_by_status"], {"batch_id": batch_id}
                )
            rows = await cur.fetchall()
        return counts_by_status(rows)

    # -- batches ---------------------------------------------------------------------------

    async def get_batch(self, batch_id: str) -> Batch:
        async with self._connection() as conn:
            cur = await conn.execute(self._queries["get_batch"], {"id": batch_id})
            rows = await cur.fetchall()
        if not rows:
            raise BatchNotFoundError(batch_id)
        return with_progress(rows[0][0], ((s, n) for _, s, n in rows))

    async def get_batch_by_key(self, key: str) -> Batch | None:
        async with self._connection() as conn:
            cur = await conn.execute(self._queries["get_batch_by_key"], {"key": key})
            rows = await cur.fetchall()
        if not rows:
            return None
        return with_progress(rows[0][1], ((s, n) for _, _, s, n in rows))

    async def update_batch(self, batch: Batch, *, expected_status: BatchStatus) -> Batch:
        expected = BatchStatus(expected_status).value
        params = {**_batch_params(batch), "expected": expected}
        async with self._connection() as conn:
            try:
                cur = await conn.execute(self._queries["update_batch"], params)
            except self._psycopg.errors.UniqueViolation as exc:
                raise key_taken(batch, await self._key_owner(conn, batch.key)) from exc
            rows = await cur.fetchall()
            if rows:
                return with_progress(rows[0][0], ((s, n) for _, s, n in rows))
            cur = await conn.execute(self._queries["batch_status"], {"id": batch.id})
            state = await cur.fetchone()
        if state is None:
            raise BatchNotFoundError(batch.id)
        raise batch_status_conflict(batch, expected, state[0])

    async def list_batches(self, *, page: int = 1, limit: int = 20) -> Page[Batch]:
        params = {"limit": limit, "offset": check_page(page, limit)}
        async with self._connection() as conn:
            cur = await conn.execute(self._queries["list_batches"], params)
            rows = await cur.fetchall()
        grouped: dict[str, tuple[str, list[tuple[str | None, int | None]]]] = {}
        for _, batch_id, data, status, n in rows:
            if batch_id is not None:
                grouped.setdefault(batch_id, (data, []))[1].append((status, n))
        items = [with_progress(data, counts) for data, counts in grouped.values()]
        return Page.build(items, page=page, limit=limit, total=int(rows[0][0]))


def _update_params(update: JobUpdate) -> dict[str, Any]:
    job = update.job
    return {
        "id": job.id,
        "status": job.status.value,
        "rank": job.priority.rank,
        "batch_id": job.batch_id,
        "created_at": _utc(job.created_at),
        "updated_at": _utc(job.updated_at),
        "provider": job.provider,
        "remote_id": job.remote_id,
        "data": dumps(job),
        "expected": JobStatus(update.expected_status).value,
        "owner": update.lease_owner,
        "terminal": job.status.is_terminal,
    }


def _batch_params(batch: Batch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "status": BatchStatus(batch.status).value,
        "created_at": _utc(batch.created_at),
        "updated_at": _utc(batch.updated_at),
        "key": batch.key,
        "data": batch_data(batch),
    }


def _key_in(exc: Exception) -> str | None:
    # A constraint violation's detail reads: Key (id)=(job-1) already exists.
    detail = getattr(getattr(exc, "diag", None), "message_detail", None) or ""
    start, end = detail.find("=("), detail.rfind(")")
    return detail[start + 2 : end] if 0 <= start < end else None
