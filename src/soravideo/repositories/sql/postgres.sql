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

-- name: migration_3
-- Counts by status, kept in the transaction that changes the jobs (as SQLite's triggers
-- do): a total is then the sum of a few rows at any size, not a count over every job, and
-- it is exact in every snapshot. Each connection adds to its own slot (its backend's pid
-- modulo 16), so that workers finishing jobs at once do not queue on one counter row; a
-- count sums the slots. A statement takes its counter rows in one order (the jobs' totals,
-- then the batches', each sorted), so two transactions that share a slot cannot deadlock.
-- The lock keeps writers of an older soravideo out while the totals are filled in.
LOCK TABLE soravideo_jobs IN SHARE ROW EXCLUSIVE MODE;
CREATE TABLE soravideo_job_totals (
    status text NOT NULL,
    slot smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (status, slot)
);
CREATE TABLE soravideo_batch_job_totals (
    batch_id text COLLATE "C" NOT NULL,
    status text NOT NULL,
    slot smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (batch_id, status, slot)
);
INSERT INTO soravideo_job_totals (status, slot, n)
SELECT status, 0, count(*) FROM soravideo_jobs GROUP BY status;
INSERT INTO soravideo_batch_job_totals (batch_id, status, slot, n)
SELECT batch_id, status, 0, count(*) FROM soravideo_jobs
WHERE batch_id IS NOT NULL GROUP BY batch_id, status;
CREATE FUNCTION soravideo_count_inserted_jobs() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO soravideo_job_totals AS t (status, slot, n)
    SELECT j.status, pg_backend_pid() % 16, count(*) FROM inserted_jobs AS j
    GROUP BY j.status ORDER BY j.status
    ON CONFLICT (status, slot) DO UPDATE SET n = t.n + excluded.n;
    INSERT INTO soravideo_batch_job_totals AS t (batch_id, status, slot, n)
    SELECT j.batch_id, j.status, pg_backend_pid() % 16, count(*) FROM inserted_jobs AS j
    WHERE j.batch_id IS NOT NULL
    GROUP BY j.batch_id, j.status ORDER BY j.batch_id, j.status
    ON CONFLICT (batch_id, status, slot) DO UPDATE SET n = t.n + excluded.n;
    RETURN NULL;
END
$$;
CREATE FUNCTION soravideo_count_deleted_jobs() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO soravideo_job_totals AS t (status, slot, n)
    SELECT j.status, pg_backend_pid() % 16, -count(*) FROM deleted_jobs AS j
    GROUP BY j.status ORDER BY j.status
    ON CONFLICT (status, slot) DO UPDATE SET n = t.n + excluded.n;
    INSERT INTO soravideo_batch_job_totals AS t (batch_id, status, slot, n)
    SELECT j.batch_id, j.status, pg_backend_pid() % 16, -count(*) FROM deleted_jobs AS j
    WHERE j.batch_id IS NOT NULL
    GROUP BY j.batch_id, j.status ORDER BY j.batch_id, j.status
    ON CONFLICT (batch_id, status, slot) DO UPDATE SET n = t.n + excluded.n;
    RETURN NULL;
END
$$;
-- Per row, and only when the status or the batch changes: a lease stamp costs nothing.
CREATE FUNCTION soravideo_count_updated_job() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    my_slot smallint := pg_backend_pid() % 16;
BEGIN
    IF OLD.status IS DISTINCT FROM NEW.status THEN
        INSERT INTO soravideo_job_totals AS t (status, slot, n)
        SELECT c.status, my_slot, c.n
        FROM (VALUES (OLD.status, -1), (NEW.status, 1)) AS c (status, n)
        ORDER BY c.status
        ON CONFLICT (status, slot) DO UPDATE SET n = t.n + excluded.n;
    END IF;
    INSERT INTO soravideo_batch_job_totals AS t (batch_id, status, slot, n)
    SELECT c.batch_id, c.status, my_slot, c.n
    FROM (VALUES (OLD.batch_id, OLD.status, -1), (NEW.batch_id, NEW.status, 1))
        AS c (batch_id, status, n)
    WHERE c.batch_id IS NOT NULL
    ORDER BY c.batch_id, c.status
    ON CONFLICT (batch_id, status, slot) DO UPDATE SET n = t.n + excluded.n;
    RETURN NULL;
END
$$;
CREATE FUNCTION soravideo_count_truncated_jobs() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    DELETE FROM soravideo_job_totals;
    DELETE FROM soravideo_batch_job_totals;
    RETURN NULL;
END
$$;
CREATE TRIGGER soravideo_jobs_count_insert AFTER INSERT ON soravideo_jobs
    REFERENCING NEW TABLE AS inserted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION soravideo_count_inserted_jobs();
CREATE TRIGGER soravideo_jobs_count_delete AFTER DELETE ON soravideo_jobs
    REFERENCING OLD TABLE AS deleted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION soravideo_count_deleted_jobs();
CREATE TRIGGER soravideo_jobs_count_update AFTER UPDATE OF status, batch_id ON soravideo_jobs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.batch_id IS DISTINCT FROM NEW.batch_id)
    EXECUTE FUNCTION soravideo_count_updated_job();
CREATE TRIGGER soravideo_jobs_count_truncate AFTER TRUNCATE ON soravideo_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION soravideo_count_truncated_jobs();
-- Counts no longer read the jobs: the index that served them only slows every write.
DROP INDEX soravideo_jobs_status_count;

-- name: migration_4
-- Webhook deliveries already received ([W2-7]): a provider delivers at least once, so a
-- delivery id seen before (by any process sharing the ledger) is acknowledged, not applied.
CREATE TABLE soravideo_webhook_deliveries (
    provider text COLLATE "C" NOT NULL,
    delivery_id text COLLATE "C" NOT NULL,
    remote_id text,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (provider, delivery_id)
);

-- name: migration_5
-- Webhook deliveries are forgotten 30 days after they arrived (the table grew forever):
-- each record forgets a few past that, oldest first, through this index.
CREATE INDEX soravideo_webhook_deliveries_received
    ON soravideo_webhook_deliveries (received_at);

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

-- name: lock_jobs
-- update_jobs: the states its compare-and-sets find, the rows locked in one order.
SELECT id, status, lease_owner FROM soravideo_jobs
WHERE id = ANY(%(ids)s::text[])
ORDER BY id
FOR UPDATE;

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
-- serves its filter. The total is a sum of counter rows (migration 3), not a count of jobs.
-- One statement returns the total and the page from one snapshot: one
-- row per job, or a single row with a NULL job when the page is empty. The inner query
-- skips the offset inside the index; only the page's rows are read from the table.

-- name: list_jobs
SELECT t.n, p.data
FROM (SELECT coalesce(sum(n), 0)::bigint AS n FROM soravideo_job_totals) AS t
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
FROM (
    SELECT coalesce(sum(n), 0)::bigint AS n FROM soravideo_job_totals WHERE status = %(status)s
) AS t
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
FROM (
    SELECT coalesce(sum(n), 0)::bigint AS n FROM soravideo_batch_job_totals
    WHERE batch_id = %(batch_id)s
) AS t
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
FROM (
    SELECT coalesce(sum(n), 0)::bigint AS n FROM soravideo_batch_job_totals
    WHERE batch_id = %(batch_id)s AND status = %(status)s
) AS t
LEFT JOIN LATERAL (
    SELECT j.data, j.created_at, j.id FROM soravideo_jobs AS j
    WHERE j.id IN (
        SELECT id FROM soravideo_jobs WHERE batch_id = %(batch_id)s AND status = %(status)s
        ORDER BY created_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s
    )
) AS p ON true
ORDER BY p.created_at DESC, p.id DESC;

-- name: group_jobs_by_status
SELECT status, sum(n)::bigint FROM soravideo_job_totals GROUP BY status;

-- name: group_batch_jobs_by_status
SELECT status, sum(n)::bigint FROM soravideo_batch_job_totals WHERE batch_id = %(batch_id)s
GROUP BY status;

-- name: get_batch
-- One row per status present among the batch's jobs (one row with NULLs when it has none).
SELECT b.data, c.status, c.n
FROM soravideo_batches AS b
LEFT JOIN LATERAL (
    SELECT t.status, sum(t.n)::bigint AS n FROM soravideo_batch_job_totals AS t
    WHERE t.batch_id = b.id GROUP BY t.status
) AS c ON true
WHERE b.id = %(id)s;

-- name: get_batch_by_key
SELECT b.id, b.data, c.status, c.n
FROM soravideo_batches AS b
LEFT JOIN LATERAL (
    SELECT t.status, sum(t.n)::bigint AS n FROM soravideo_batch_job_totals AS t
    WHERE t.batch_id = b.id GROUP BY t.status
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
    SELECT t.status, sum(t.n)::bigint AS n FROM soravideo_batch_job_totals AS t
    WHERE t.batch_id = u.id GROUP BY t.status
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
    SELECT t.status, sum(t.n)::bigint AS n FROM soravideo_batch_job_totals AS t
    WHERE t.batch_id = p.id GROUP BY t.status
) AS c ON true
ORDER BY p.created_at DESC, p.id DESC;

-- name: ping
SELECT 1;

-- name: record_webhook_delivery
INSERT INTO soravideo_webhook_deliveries (provider, delivery_id, remote_id, received_at)
VALUES (%(provider)s, %(delivery_id)s, %(remote_id)s, %(received_at)s)
ON CONFLICT (provider, delivery_id) DO NOTHING
RETURNING 1;

-- name: forget_webhook_delivery
DELETE FROM soravideo_webhook_deliveries
WHERE provider = %(provider)s AND delivery_id = %(delivery_id)s;

-- name: prune_webhook_deliveries
-- SKIP LOCKED: two records pruning at once share the work instead of waiting on each other.
DELETE FROM soravideo_webhook_deliveries WHERE (provider, delivery_id) IN (
    SELECT provider, delivery_id FROM soravideo_webhook_deliveries
    WHERE received_at < %(before)s ORDER BY received_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
);
