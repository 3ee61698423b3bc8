-- SQLite ledger: named queries (sqlite3 :name placeholders) and schema migrations.
--
-- Each job is stored whole as JSON text (``data``, written by the one cattrs converter) next
-- to the columns that queries filter and sort on. Times are integer microseconds since the
-- epoch (UTC), so they sort and compare exactly. ``migration_N`` blocks run in order, once
-- each, inside one write transaction; never edit one that shipped: add the next.

-- name: configure
-- Per connection. WAL lets readers and the one writer work at once; NORMAL is durable
-- across application crashes in WAL mode and much faster than FULL.
-- A 16 MB page cache (default: 2 MB) keeps the listing indexes of ~200k jobs in memory,
-- so a deep page skips through cached index pages instead of reading them again.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
PRAGMA cache_size = -16000;

-- name: create_version_table
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- name: has_version_table
SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version';

-- name: schema_version
SELECT coalesce(max(version), 0) FROM schema_version;

-- name: record_version
INSERT INTO schema_version (version) VALUES (:version);

-- name: migration_1
CREATE TABLE batches (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    updated_us INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX batches_newest ON batches (created_us, id);
-- A rowid table: new rows append, and indexes point at a small integer, not the text id.
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL,
    priority_rank    INTEGER NOT NULL,
    batch_id         TEXT REFERENCES batches (id),
    created_us       INTEGER NOT NULL,
    updated_us       INTEGER NOT NULL,
    remote_id        TEXT,
    lease_owner      TEXT,
    lease_expires_us INTEGER,
    data             TEXT NOT NULL
);
-- Listings, newest first (indexes scanned backwards).
CREATE INDEX jobs_newest ON jobs (created_us, id);
CREATE INDEX jobs_status ON jobs (status, created_us, id);
CREATE INDEX jobs_batch ON jobs (batch_id, status, created_us, id) WHERE batch_id IS NOT NULL;
-- The claim walks unfinished jobs in claim order and decides from the index alone.
CREATE INDEX jobs_claim ON jobs (
    priority_rank DESC, created_us, id, status, batch_id, lease_owner, lease_expires_us
) WHERE status IN ('pending', 'processing');
-- Reconciling with the provider looks jobs up by their remote id.
CREATE INDEX jobs_remote ON jobs (remote_id) WHERE remote_id IS NOT NULL;
-- Counts by status, kept by triggers: counting is a lookup at any size, not a scan.
CREATE TABLE job_totals (
    status TEXT PRIMARY KEY,
    n      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE batch_job_totals (
    batch_id TEXT NOT NULL,
    status   TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (batch_id, status)
) WITHOUT ROWID;
CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_totals (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
    INSERT INTO batch_job_totals (batch_id, status, n)
        SELECT NEW.batch_id, NEW.status, 1 WHERE NEW.batch_id IS NOT NULL
        ON CONFLICT (batch_id, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_totals SET n = n - 1 WHERE status = OLD.status;
    UPDATE batch_job_totals SET n = n - 1 WHERE batch_id = OLD.batch_id AND status = OLD.status;
END;
CREATE TRIGGER jobs_count_update AFTER UPDATE OF status, batch_id ON jobs
WHEN OLD.status IS NOT NEW.status OR OLD.batch_id IS NOT NEW.batch_id BEGIN
    UPDATE job_totals SET n = n - 1 WHERE status = OLD.status;
    UPDATE batch_job_totals SET n = n - 1 WHERE batch_id = OLD.batch_id AND status = OLD.status;
    INSERT INTO job_totals (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
    INSERT INTO batch_job_totals (batch_id, status, n)
        SELECT NEW.batch_id, NEW.status, 1 WHERE NEW.batch_id IS NOT NULL
        ON CONFLICT (batch_id, status) DO UPDATE SET n = n + 1;
END;

-- name: migration_2
-- Batch keys: create_batch(key=) stores its idempotency key here; one batch per key.
ALTER TABLE batches ADD COLUMN key TEXT;
CREATE UNIQUE INDEX batches_key ON batches (key) WHERE key IS NOT NULL;
-- One owner per remote video: a (provider, remote id) pair belongs to one job at most.
ALTER TABLE jobs ADD COLUMN provider TEXT;
UPDATE jobs SET provider = json_extract(data, '$.provider');
-- Ledgers written before this rule may hold two jobs with one remote video (reconciliation
-- could adopt another job's video). The first job (lowest seq: the oldest row) keeps it;
-- the later ones lose the indexed column only, so the unique index can be built. Their
-- JSON documents are left as they were: nothing the user recorded is rewritten.
UPDATE jobs SET remote_id = NULL
WHERE remote_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM jobs AS first
    WHERE first.provider = jobs.provider
        AND first.remote_id = jobs.remote_id
        AND first.seq < jobs.seq
);
-- Replaces the plain remote-id index: lookups always name the provider too.
DROP INDEX jobs_remote;
CREATE UNIQUE INDEX jobs_remote ON jobs (provider, remote_id) WHERE remote_id IS NOT NULL;

-- name: migration_3
-- Webhook deliveries already received ([W2-7]): a provider delivers at least once, so a
-- delivery id seen before (by any process sharing the file) is acknowledged, not applied.
CREATE TABLE webhook_deliveries (
    provider    TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    remote_id   TEXT,
    received_us INTEGER NOT NULL,
    PRIMARY KEY (provider, delivery_id)
) WITHOUT ROWID;

-- name: migration_4
-- [W2-4] Claims no longer walk the leased jobs. jobs_claim held every unfinished job, so a
-- claim looking for the one new job behind ten thousand leased ones in flight read ten
-- thousand index entries (a claim at 10,000 in flight cost 7x one at 100). Unleased jobs
-- now have an index of their own, in claim order, and leased ones one by lease expiry (the
-- claim reads only the expired ones). jobs_claim served that query alone.
CREATE INDEX jobs_unleased ON jobs (priority_rank DESC, created_us, id, status, batch_id)
    WHERE status IN ('pending', 'processing') AND lease_owner IS NULL;
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_us)
    WHERE status IN ('pending', 'processing') AND lease_owner IS NOT NULL;
DROP INDEX jobs_claim;

-- name: migration_5
-- Webhook deliveries are forgotten 30 days after they arrived (the table grew forever):
-- each record forgets a few past that, oldest first, through this index.
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_us);

-- name: insert_batch
INSERT INTO batches (id, status, created_us, updated_us, key, data)
VALUES (:id, :status, :created_us, :updated_us, :key, :data);

-- name: insert_job
INSERT INTO jobs (
    id, status, priority_rank, batch_id, created_us, updated_us, provider, remote_id, data
)
VALUES (
    :id, :status, :priority_rank, :batch_id, :created_us, :updated_us, :provider, :remote_id,
    :data
);

-- name: find_job_by_remote_id
SELECT id, data FROM jobs WHERE provider = :provider AND remote_id = :remote_id;

-- name: get_batch_by_key
SELECT id, data FROM batches WHERE key = :key;

-- name: existing_job_ids
SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: existing_batch_ids
SELECT id FROM batches WHERE id IN (SELECT value FROM json_each(:ids));

-- name: get_job
SELECT data FROM jobs WHERE id = :id;

-- name: get_jobs
SELECT id, data FROM jobs WHERE id IN (SELECT value FROM json_each(:ids));

-- name: job_state
SELECT status, lease_owner FROM jobs WHERE id = :id;

-- name: update_job
-- Compare-and-set: the expected status, the lease owner when given, and a terminal status
-- never changes. A job that becomes terminal gives up its lease.
UPDATE jobs
SET status = :status,
    priority_rank = :priority_rank,
    batch_id = :batch_id,
    created_us = :created_us,
    updated_us = :updated_us,
    provider = :provider,
    remote_id = :remote_id,
    lease_owner = CASE WHEN :terminal THEN NULL ELSE lease_owner END,
    lease_expires_us = CASE WHEN :terminal THEN NULL ELSE lease_expires_us END,
    data = :data
WHERE id = :id
    AND status = :expected
    AND (:lease_owner IS NULL OR lease_owner = :lease_owner)
    AND (status = :status OR status IN ('pending', 'processing'));

-- name: update_job_data
-- update_job when the status stays (a progress, a download's path): the same compare-and-set,
-- but it sets only what such a write changes, so no index and no trigger is touched ([W2-4]:
-- a fifth of the full update's cost). A row whose other columns differ from the job's (its
-- remote id, say) is left alone, and the full update_job then runs instead.
UPDATE jobs SET updated_us = :updated_us, data = :data
WHERE id = :id
    AND status = :expected
    AND status = :status
    AND (:lease_owner IS NULL OR lease_owner = :lease_owner)
    AND remote_id IS :remote_id
    AND priority_rank = :priority_rank
    AND batch_id IS :batch_id
    AND created_us = :created_us
    AND provider IS :provider
    AND (NOT :terminal OR (lease_owner IS NULL AND lease_expires_us IS NULL));

-- name: update_job_remote
-- update_job when the status stays and the remote id changes (a create's answer recorded):
-- update_job_data's compare-and-set, setting the remote id too, so only that index is
-- touched ([W2-4]: half the full update's cost). Anything else that would change falls back
-- to the full update_job.
UPDATE jobs SET updated_us = :updated_us, remote_id = :remote_id, data = :data
WHERE id = :id
    AND status = :expected
    AND status = :status
    AND (:lease_owner IS NULL OR lease_owner = :lease_owner)
    AND priority_rank = :priority_rank
    AND batch_id IS :batch_id
    AND created_us = :created_us
    AND provider IS :provider
    AND (NOT :terminal OR (lease_owner IS NULL AND lease_expires_us IS NULL));

-- name: update_job_status
-- update_job when the status changes and the other indexed columns stay (a job sent, a job's
-- end): the same compare-and-set, but it leaves the remote id and the listing columns alone,
-- so their indexes are not rewritten ([W2-4]). A row whose other columns differ from the
-- job's falls back to the full update_job.
UPDATE jobs
SET status = :status,
    updated_us = :updated_us,
    lease_owner = CASE WHEN :terminal THEN NULL ELSE lease_owner END,
    lease_expires_us = CASE WHEN :terminal THEN NULL ELSE lease_expires_us END,
    data = :data
WHERE id = :id
    AND status = :expected
    AND (:lease_owner IS NULL OR lease_owner = :lease_owner)
    AND (status = :status OR status IN ('pending', 'processing'))
    AND remote_id IS :remote_id
    AND priority_rank = :priority_rank
    AND batch_id IS :batch_id
    AND created_us = :created_us
    AND provider IS :provider;

-- name: claim_candidates
-- Skips held jobs: pending jobs of a batch that is itself still pending. The unleased jobs
-- in claim order (INDEXED BY: read in that order, no sort, up to :limit of them), then the
-- jobs whose lease expired (found by expiry, usually none), merged in claim order.
SELECT id, data FROM (
    SELECT * FROM (
        SELECT c.id, c.data, c.priority_rank, c.created_us
        FROM jobs AS c INDEXED BY jobs_unleased
        WHERE c.status IN ('pending', 'processing') AND c.lease_owner IS NULL
            AND NOT (
                c.status = 'pending' AND c.batch_id IS NOT NULL AND EXISTS (
                    SELECT 1 FROM batches AS b WHERE b.id = c.batch_id AND b.status = 'pending'
                )
            )
        ORDER BY c.priority_rank DESC, c.created_us, c.id
        LIMIT :limit
    )
    UNION ALL
    SELECT c.id, c.data, c.priority_rank, c.created_us
    FROM jobs AS c INDEXED BY jobs_lease_expiry
    WHERE c.status IN ('pending', 'processing') AND c.lease_owner IS NOT NULL
        AND c.lease_expires_us <= :now
        AND NOT (
            c.status = 'pending' AND c.batch_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM batches AS b WHERE b.id = c.batch_id AND b.status = 'pending'
            )
        )
)
ORDER BY priority_rank DESC, created_us, id
LIMIT :limit;

-- name: claim_candidates_in_batch
SELECT id, data FROM jobs
WHERE batch_id = :batch_id
    AND status IN ('pending', 'processing')
    AND (lease_owner IS NULL OR lease_expires_us <= :now)
ORDER BY priority_rank DESC, created_us, id
LIMIT :limit;

-- name: claim_candidates_by_id
SELECT id, data FROM jobs
WHERE id IN (SELECT value FROM json_each(:ids))
    AND (:batch_id IS NULL OR batch_id = :batch_id)
    AND status IN ('pending', 'processing')
    AND (lease_owner IS NULL OR lease_expires_us <= :now)
ORDER BY priority_rank DESC, created_us, id
LIMIT :limit;

-- name: lease_new_job
-- add_job_claimed ([W2-4]): a job just inserted is leased to the engine creating it only
-- when a claim would take it first: no other job is claimable (unleased, or its lease
-- expired, and not held by a pending batch), so claim order is kept. A claim by another
-- process since the insert has leased it already, and this leaves it so. With 64 other
-- unleased jobs or more (held ones: a pending batch of 50,000 jobs, say) it is left to a
-- claim rather than walking past them all (it runs on the event loop's thread, see sqlite.py).
UPDATE jobs SET lease_owner = :owner, lease_expires_us = :expires_us
WHERE id = :id AND status = 'pending' AND lease_owner IS NULL AND batch_id IS NULL
    AND CASE WHEN (
        SELECT count(*) FROM (
            SELECT 1 FROM jobs AS c INDEXED BY jobs_unleased
            WHERE c.status IN ('pending', 'processing') AND c.lease_owner IS NULL
                AND c.id != :id
            LIMIT 64
        )
    ) < 64 THEN (
        NOT EXISTS (
            SELECT 1 FROM jobs AS c INDEXED BY jobs_unleased
            WHERE c.status IN ('pending', 'processing') AND c.lease_owner IS NULL
                AND c.id != :id
                AND NOT (
                    c.status = 'pending' AND c.batch_id IS NOT NULL AND EXISTS (
                        SELECT 1 FROM batches AS b
                        WHERE b.id = c.batch_id AND b.status = 'pending'
                    )
                )
        )
        AND NOT EXISTS (
            SELECT 1 FROM jobs AS c INDEXED BY jobs_lease_expiry
            WHERE c.status IN ('pending', 'processing') AND c.lease_owner IS NOT NULL
                AND c.lease_expires_us <= :now
                AND NOT (
                    c.status = 'pending' AND c.batch_id IS NOT NULL AND EXISTS (
                        SELECT 1 FROM batches AS b
                        WHERE b.id = c.batch_id AND b.status = 'pending'
                    )
                )
        )
    ) ELSE 0 END;

-- name: stamp_leases
UPDATE jobs SET lease_owner = :owner, lease_expires_us = :expires_us
WHERE id IN (SELECT value FROM json_each(:ids));

-- name: held_leases
SELECT id FROM jobs
WHERE id IN (SELECT value FROM json_each(:ids))
    AND lease_owner = :owner
    AND status IN ('pending', 'processing');

-- name: extend_leases
UPDATE jobs SET lease_expires_us = :expires_us
WHERE id IN (SELECT value FROM json_each(:ids))
    AND lease_owner = :owner
    AND status IN ('pending', 'processing');

-- name: release_leases
UPDATE jobs SET lease_owner = NULL, lease_expires_us = NULL
WHERE id IN (SELECT value FROM json_each(:ids)) AND lease_owner = :owner;

-- Listings come in one variant per filter, each served by its own index. The inner query
-- skips the offset inside the index and only the page's rows are read from the table.

-- name: list_jobs
SELECT data FROM jobs WHERE seq IN (
    SELECT seq FROM jobs ORDER BY created_us DESC, id DESC LIMIT :limit OFFSET :offset
)
ORDER BY created_us DESC, id DESC;

-- name: list_jobs_by_status
SELECT data FROM jobs WHERE seq IN (
    SELECT seq FROM jobs WHERE status = :status
    ORDER BY created_us DESC, id DESC LIMIT :limit OFFSET :offset
)
ORDER BY created_us DESC, id DESC;

-- name: list_jobs_by_batch
SELECT data FROM jobs WHERE seq IN (
    SELECT seq FROM jobs WHERE batch_id = :batch_id
    ORDER BY created_us DESC, id DESC LIMIT :limit OFFSET :offset
)
ORDER BY created_us DESC, id DESC;

-- name: list_jobs_by_status_and_batch
SELECT data FROM jobs WHERE seq IN (
    SELECT seq FROM jobs WHERE batch_id = :batch_id AND status = :status
    ORDER BY created_us DESC, id DESC LIMIT :limit OFFSET :offset
)
ORDER BY created_us DESC, id DESC;

-- name: count_jobs
SELECT coalesce(sum(n), 0) FROM job_totals;

-- name: count_jobs_by_status
SELECT coalesce(sum(n), 0) FROM job_totals WHERE status = :status;

-- name: count_jobs_by_batch
SELECT coalesce(sum(n), 0) FROM batch_job_totals WHERE batch_id = :batch_id;

-- name: count_jobs_by_status_and_batch
SELECT coalesce(sum(n), 0) FROM batch_job_totals WHERE batch_id = :batch_id AND status = :status;

-- name: group_jobs_by_status
SELECT status, n FROM job_totals;

-- name: group_batch_jobs_by_status
SELECT status, n FROM batch_job_totals WHERE batch_id = :batch_id;

-- name: group_batches_jobs_by_status
SELECT batch_id, status, n FROM batch_job_totals
WHERE batch_id IN (SELECT value FROM json_each(:ids));

-- name: get_batch
SELECT data FROM batches WHERE id = :id;

-- name: batch_status
SELECT status FROM batches WHERE id = :id;

-- name: update_batch
UPDATE batches
SET status = :status, created_us = :created_us, updated_us = :updated_us, key = :key,
    data = :data
WHERE id = :id AND status = :expected;

-- name: count_batches
SELECT count(*) FROM batches;

-- name: list_batches
SELECT id, data FROM batches
ORDER BY created_us DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: ping
SELECT 1;

-- name: record_webhook_delivery
INSERT INTO webhook_deliveries (provider, delivery_id, remote_id, received_us)
VALUES (:provider, :delivery_id, :remote_id, :received_us)
ON CONFLICT (provider, delivery_id) DO NOTHING;

-- name: forget_webhook_delivery
DELETE FROM webhook_deliveries WHERE provider = :provider AND delivery_id = :delivery_id;

-- name: prune_webhook_deliveries
DELETE FROM webhook_deliveries WHERE (provider, delivery_id) IN (
    SELECT provider, delivery_id FROM webhook_deliveries
    WHERE received_us < :before_us ORDER BY received_us LIMIT :limit
);
