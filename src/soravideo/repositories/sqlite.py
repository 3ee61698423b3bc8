"""The SQLite ledger: durable and embedded, shared by the processes of one machine.

The stdlib ``sqlite3`` driver blocks, so each repository owns one connection thread that owns
one connection, where work that may wait runs (for another process's write lock, up to the
busy timeout) and the event loop only waits. Writes that read before they write (claims,
lease renewals, adding a batch) run in ``BEGIN IMMEDIATE`` transactions, which take SQLite's
one write lock up front, so two processes sharing the file never hand out the same job. The
queries live in ``sql/sqlite.sql``; schema migrations run when the repository is first used.

Each trip to the connection thread costs more than most statements ([W2-4]). So short work
(a job's writes and reads, its lease) runs on the caller's own thread, on a second connection
that never waits for a lock: work that meets one wrote nothing and goes to the thread (see
``_Beside``). The trips that remain are shared: the thread hands its answers back to the
event loop in groups (one wake-up of the loop for every answer that arrives before the loop
gets to them), and the reads of ``get_job`` and ``get_jobs`` that arrive while one runs go
together in the next statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import anyio
import anyio.lowlevel
import anyio.to_thread

from .._core.clock import off_loop_work
from .._core.converter import dumps, loads
from .._core.errors import (
    BatchNotFoundError,
    ConflictError,
    JobNotFoundError,
    NotFoundError,
    RepositoryError,
)
from .._core.gather import Gather
from .._core.models import Batch, BatchStatus, Job, JobStatus, Page
from .._core.redact import redact_text, redact_url, scrub_exception, secrets_in
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
    lease_expiry_us,
    listing_suffix,
    micros,
    nothing_to_claim,
    remote_id_taken,
    with_progress,
)
from ._queries import load_queries, migrations
from .base import JobRepository, JobUpdate, SupportsAddClaimed, SupportsUpdateJobs

__all__ = ["SQLiteRepository"]

T = TypeVar("T")
_Work = Callable[[sqlite3.Connection], T]


def _queries() -> Mapping[str, str]:
    return load_queries("sqlite.sql")


def _statements(sql: str) -> list[str]:
    """Split a block of several statements (migrations, pragmas) into single statements."""
    statements: list[str] = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if any(line.strip() and not line.strip().startswith("--") for line in pending.splitlines()):
        statements.append(pending.strip())
    return statements


def _ids_param(ids: Sequence[str]) -> str:
    # One JSON array, unpacked by json_each(): any number of ids in one parameter.
    return json.dumps(list(ids))


def _job_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status.value,
        "priority_rank": job.priority.rank,
        "batch_id": job.batch_id,
        "created_us": micros(job.created_at),
        "updated_us": micros(job.updated_at),
        "provider": job.provider,
        "remote_id": job.remote_id,
        "data": dumps(job),
    }


def _batch_row(batch: Batch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "status": BatchStatus(batch.status).value,
        "created_us": micros(batch.created_at),
        "updated_us": micros(batch.updated_at),
        "key": batch.key,
        "data": batch_data(batch),
    }


def _violates(exc: sqlite3.IntegrityError, columns: str) -> bool:
    # SQLite names the columns of the unique index a row broke: "UNIQUE constraint failed:
    # jobs.provider, jobs.remote_id". (No error code tells the indexes of one table apart.)
    return str(exc).startswith("UNIQUE constraint failed") and str(exc).endswith(columns)


def _remote_owner(conn: sqlite3.Connection, job: Job) -> str | None:
    params = {"provider": job.provider, "remote_id": job.remote_id}
    row = conn.execute(_queries()["find_job_by_remote_id"], params).fetchone()
    return str(row[0]) if row else None


def _key_owner(conn: sqlite3.Connection, key: str | None) -> str | None:
    row = conn.execute(_queries()["get_batch_by_key"], {"key": key}).fetchone()
    return str(row[0]) if row else None


def _remote_id_conflict(conn: sqlite3.Connection, jobs: Sequence[Job]) -> ConflictError:
    """Name the first job whose remote video is taken, by the ledger or by a job before it."""
    owners = {
        (job.provider, job.remote_id): owner
        for job in jobs
        if job.remote_id is not None and (owner := _remote_owner(conn, job)) is not None
    }
    return first_remote_id_conflict(jobs, owners)


def _update_params(update: JobUpdate) -> dict[str, Any]:
    job = update.job
    return {
        **_job_row(job),
        "expected": JobStatus(update.expected_status).value,
        "lease_owner": update.lease_owner,
        "terminal": job.status.is_terminal,
    }


def _insert_one(conn: sqlite3.Connection, job: Job, row: Mapping[str, Any]) -> None:
    """INSERT one job alone: one statement is a transaction of its own, committed before it
    returns (no BEGIN, no COMMIT, [W2-4]). A taken id or remote id is raised as
    ``add_jobs`` raises it."""
    try:
        conn.execute(_queries()["insert_job"], row)
    except sqlite3.IntegrityError as exc:
        if _violates(exc, "jobs.remote_id"):
            raise _remote_id_conflict(conn, [job]) from exc
        raise already_stored("job", job.id) from exc


def _update(conn: sqlite3.Connection, update: JobUpdate, params: Mapping[str, Any]) -> None:
    """Run one compare-and-set (``params`` from ``_update_params``); raise what refused it."""
    job = update.job
    q = _queries()
    try:
        # The narrowest statement first: each sets fewer columns, so fewer indexes are
        # rewritten ([W2-4]); a row it does not match gets the full update below.
        if params["status"] == params["expected"]:
            if conn.execute(q["update_job_data"], params).rowcount:
                return  # the status stays and only the data changed: no index touched
            if conn.execute(q["update_job_remote"], params).rowcount:
                return  # the status stays and the remote id changed
        elif conn.execute(q["update_job_status"], params).rowcount:
            return  # the status changed, the other indexed columns stay
        cur = conn.execute(q["update_job"], params)
    except sqlite3.IntegrityError as exc:
        if _violates(exc, "jobs.remote_id"):
            raise remote_id_taken(job, _remote_owner(conn, job)) from exc
        raise BatchNotFoundError(job.batch_id or "") from exc
    if cur.rowcount == 1:
        return
    row = conn.execute(q["job_state"], {"id": job.id}).fetchone()
    actual = (JobStatus(row[0]), row[1]) if row else None
    check_update(
        job,
        expected_status=update.expected_status,
        lease_owner=update.lease_owner,
        actual=actual,
    )
    # Every check passes now, so the job changed between the two statements.
    raise ConflictError(job.id, message=f"job {job.id!r} changed concurrently")


def _error(path: str, exc: BaseException) -> RepositoryError:
    # A mistyped DSN taken for a path may hold a password: neither the message nor the
    # error chained (``from exc``) shows it.
    secrets = secrets_in(path)
    scrub_exception(exc, secrets)
    return RepositoryError(redact_text(f"SQLite ledger {path}: {exc}", secrets))


def _connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """Open the file, configure the connection and migrate the schema.

    Setting up a new file takes locks SQLite does not always wait for (setting the journal
    mode; opening a WAL another process is creating): two workers started at once on a new
    ledger failed with "database is locked". A set-up refused that way is begun again, on a
    new connection, until ``busy_timeout`` has passed (nothing it did is left half-done:
    each migration is a transaction of its own).
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            return _connect_once(path, busy_timeout)
        except _Busy as busy:
            if time.monotonic() >= deadline:
                error: RepositoryError = busy.args[0]
                raise error from error.__cause__  # the SQLite error, not _Busy
            time.sleep(0.01)


def _connect_once(path: str, busy_timeout: float) -> sqlite3.Connection:
    queries = _queries()
    try:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; every one below is explicit.
        # timeout= is SQLite's busy timeout: wait that long for another writer's lock.
        conn = sqlite3.connect(
            path, timeout=busy_timeout, isolation_level=None, check_same_thread=True
        )
    except (OSError, sqlite3.Error) as exc:
        raise _error(path, exc) from exc
    try:
        _configure(conn, wal=path != ":memory:" and _journal_mode(conn) == "wal")
        _migrate(conn, queries)
    except sqlite3.Error as exc:
        conn.close()
        error = _error(path, exc)
        if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
            error.__cause__ = exc
            raise _Busy(error) from None
        raise error from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _journal_mode(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def _configure(conn: sqlite3.Connection, *, wal: bool) -> None:
    """Apply the per-connection settings of ``sql/sqlite.sql``."""
    for statement in _statements(_queries()["configure"]):
        # Setting the journal mode takes a lock SQLite does not wait for (no busy
        # timeout): "database is locked" while another process writes (``_connect`` begins
        # again). A ledger already in WAL mode (every one after its first open) skips it.
        if wal and statement.replace(" ", "").lower().startswith("pragmajournal_mode="):
            continue
        conn.execute(statement)


def _migrate(conn: sqlite3.Connection, queries: Mapping[str, str]) -> None:
    steps = migrations(queries)
    latest = steps[-1][0] if steps else 0

    def current_version() -> int:
        if not conn.execute(queries["has_version_table"]).fetchone()[0]:
            return 0
        version = int(conn.execute(queries["schema_version"]).fetchone()[0])
        if version > latest:
            raise RepositoryError(
                f"the ledger's schema is version {version}, newer than this soravideo "
                f"understands ({latest}): upgrade soravideo"
            )
        return version

    # Read first: an up-to-date file (the usual case) needs no write lock to open.
    if current_version() == latest:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(queries["create_version_table"])
        current = current_version()  # another process may have migrated meanwhile
        for version, sql in steps:
            if version > current:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(queries["record_version"], {"version": version})
        conn.execute("COMMIT")
    finally:
        if conn.in_transaction:
            conn.rollback()


class _Call(Generic[T]):
    """One piece of work for the connection thread, and how its caller learns the outcome.

    On asyncio the caller waits on a future of its own loop, completed on that loop by its
    ``_Inbox``; otherwise (trio, or ``close`` from a plain thread) on a thread-safe future.
    """

    __slots__ = ("ended", "error", "fn", "inbox", "signal", "value")

    def __init__(
        self,
        fn: Callable[[], T],
        loop: asyncio.AbstractEventLoop | None = None,
        inbox: _Inbox | None = None,
    ) -> None:
        self.fn = fn
        self.inbox = inbox
        self.signal: asyncio.Future[None] | Future[None] = (
            loop.create_future() if loop is not None else Future()
        )
        self.value: T | None = None
        self.error: BaseException | None = None
        self.ended = False

    def run(self, ended: Callable[[], None]) -> None:
        """Run the work (in the connection thread), call ``ended``, then hand the work's
        outcome back: its caller's next call sees the thread idle."""
        signal = self.signal
        # A caller that gave up before the work began (asyncio's own cancellation, which no
        # shield stops; an executor's cancelled future) is not run.
        if isinstance(signal, Future):
            if not signal.set_running_or_notify_cancel():
                self.ended = True
                ended()
                return
        elif signal.cancelled():
            self.ended = True
            ended()
            return
        try:
            self.value = self.fn()
        except BaseException as exc:  # handed to the caller, as an executor would
            self.error = exc
        self.ended = True
        ended()
        if self.inbox is not None:
            self.inbox.post(self)
        elif isinstance(signal, Future):
            signal.set_result(None)

    def outcome(self) -> T:
        """Return the work's result, or raise its error (once the signal is set)."""
        if self.error is not None:
            error, self.error = self.error, None  # no cycle through the traceback
            raise error
        return cast(T, self.value)


class _Inbox:
    """Where the connection thread hands answers back to one event loop: one wake-up of the
    loop for every answer that arrives before the loop gets to them, not one per answer."""

    __slots__ = ("answered", "lock", "loop", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weakly: the inboxes are kept by loop, and a loop that is gone leaves no inbox behind.
        self.loop = weakref.ref(loop)
        self.lock = threading.Lock()
        self.answered: list[_Call[Any]] = []
        self.scheduled = False

    def post(self, call: _Call[Any]) -> None:
        """Hand one answer back (from the connection thread)."""
        with self.lock:
            self.answered.append(call)
            if self.scheduled:
                return  # the loop has yet to run the delivery already asked for
            self.scheduled = True
        loop = self.loop()
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(self.deliver)

    def deliver(self) -> None:
        """Wake every caller answered since the last delivery (on the loop)."""
        with self.lock:
            answered, self.answered = self.answered, []
            self.scheduled = False
        for call in answered:
            signal = call.signal
            if not signal.done():
                signal.set_result(None)


async def _result(call: _Call[T]) -> T:
    """Wait for the connection thread's answer; a cancelled caller still waits for the statement to end."""
    signal = call.signal
    if isinstance(signal, Future):
        # Not asyncio (trio): park one of anyio's threads on the future.
        await anyio.to_thread.run_sync(signal.result)
        return call.outcome()
    # asyncio: the connection thread wakes the loop directly; no second thread, no thread-pool token.
    with anyio.CancelScope(shield=True):
        await signal
    await anyio.lowlevel.checkpoint_if_cancelled()
    return call.outcome()


class _ConnectionThread:
    """One thread that owns one connection, opened by the first piece of work it runs.

    Its own daemon thread, not a ``ThreadPoolExecutor``: at interpreter exit the executors
    refuse new work before ``atexit`` hooks run, so a client closed by its ``atexit`` hook
    could neither give its leases back nor close (and checkpoint) the file.
    """

    def __init__(self, path: str, busy_timeout: float) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Call[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped = False
        # Calls queued or running, and whether one of them was given up by its caller (a
        # task cancelled by asyncio itself, which no shield stops) before it ended: work
        # beside the thread waits until they have all ended (see ``SQLiteRepository._call``).
        self.pending = 0
        self.draining = False
        # Whether the file is in WAL mode, once opened: a second connection may then write
        # beside this one (see ``_Beside``).
        self.wal = False
        # The file the connection opened, as SQLite names it (absolute): the second
        # connection opens that one, even after the process changed its working directory.
        self.file = ""
        # One inbox per event loop that calls (a sync client's loop, a test's, ...).
        self._inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Inbox] = (
            weakref.WeakKeyDictionary()
        )

    def submit(self, work: _Work[T]) -> _Call[T]:
        """Queue work for the connection; called on the caller's event loop (or thread)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._put(_Call(lambda: self._run(work)))
        inbox = self._inboxes.get(loop)
        if inbox is None:
            inbox = self._inboxes[loop] = _Inbox(loop)
        return self._put(_Call(lambda: self._run(work), loop, inbox))

    def _put(self, call: _Call[T]) -> _Call[T]:
        with self._lock:
            if self._stopped:
                raise RuntimeError("the SQLite connection thread is closed")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="soravideo-sqlite", daemon=True
                )
                self._thread.start()
            self._queue.put(call)
            self.pending += 1
        return call

    def _serve(self) -> None:
        while True:
            call = self._queue.get()
            if call is None:
                return
            call.run(self._ended)
            del call  # not kept (nor its caller's loop) while the thread waits for work

    def _ended(self) -> None:
        with self._lock:
            self.pending -= 1
            if not self.pending:
                self.draining = False

    def given_up(self, call: _Call[Any]) -> None:
        """Note that ``call``'s caller stopped waiting for it (before it ended, or not)."""
        if not call.ended:
            self.drain()

    def drain(self) -> None:
        """Send all work here until every call queued here has ended (``draining``)."""
        with self._lock:
            if self.pending:
                self.draining = True

    def _run(self, work: _Work[T]) -> T:
        if self._conn is None:
            self._conn = _connect(self._path, self._busy_timeout)
            # The file first: ``wal`` tells the event loop's thread that it may be opened.
            self.file = str(self._conn.execute("PRAGMA database_list").fetchone()[2])
            self.wal = self._path != ":memory:" and _journal_mode(self._conn) == "wal"
        conn = self._conn
        try:
            return work(conn)
        except sqlite3.Error as exc:
            raise _error(self._path, exc) from exc
        finally:
            # Whatever went wrong, never leave a transaction (and its lock) behind.
            if conn.in_transaction:
                conn.rollback()

    def close(self) -> None:
        """Close the connection in its own thread, then stop the thread (blocking)."""
        with self._lock:
            thread = self._thread
            if self._stopped or thread is None:
                self._stopped = True
                return
        closed = self._put(_Call(self._close_connection))  # after the work queued
        with self._lock:
            self._stopped = True
            self._queue.put(None)
        signal = closed.signal
        assert isinstance(signal, Future)
        signal.result()
        closed.outcome()
        thread.join()

    def _close_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


# Work on at most this many jobs, ids or updates may run beside the connection thread.
_SHORT = 64
# Writes beside the connection thread between two checkpoints of the WAL by the thread (about
# SQLite's own 1,000 pages: a write beside it commits 4 to 10).
_CHECKPOINT_EVERY = 128


class _Busy(Exception):
    """Work beside the thread met another connection's lock (or found no connection): it
    wrote nothing, and goes to the connection thread. Raised by a set-up of the file that
    met one too (``_connect`` begins again), with the error to raise in the end."""


def _busy(exc: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused for another connection's lock (SQLITE_BUSY, any kind)."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11 and later
    if code is not None:
        return int(code) & 0xFF == 5  # SQLITE_BUSY
    return "database is locked" in str(exc)


# How long the thread's checkpoint waits for other connections (ms): it holds the write lock
# meanwhile, so a reader left on an old snapshot (a database browser, a backup) would
# otherwise hold every writer for the whole busy timeout, every 128 writes.
_CHECKPOINT_WAIT_MS = 50


def _checkpoint(conn: sqlite3.Connection) -> None:
    # FULL, not PASSIVE: it holds the write lock while it copies the WAL back, so work beside
    # the thread writes nothing meanwhile (it meets the lock and comes to the thread). Written
    # to meanwhile, the WAL would never be all copied back, so never start over: it grew to
    # 350 MB in a run of 5,000 jobs (6 MB with the thread's own checkpoints). It waits
    # briefly: not done this time (a reader on an old snapshot), it is done at a later one.
    (waits,) = conn.execute("PRAGMA busy_timeout").fetchone()
    conn.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_WAIT_MS}")
    try:
        conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(waits)}")


class _Beside:
    """A second connection, used on the caller's own thread for short work ([W2-4]).

    A trip to the connection thread and back costs more CPU than most statements: handing
    every statement over cost about 0.6 ms of a job's 2 ms at 1,000 jobs in flight. So work
    that is short (one statement, or one small transaction) runs here instead.

    It never waits for a lock. Its busy timeout is zero, so work that meets another
    connection's write lock (another process writing) fails at once and goes to the
    connection thread, which waits up to the repository's ``busy_timeout``. That is safe
    because only work that has written nothing when it meets a lock runs here: one
    statement; a few, where nothing runs after the one that writes (``_update``); one
    transaction begun with ``BEGIN IMMEDIATE`` (the lock is taken first, and an unfinished
    transaction is rolled back); or ``add_job_claimed``, whose lease after its INSERT
    catches its own errors (the job is then left to a claim). It never checkpoints the WAL itself (a checkpoint syncs the file, too long
    to hold a loop): every ``_CHECKPOINT_EVERY`` writes, the repository asks the thread to
    (``_checkpoint``).
    Only a file in WAL mode has it: in any other mode a reader blocks the writer.
    """

    __slots__ = ("_conn", "_file", "_path", "_writes")

    def __init__(self, path: str, file: str) -> None:
        self._path = path  # as the user gave it: for errors (a mistyped DSN is hidden there)
        self._file = file  # the connection thread's file, absolute
        self._conn: sqlite3.Connection | None = None
        self._writes = 0

    def run(self, work: _Work[T]) -> T:
        """Run ``work`` now; raise ``_Busy`` when it met a lock (it wrote nothing)."""
        conn = self._conn
        if conn is None:
            conn = self._conn = self._connect()
        changes = conn.total_changes
        try:
            value = work(conn)
        except sqlite3.OperationalError as exc:
            if _busy(exc):
                raise _Busy from None
            raise _error(self._path, exc) from exc
        except sqlite3.Error as exc:
            raise _error(self._path, exc) from exc
        finally:
            # Whatever went wrong, never leave a transaction (and its lock) behind.
            if conn.in_transaction:
                conn.rollback()
        if conn.total_changes != changes:
            self._writes += 1
        return value

    def checkpoint_due(self) -> bool:
        """Whether enough writes went to the WAL here for the thread to checkpoint it."""
        if self._writes < _CHECKPOINT_EVERY:
            return False
        self._writes = 0
        return True

    def _connect(self) -> sqlite3.Connection:
        try:
            # Any thread may use it (one at a time: the repository's lock is held).
            conn = sqlite3.connect(
                self._file, timeout=0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error:
            raise _Busy from None  # the thread opens it, or says why not
        try:
            _configure(conn, wal=True)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        except sqlite3.Error:
            conn.close()
            raise _Busy from None
        return conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()


class SQLiteRepository(JobRepository, SupportsUpdateJobs, SupportsAddClaimed):
    """Keep jobs in a SQLite file: durable, embedded, shared by the processes of one machine.

    The constructor does no I/O: the file (and its folder) is created, and the schema migrated, by
    [`open`][soravideo.repositories.SQLiteRepository.open] or by the first method called. The
    file runs in WAL mode with ``synchronous=NORMAL`` and foreign keys on.

    Statements run in a thread of the repository's own, except short ones (a job's writes and
    reads, its lease), which run on the calling thread, on a second connection that never
    waits: one that meets another process's write lock goes to the thread, which waits up to
    ``busy_timeout``. Short work takes microseconds, so the event loop is not held.

    Args:
        path: The database file. ``~`` is expanded; missing parent folders are created.
        busy_timeout: Seconds to wait for another process's write lock before failing.

    Example::

        async with SQLiteRepository("ledger.db") as repository:
            page = await repository.list_jobs(status=JobStatus.PENDING)

    Examples:
        ```python
        from soravideo.repositories import SQLiteRepository

        ledger = SQLiteRepository("jobs.db")  # one file, shared by the processes of one machine
        async with sv.AsyncSoraVideo.simulated(repository=ledger) as client:
            job = await client.videos.create_video(sv.CreateVideoRequest(prompt="A lighthouse"))
            job = await client.videos.wait_for_job(job.id)
            print(job.status)  # completed, and recorded in jobs.db
        ```
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0) -> None:
        text = os.fspath(path)
        self._path = text if text == ":memory:" else str(Path(text).expanduser())
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._thread: _ConnectionThread | None = None
        self._beside: _Beside | None = None
        self._closed = False
        # Reads that arrive while one runs go together in the next statement ([W2-4]).
        self._reads: Gather[str, Job | None] = Gather(self._read_jobs)

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._thread is not None else "new"
        return f"SQLiteRepository({redact_url(self._path)!r}, {state})"

    async def __aenter__(self) -> SQLiteRepository:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _call(self, work: _Work[T], *, short: bool = False) -> T:
        """Run ``work`` on a connection: in the connection thread, or for ``short`` work
        (one statement, or a transaction begun with ``BEGIN IMMEDIATE``, on a few jobs) here,
        beside it (see ``_Beside``)."""
        with self._lock:
            if self._closed:
                raise RepositoryError(
                    f"SQLite ledger {redact_url(self._path)}: the repository is closed"
                )
            thread = self._thread
            if thread is None:
                thread = self._thread = _ConnectionThread(self._path, self._busy_timeout)
            # Beside the thread, even while it works: each call there has a caller waiting
            # for it, who makes no other call meanwhile (a ``Gather``'s callers wait for the
            # call that carries their items too), so work here overtakes no work of the same
            # caller; unless a caller gave one up before it ended (``draining``). Under the
            # lock, so aclose() waits for work here.
            beside: _Beside | None = None
            if short and thread.wal and not thread.draining:
                beside = self._beside
                if beside is None:
                    beside = self._beside = _Beside(self._path, thread.file)
            call: _Call[T] | None = None
            failure: BaseException | None = None
            if beside is not None:
                try:
                    value = beside.run(work)
                except _Busy:
                    beside = None  # to the thread, which waits for the lock
                except BaseException as exc:  # raised after the checkpoint below
                    failure = exc
                else:
                    if beside.checkpoint_due():
                        thread.submit(_checkpoint)  # nobody waits for it
            if beside is None:
                # Submitted under the lock, so aclose() queues its close after every call
                # that got in before it.
                call = thread.submit(work)
        if call is None:
            # As a wait for the thread does: other tasks run (a loop of creates lets the
            # engine send the first ones), and a cancelled caller learns it after the work.
            await anyio.lowlevel.checkpoint()
            if failure is not None:
                try:
                    raise failure
                finally:
                    failure = None  # no cycle through the traceback
            return value
        # Counted as off-loop work, so that simulated time does not leap while SQLite works.
        with off_loop_work:
            try:
                return await _result(call)
            except BaseException:
                thread.given_up(call)  # does nothing once the work has ended
                raise

    # -- life cycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Create or open the file and apply pending schema migrations. Idempotent.

        Raises:
            RepositoryError: the file cannot be opened, is not a SQLite database, or holds a
                schema newer than this version of soravideo; or the repository is closed.
        """
        await self._call(lambda conn: None)

    async def aclose(self) -> None:
        """Close the connection and stop the connection thread. Idempotent; final."""
        with self._lock:
            thread, self._thread = self._thread, None
            beside, self._beside = self._beside, None
            self._closed = True
        if beside is not None:
            beside.close()  # first: the thread's connection, closed last, checkpoints the WAL
        if thread is not None:
            with off_loop_work:
                await anyio.to_thread.run_sync(thread.close)

    async def ping(self) -> None:
        """Run one statement on the connection.

        Raises:
            RepositoryError: the ledger is unusable.
        """
        query = _queries()["ping"]
        await self._call(lambda conn: conn.execute(query).fetchone())

    async def schema_version(self) -> int:
        """Return the version of the file's schema (the last migration applied)."""
        query = _queries()["schema_version"]
        return int(await self._call(lambda conn: conn.execute(query).fetchone()[0]))

    # -- jobs ---------------------------------------------------------------------------------

    async def add_jobs(self, jobs: Sequence[Job], *, batch: Batch | None = None) -> None:
        check_new(jobs, batch)
        jobs = list(jobs)
        ids = [job.id for job in jobs]
        duplicate = given_twice(ids)
        if duplicate is not None:
            raise duplicate
        referenced = sorted({job.batch_id for job in jobs if job.batch_id is not None})
        q = _queries()

        def work(conn: sqlite3.Connection) -> None:
            # Serialise before taking the write lock: other processes wait less.
            rows = [_job_row(job) for job in jobs]
            batch_row = _batch_row(batch) if batch is not None else None
            if batch_row is None and not referenced and len(rows) == 1:
                _insert_one(conn, jobs[0], rows[0])  # a single create_video ([W2-4])
                return
            conn.execute("BEGIN IMMEDIATE")
            if batch_row is not None:
                try:
                    conn.execute(q["insert_batch"], batch_row)
                except sqlite3.IntegrityError as exc:
                    if batch is not None and _violates(exc, "batches.key"):
                        conn.rollback()
                        raise key_taken(batch, _key_owner(conn, batch.key)) from exc
                    raise already_stored("batch", batch_row["id"]) from exc
            if referenced:
                cur = conn.execute(q["existing_batch_ids"], {"ids": _ids_param(referenced)})
                found = {batch_id for (batch_id,) in cur}
                missing = [batch_id for batch_id in referenced if batch_id not in found]
                if missing:
                    raise BatchNotFoundError(missing[0])
            try:
                conn.executemany(q["insert_job"], rows)
            except sqlite3.IntegrityError as exc:
                conn.rollback()
                if _violates(exc, "jobs.remote_id"):
                    raise _remote_id_conflict(conn, jobs) from exc
                cur = conn.execute(q["existing_job_ids"], {"ids": _ids_param(ids)})
                taken = cur.fetchone()
                job_id = taken[0] if taken else ids[0]
                raise already_stored("job", job_id) from exc
            conn.execute("COMMIT")

        await self._call(work, short=len(jobs) <= _SHORT)

    async def add_job_claimed(
        self, job: Job, *, owner: str, lease_seconds: float, now: datetime
    ) -> Job | None:
        """Add one job and lease it to ``owner`` when a claim would take it first: one call
        instead of two (see [`SupportsAddClaimed`][soravideo.repositories.SupportsAddClaimed])."""
        if job.batch_id is not None or job.status is not JobStatus.PENDING:
            await self.add_jobs([job])
            return None
        check_new([job])
        check_lease_seconds(lease_seconds)
        q = _queries()
        lease = {
            "id": job.id,
            "owner": owner,
            "expires_us": lease_expiry_us(now, lease_seconds),
            "now": micros(now),
        }

        def work(conn: sqlite3.Connection) -> str | None:
            row = _job_row(job)
            _insert_one(conn, job, row)  # stored and committed; then leased if nobody waits
            try:
                leased = conn.execute(q["lease_new_job"], lease).rowcount == 1
            except sqlite3.Error:
                # The job is stored (committed above): an error now must not say otherwise.
                # Its lease is left to a claim, as if another job had been waiting.
                return None
            return str(row["data"]) if leased else None

        # Short: the lease alone failing (another connection's lock) leaves the job to a claim.
        data = await self._call(work, short=True)
        return loads(data, Job) if data is not None else None

    async def get_job(self, job_id: str) -> Job:
        [job] = await self._reads([job_id])
        if job is None:
            raise JobNotFoundError(job_id)
        return job

    async def get_jobs(self, job_ids: Sequence[str]) -> list[Job]:
        return [job for job in await self._reads(list(job_ids)) if job is not None]

    async def _read_jobs(self, ids: list[str]) -> list[Job | None]:
        """Read jobs (``None`` for a missing one) in one statement: the reads of every
        ``get_job`` and ``get_jobs`` that waited while the one before ran."""
        q = _queries()

        def work(conn: sqlite3.Connection) -> list[Job | None]:
            if len(ids) == 1:
                row = conn.execute(q["get_job"], {"id": ids[0]}).fetchone()
                found = {ids[0]: row[0]} if row else {}
            else:
                found = dict(conn.execute(q["get_jobs"], {"ids": _ids_param(ids)}).fetchall())
            # Decoded once for each time an id was asked for: no caller shares a job with another.
            return [loads(found[job_id], Job) if job_id in found else None for job_id in ids]

        return await self._call(work, short=len(ids) <= _SHORT)

    async def update_job(
        self, job: Job, *, expected_status: JobStatus, lease_owner: str | None = None
    ) -> Job:
        update = JobUpdate(job=job, expected_status=expected_status, lease_owner=lease_owner)
        params = _update_params(update)
        # Short: of the statements ``_update`` may run, only the last writes.
        await self._call(lambda conn: _update(conn, update, params), short=True)
        return job

    async def update_jobs(
        self, updates: Sequence[JobUpdate]
    ) -> list[Job | ConflictError | NotFoundError]:
        updates = list(updates)
        if not updates:
            return []

        def work(conn: sqlite3.Connection) -> list[Job | ConflictError | NotFoundError]:
            # Serialise before taking the write lock: other processes wait less.
            params = [_update_params(update) for update in updates]
            outcomes: list[Job | ConflictError | NotFoundError] = []
            conn.execute("BEGIN IMMEDIATE")
            for update, row in zip(updates, params, strict=True):
                try:
                    _update(conn, update, row)
                except (ConflictError, NotFoundError) as exc:
                    # A refused statement is undone alone; the transaction goes on, unless
                    # SQLite ended it (then the updates before it are gone too).
                    if not conn.in_transaction:
                        raise RepositoryError(
                            f"the transaction ended at job {update.job.id!r}: {exc}"
                        ) from exc
                    outcomes.append(exc)
                else:
                    outcomes.append(update.job)
            conn.execute("COMMIT")
            return outcomes

        return await self._call(work, short=len(updates) <= _SHORT)

    async def find_job_by_remote_id(self, provider: str, remote_id: str) -> Job | None:
        query = _queries()["find_job_by_remote_id"]
        params = {"provider": provider, "remote_id": remote_id}

        def work(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(query, params).fetchone()
            return loads(row[1], Job) if row else None

        return await self._call(work, short=True)

    async def record_webhook_delivery(
        self, provider: str, delivery_id: str, *, remote_id: str | None, received_at: datetime
    ) -> bool:
        query = _queries()["record_webhook_delivery"]
        params = {
            "provider": provider,
            "delivery_id": delivery_id,
            "remote_id": remote_id,
            "received_us": micros(received_at),
        }
        prune = _queries()["prune_webhook_deliveries"]
        old = {"before_us": micros(received_at - DELIVERY_RETENTION), "limit": PRUNE_BATCH}

        def work(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            recorded = conn.execute(query, params).rowcount == 1
            if recorded:
                conn.execute(prune, old)
            conn.execute("COMMIT")
            return recorded

        return await self._call(work)

    async def forget_webhook_delivery(self, provider: str, delivery_id: str) -> None:
        query = _queries()["forget_webhook_delivery"]
        params = {"provider": provider, "delivery_id": delivery_id}
        await self._call(lambda conn: conn.execute(query, params))

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
        now_us = micros(now)
        params: dict[str, Any] = {"now": now_us, "limit": limit, "batch_id": batch_id}
        if job_ids is not None:
            name = "claim_candidates_by_id"
            params["ids"] = _ids_param(job_ids)
        elif batch_id is not None:
            name = "claim_candidates_in_batch"
        else:
            name = "claim_candidates"
        stamp = {"owner": owner, "expires_us": lease_expiry_us(now, lease_seconds)}
        q = _queries()

        def work(conn: sqlite3.Connection) -> list[str]:
            conn.execute("BEGIN IMMEDIATE")
            rows = conn.execute(q[name], params).fetchall()
            if rows:
                ids = [job_id for job_id, _ in rows]
                conn.execute(q["stamp_leases"], {**stamp, "ids": _ids_param(ids)})
            conn.execute("COMMIT")
            return [data for _, data in rows]

        # In the thread: a claim walks past every job it may not take (the pending jobs of a
        # pending batch, 50,000 of them say), too long to hold the event loop.
        return [loads(data, Job) for data in await self._call(work)]

    async def renew_lease(
        self, job_ids: Sequence[str], owner: str, *, lease_seconds: float, now: datetime
    ) -> list[str]:
        check_lease_seconds(lease_seconds)
        if not job_ids:
            return []
        ids = list(job_ids)
        params = {
            "ids": _ids_param(ids),
            "owner": owner,
            "expires_us": lease_expiry_us(now, lease_seconds),
        }
        q = _queries()

        def work(conn: sqlite3.Connection) -> set[str]:
            conn.execute("BEGIN IMMEDIATE")
            held = {job_id for (job_id,) in conn.execute(q["held_leases"], params)}
            if held:
                conn.execute(q["extend_leases"], params)
            conn.execute("COMMIT")
            return held

        held = await self._call(work, short=len(ids) <= _SHORT)
        return [job_id for job_id in ids if job_id in held]

    async def release_lease(self, job_ids: Sequence[str], owner: str) -> None:
        if not job_ids:
            return
        params = {"ids": _ids_param(job_ids), "owner": owner}
        query = _queries()["release_leases"]
        await self._call(lambda conn: conn.execute(query, params), short=len(job_ids) <= _SHORT)

    async def list_jobs(
        self,
        *,
        status: JobStatus | None = None,
        batch_id: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> Page[Job]:
        offset = check_page(page, limit)
        params: dict[str, Any] = {
            "status": JobStatus(status).value if status is not None else None,
            "batch_id": batch_id,
            "limit": limit,
            "offset": offset,
        }
        suffix = listing_suffix(status, batch_id)
        q = _queries()

        def work(conn: sqlite3.Connection) -> tuple[list[Job], int]:
            # One read transaction: the total and the page come from the same snapshot.
            conn.execute("BEGIN")
            (total,) = conn.execute(q[f"count_jobs{suffix}"], params).fetchone()
            rows = (
                conn.execute(q[f"list_jobs{suffix}"], params).fetchall() if offset < total else []
            )
            conn.execute("COMMIT")
            return [loads(data, Job) for (data,) in rows], total

        items, total = await self._call(work)
        return Page.build(items, page=page, limit=limit, total=total)

    async def count_jobs(self, *, batch_id: str | None = None) -> Mapping[JobStatus, int]:
        q = _queries()
        if batch_id is None:
            query, params = q["group_jobs_by_status"], {}
        else:
            query, params = q["group_batch_jobs_by_status"], {"batch_id": batch_id}
        rows = await self._call(lambda conn: conn.execute(query, params).fetchall())
        return counts_by_status(rows)

    # -- batches ------------------------------------------------------------------------------

    async def get_batch(self, batch_id: str) -> Batch:
        q = _queries()

        def work(conn: sqlite3.Connection) -> Batch | None:
            conn.execute("BEGIN")
            row = conn.execute(q["get_batch"], {"id": batch_id}).fetchone()
            counts = conn.execute(q["group_batch_jobs_by_status"], {"batch_id": batch_id})
            result = with_progress(row[0], counts.fetchall()) if row else None
            conn.execute("COMMIT")
            return result

        batch = await self._call(work)
        if batch is None:
            raise BatchNotFoundError(batch_id)
        return batch

    async def get_batch_by_key(self, key: str) -> Batch | None:
        q = _queries()

        def work(conn: sqlite3.Connection) -> Batch | None:
            conn.execute("BEGIN")
            row = conn.execute(q["get_batch_by_key"], {"key": key}).fetchone()
            result = None
            if row is not None:
                counts = conn.execute(q["group_batch_jobs_by_status"], {"batch_id": row[0]})
                result = with_progress(row[1], counts.fetchall())
            conn.execute("COMMIT")
            return result

        return await self._call(work)

    async def update_batch(self, batch: Batch, *, expected_status: BatchStatus) -> Batch:
        expected = BatchStatus(expected_status).value
        params = {**_batch_row(batch), "expected": expected}
        q = _queries()

        def work(conn: sqlite3.Connection) -> Batch:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(q["update_batch"], params)
            except sqlite3.IntegrityError as exc:
                raise key_taken(batch, _key_owner(conn, batch.key)) from exc
            if cur.rowcount != 1:
                row = conn.execute(q["batch_status"], {"id": batch.id}).fetchone()
                if row is None:
                    raise BatchNotFoundError(batch.id)
                raise batch_status_conflict(batch, expected, row[0])
            counts = conn.execute(q["group_batch_jobs_by_status"], {"batch_id": batch.id})
            stored = with_progress(params["data"], counts.fetchall())
            conn.execute("COMMIT")
            return stored

        return await self._call(work)

    async def list_batches(self, *, page: int = 1, limit: int = 20) -> Page[Batch]:
        offset = check_page(page, limit)
        q = _queries()

        def work(conn: sqlite3.Connection) -> tuple[list[Batch], int]:
            conn.execute("BEGIN")
            (total,) = conn.execute(q["count_batches"]).fetchone()
            rows = conn.execute(q["list_batches"], {"limit": limit, "offset": offset}).fetchall()
            counts: dict[str, list[tuple[str, int]]] = {batch_id: [] for batch_id, _ in rows}
            if rows:
                ids = _ids_param(list(counts))
                for batch_id, status, n in conn.execute(
                    q["group_batches_jobs_by_status"], {"ids": ids}
                ):
                    counts[batch_id].append((status, n))
            conn.execute("COMMIT")
            return [with_progress(data, counts[batch_id]) for batch_id, data in rows], total

        items, total = await self._call(work)
        return Page.build(items, page=page, limit=limit, total=total)
