-- PostgreSQL ledger: named queries (psycopg %(name)s placeholders) and schema migrations.
--
-- Each job is stored whole as JSON text (``data``, written by the one cattrs converter) next
-- to the columns that queries filter and sort on. ``migration_N`` queries are applied in
-- order, once, under an advisory lock; never edit one that shipped: add the next.

-- name: lock_migrations
-- Serialises migrations between processes that open the same schema at once.
SELECT pg_advisory_xact_lock(hashtext('soravideo.migrations:' || current_schema()));

-- name: create_version_table
CREATE TABLE IF NOT EXISTS soravideo_schema_version (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: schema_version
SELECT coalesce(max(version), 0) FROM soravideo_schema_version;

-- name: record_version
INSERT INTO soravideo_schema_version (version) VALUES (%(version)s);

-- name: migration_1
-- Ids compare by code point ("C"), as in Python and the other ledgers, whatever the
-- database's default collation.
CREATE TABLE soravideo_batches (
    id text COLLATE "C" PRIMARY KEY,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data text NOT NULL
);
CREATE INDEX soravideo_batches_newest ON soravideo_batches (created_at DESC, id DESC);
-- Room on each page lets lease stamps be HOT updates (no lease column is indexed).
CREATE TABLE soravideo_jobs (
    id text COLLATE "C" PRIMARY KEY,
    status text NOT NULL,
    priority_rank smallint NOT NULL,
    batch_id text COLLATE "C" REFERENCES soravideo_batches (id),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    lease_owner text,
    lease_expires_at timestamptz,
    data text NOT NULL
) WITH (fillfactor = 80);
-- The claim walks unfinished jobs in claim order; finished ones leave this index.
CREATE INDEX soravideo_jobs_claim ON soravideo_jobs (priority_rank DESC, created_at, id)
    WHERE status IN ('pending', 'processing');
-- Listings, newest first, each filter with its own index.
CREATE INDEX soravideo_jobs_newest ON soravideo_jobs (created_at DESC, id DESC);
CREATE INDEX soravideo_jobs_status ON soravideo_jobs (status, created_at DESC, id DESC);
-- Counts by status: B-tree deduplication keeps this one small (about 7 bytes a job), so a
-- count reads a fraction of what the listing index above would.
CREATE INDEX soravideo_jobs_status_count ON soravideo_jobs (status);
CREATE INDEX soravideo_jobs_batch ON soravideo_jobs (batch_id, created_at DESC, id DESC)
    WHERE batch_id IS NOT NULL;

-- name: migration_2
-- Batch keys: create_batch(key=) stores its idempotency key here; one batch per key.
ALTER TABLE soravideo_batches ADD COLUMN key text COLLATE "C";
CREATE UNIQUE INDEX soravideo_batches_key ON soravideo_batches (key) WHERE key IS NOT NULL;
-- One owner per remote video: a (provider, remote id) pair belongs to one job at most.
ALTER TABLE soravideo_jobs ADD COLUMN provider text COLLATE "C";
ALTER TABLE soravideo_jobs ADD COLUMN remote_id text COLLATE "C";
UPDATE soravideo_jobs
SET provider = data::jsonb ->> 'provider', remote_id = data::jsonb ->> 'remote_id';
-- Ledgers written before this rule may hold two jobs with one remote video (reconciliation
-- could adopt another job's video). The first job (the oldest: created_at, then id) keeps
-- it; the later ones lose the indexed column only, so the unique index can be built. Their
-- JSON documents are left as they were: nothing the user recorded is rewritten.
UPDATE soravideo_jobs AS j SET remote_id = NULL
WHERE j.remote_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM soravideo_jobs AS first
    WHERE first.provider = j.provider
        AND first.remote_id = j.remote_id
        AND (first.created_at, first.id) < (j.created_at, j.id)
);
CREATE UNIQUE INDEX soravideo_jobs_remote ON soravideo_jobs (provider, remote_id)
    WHERE remote_id IS NOT NULL;

-- name: insert_batch
INSERT INTO soravideo_batches (id, status, created_at, updated_at, key, data)
VALUES (%(id)s, %(status)s, %(created_at)s, %(updated_at)s, %(key)s, %(data)s);

-- name: insert_jobs
-- One statement for any number of jobs: each parameter is an array, one element per job.
INSERT INTO soravideo_jobs (
    id, status, priority_rank, batch_id, created_at, updated_at, provider, remote_id, data
)
SELECT * FROM unnest(
    %(ids)b::text[], %(statuses)b::text[], %(ranks)b::smallint[], %(batch_ids)b::text[],
    %(created_ats)b::timestamptz[], %(updated_ats)b::timestamptz[], %(providers)b::text[],
    %(remote_ids)b::text[], %(datas)b::text[]
);

-- name: find_job_by_remote_id
SELECT id, data FROM soravideo_jobs
WHERE provider = %(provider)s AND remote_id = %(remote_id)s;

-- name: existing_batch_ids
SELECT id FROM soravideo_batches WHERE id = ANY(%(ids)s::text[]);

-- name: get_job
SELECT data FROM soravideo_jobs WHERE id = %(id)s;

-- name: get_jobs
SELECT id, data FROM soravideo_jobs WHERE id = ANY(%(ids)s::text[]);

-- name: job_state
SELECT status, lease_owner FROM soravideo_jobs WHERE id = %(id)s;

-- name: update_job
-- Compare-and-set: the expected status, the lease owner when given, and a terminal status
-- never changes. Zero rows means the caller lost the race (or the lease). A job that
-- becomes terminal gives up its lease.
UPDATE soravideo_jobs
SET status = %(status)s,
    priority_rank = %(rank)s,
    batch_id = %(batch_id)s,
    created_at = %(created_at)s,
    updated_at = %(updated_at)s,
    provider = %(provider)s,
    remote_id = %(remote_id)s,
    lease_owner = CASE WHEN %(terminal)s THEN NULL ELSE lease_owner END,
    lease_expires_at = CASE WHEN %(terminal)s THEN NULL ELSE lease_expires_at END,
    data = %(data)s
WHERE id = %(id)s
    AND status = %(expected)s
    AND (%(owner)s::text IS NULL OR lease_owner = %(owner)s)
    AND (status = %(status)s OR status IN ('pending', 'processing'));

-- name: claim_jobs
-- Skips held jobs: pending jobs of a batch that is itself still pending.
UPDATE soravideo_jobs
SET lease_owner = %(owner)s, lease_expires_at = %(expires_at)s
WHERE id IN (
    SELECT c.id FROM soravideo_jobs AS c
    WHERE c.status IN ('pending', 'processing')
        AND (c.lease_owner IS NULL OR c.lease_expires_at <= %(now)s)
        AND NOT (
            c.status = 'pending' AND c.batch_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM soravideo_batches AS b
                WHERE b.id = c.batch_id AND b.status = 'pending'
            )
        )
    ORDER BY c.priority_rank DESC, c.created_at, c.id
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
)
RETURNING data;

-- name: claim_batch_jobs
UPDATE soravideo_jobs
SET lease_owner = %(owner)s, lease_expires_at = %(expires_at)s
WHERE id IN (
    SELECT c.id FROM soravideo_jobs AS c
    WHERE c.batch_id = %(batch_id)s
        AND c.status IN ('pending', 'processing')
        AND (c.lease_owner IS NULL OR c.lease_expires_at <= %(now)s)
    ORDER BY c.priority_rank DESC, c.created_at, c.id
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
)
RETURNING data;

-- name: claim_jobs_by_id
UPDATE soravideo_jobs
SET lease_owner = %(owner)s, lease_expires_at = %(expires_at)s
WHERE id IN (
    SELECT c.id FROM soravideo_jobs AS c
    WHERE c.id = ANY(%(ids)s::text[])
        AND (%(batch_id)s::text IS NULL OR c.batch_id = %(batch_id)s)
        AND c.status IN ('pending', 'processing')
        AND (c.lease_owner IS NULL OR c.lease_expires_at <= %(now)s)
    ORDER BY c.priority_rank DESC, c.created_at, c.id
    LIMIT %(limit)s
    FOR UPDATE OF c SKIP LOCKED
)
RETURNING data;

-- name: renew_lease
UPDATE soravideo_jobs
SET lease_expires_at = %(expires_at)s
WHERE id = ANY(%(ids)s::text[])
    AND lease_owner = %(owner)s
    AND status IN ('pending', 'processing')
RETURNING id;

-- name: release_lease
UPDATE soravideo_jobs
SET lease_owner = NULL, lease_expires_at = NULL
WHERE id = ANY(%(ids)s::text[]) AND lease_owner = %(owner)s;

-- Listings come in one variant per filter, so that each prepared plan uses the index that
-- serves its filter. One statement returns the total and the page from one snapshot: one
-- row per job, or a single row with a NULL job when the page is empty. The inner query
-- skips the offset inside the index; only the page's rows are read from the table.

-- name: list_jobs
SELECT t.n, p.data
FROM (SELECT count(*) AS n FROM soravideo_jobs) AS t
LEFT JOIN LATERAL (
    SELECT j.data, j.created_at, j.id FROM soravideo_jobs AS j
    WHERE j.id IN (
        SELECT id FROM soravideo_jobs
        ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
    )
) AS p ON true
ORDER BY p.created_at DESC, p.id DESC;

-- name: list_jobs_by_status
SELECT t.n, p.data
FROM (SELECT count(*) AS n FROM soravideo_jobs WHERE status = %(status)s) AS t
LEFT JOIN LATERAL (
    SELECT j.data, j.created_at, j.id FROM soravideo_jobs AS j
    WHERE j.id IN (
        SELECT id FROM soravideo_jobs WHERE status = %(status)s
        ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
    )
) AS p ON true
ORDER BY p.created_at DESC, p.id DESC;

-- name: list_jobs_by_batch
SELECT t.n, p.data
FROM (SELECT count(*) AS n FROM soravideo_jobs WHERE batch_id = %(batch_id)s) AS t
LEFT JOIN LATERAL (
    SELECT j.data, j.created_at, j.id FROM soravideo_jobs AS j
    WHERE j.id IN (
        SELECT id FROM soravideo_jobs WHERE batch_id = %(batch_id)s
        ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
    )
) AS p ON true
ORDER BY p.created_at DESC, p.id DESC;

-- name: list_jobs_by_status_and_batch
SELECT t.n, p.data
FROM (SELECT count(*) AS n FROM soravideo_jobs WHERE batch_id = %(batch_id)s AND status = %(status)s) AS t
LEFT JOIN LATERAL (
    SELECT j.data, j.created_at, j.id FROM soravideo_jobs AS j
    WHERE j.id IN (
        SELECT id FROM soravideo_jobs WHERE batch_id = %(batch_id)s AND status = %(status)s
        ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
    )
) AS p ON true
ORDER BY p.created_at DESC, p.id DESC;

-- name: group_jobs_by_status
SELECT status, count(*) FROM soravideo_jobs GROUP BY status;

-- name: group_batch_jobs_by_status
SELECT status, count(*) FROM soravideo_jobs WHERE batch_id = %(batch_id)s GROUP BY status;

-- name: get_batch
-- One row per status present among the batch's jobs (one row with NULLs when it has none).
SELECT b.data, c.status, c.n
FROM soravideo_batches AS b
LEFT JOIN LATERAL (
    SELECT j.status, count(*) AS n FROM soravideo_jobs AS j
    WHERE j.batch_id = b.id GROUP BY j.status
) AS c ON true
WHERE b.id = %(id)s;

-- name: get_batch_by_key
SELECT b.id, b.data, c.status, c.n
FROM soravideo_batches AS b
LEFT JOIN LATERAL (
    SELECT j.status, count(*) AS n FROM soravideo_jobs AS j
    WHERE j.batch_id = b.id GROUP BY j.status
) AS c ON true
WHERE b.key = %(key)s;

-- name: batch_status
SELECT status FROM soravideo_batches WHERE id = %(id)s;

-- name: update_batch
WITH updated AS (
    UPDATE soravideo_batches
    SET status = %(status)s, created_at = %(created_at)s, updated_at = %(updated_at)s,
        key = %(key)s, data = %(data)s
    WHERE id = %(id)s AND status = %(expected)s
    RETURNING id, data
)
SELECT u.data, c.status, c.n
FROM updated AS u
LEFT JOIN LATERAL (
    SELECT j.status, count(*) AS n FROM soravideo_jobs AS j
    WHERE j.batch_id = u.id GROUP BY j.status
) AS c ON true;

-- name: list_batches
-- As the job listings: the total, then one row per status count of each batch on the page.
SELECT t.n, p.id, p.data, c.status, c.n
FROM (SELECT count(*) AS n FROM soravideo_batches) AS t
LEFT JOIN LATERAL (
    SELECT id, data, created_at FROM soravideo_batches
    ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
) AS p ON true
LEFT JOIN LATERAL (
    SELECT j.status, count(*) AS n FROM soravideo_jobs AS j
    WHERE j.batch_id = p.id GROUP BY j.status
) AS c ON true
ORDER BY p.created_at DESC, p.id DESC;

-- name: ping
SELECT 1;
