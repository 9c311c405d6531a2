#pragma once
// The database schema as migrations: migration N takes user_version N-1 to N.
// Append, never edit, once released.
#include <array>
#include <string_view>

namespace batchd::store {

inline constexpr std::array<std::string_view, 8> migrations = {
    R"sql(
CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  kind             TEXT NOT NULL CHECK (kind IN ('requests', 'manifest')),
  source           TEXT NOT NULL,            -- the dropped file, kept in the state directory
  stage            TEXT NOT NULL CHECK (stage IN ('received', 'validated', 'assembled', 'running',
                                                  'merged', 'completed', 'failed', 'cancelled')),
  endpoint         TEXT,
  model            TEXT,
  total            INTEGER NOT NULL DEFAULT 0,
  succeeded        INTEGER NOT NULL DEFAULT 0,
  failed           INTEGER NOT NULL DEFAULT 0,
  error            TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
  created_at       REAL NOT NULL,
  finished_at      REAL,
  -- finished exactly when terminal
  CHECK ((stage IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);

CREATE TABLE chunks (
  id              INTEGER PRIMARY KEY,
  job_id          INTEGER NOT NULL REFERENCES jobs(id),
  idx             INTEGER NOT NULL,          -- which part of the job (1-based)
  attempt         INTEGER NOT NULL,          -- 1, then follow-ups for retryable failures
  stage           TEXT NOT NULL CHECK (stage IN ('assembled', 'uploading', 'uploaded', 'creating',
                                                 'polling', 'downloading', 'merged', 'failed',
                                                 'cancelled')),
  path            TEXT NOT NULL,             -- the chunk's JSONL in the state directory
  sha256          TEXT NOT NULL,
  requests        INTEGER NOT NULL,
  bytes           INTEGER NOT NULL,
  est_tokens      INTEGER NOT NULL,
  file_id         TEXT,                      -- set from 'uploaded' on
  batch_id        TEXT,                      -- set from 'polling' on
  batch_status    TEXT,
  req_total       INTEGER NOT NULL DEFAULT 0,
  req_completed   INTEGER NOT NULL DEFAULT 0,
  req_failed      INTEGER NOT NULL DEFAULT 0,
  output_file_id  TEXT,
  error_file_id   TEXT,
  error           TEXT,
  not_before      REAL NOT NULL DEFAULT 0,   -- do not call the API for this chunk before then
  creates         INTEGER NOT NULL DEFAULT 0, -- batches created for this attempt so far
  updated_at      REAL NOT NULL,
  UNIQUE (job_id, idx, attempt),
  -- uploaded from 'uploaded' on; a chunk may fail or be cancelled before that
  CHECK (stage IN ('assembled', 'uploading', 'failed', 'cancelled') OR file_id IS NOT NULL),
  CHECK (stage NOT IN ('polling', 'downloading', 'merged') OR batch_id IS NOT NULL)
);
CREATE INDEX chunks_by_job ON chunks (job_id, idx, attempt);

CREATE TABLE events (
  id       INTEGER PRIMARY KEY,
  at       REAL NOT NULL,
  job_id   INTEGER REFERENCES jobs(id),
  chunk_id INTEGER REFERENCES chunks(id),
  message  TEXT NOT NULL
);
CREATE INDEX events_by_job ON events (job_id, id);
)sql",
    // 2: a chunk is a byte range of its file (the kept source, or a retry file).
    R"sql(
ALTER TABLE chunks ADD COLUMN offset INTEGER NOT NULL DEFAULT 0 CHECK (offset >= 0);
)sql",
    // 3: money. Jobs may be held (over their cost limit or the daily budget)
    // and carry their estimate; the ledger books each merged chunk attempt.
    // SQLite cannot change a CHECK, so jobs is rebuilt (foreign keys are off
    // while migrations run).
    R"sql(
CREATE TABLE jobs_v3 (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  kind             TEXT NOT NULL CHECK (kind IN ('requests', 'manifest')),
  source           TEXT NOT NULL,
  stage            TEXT NOT NULL CHECK (stage IN ('received', 'validated', 'assembled', 'held', 'running',
                                                  'merged', 'completed', 'failed', 'cancelled')),
  endpoint         TEXT,
  model            TEXT,
  total            INTEGER NOT NULL DEFAULT 0,
  succeeded        INTEGER NOT NULL DEFAULT 0,
  failed           INTEGER NOT NULL DEFAULT 0,
  error            TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
  created_at       REAL NOT NULL,
  finished_at      REAL,
  est_input_tokens  INTEGER NOT NULL DEFAULT 0,  -- heuristic: request bytes / 4
  est_output_tokens INTEGER NOT NULL DEFAULT 0,  -- the requests' max_tokens caps, where given
  max_cost          INTEGER,                     -- pico-USD at the batch price; NULL: no limit
  hold_reason       TEXT,                        -- why it is held (stage 'held')
  released          INTEGER NOT NULL DEFAULT 0 CHECK (released IN (0, 1)),
  CHECK ((stage IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);
INSERT INTO jobs_v3 (id, name, kind, source, stage, endpoint, model, total, succeeded, failed, error,
                     cancel_requested, created_at, finished_at)
  SELECT id, name, kind, source, stage, endpoint, model, total, succeeded, failed, error,
         cancel_requested, created_at, finished_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v3 RENAME TO jobs;

CREATE TABLE ledger (
  id                INTEGER PRIMARY KEY,
  job_id            INTEGER NOT NULL REFERENCES jobs(id),
  chunk_id          INTEGER NOT NULL REFERENCES chunks(id),
  model             TEXT NOT NULL,             -- as the responses name it
  booked_at         REAL NOT NULL,
  day               TEXT NOT NULL,             -- UTC date of booked_at, YYYY-MM-DD
  requests          INTEGER NOT NULL,
  prompt_tokens     INTEGER NOT NULL,          -- cached ones included, as the API counts
  cached_tokens     INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  batch_cost        INTEGER,                   -- pico-USD; NULL: unknown (model not priced)
  regular_cost      INTEGER,
  -- one booking per chunk attempt and model: a merge repeated after a crash books nothing twice
  UNIQUE (chunk_id, model),
  CHECK ((batch_cost IS NULL) = (regular_cost IS NULL))
);
CREATE INDEX ledger_by_day ON ledger (day);
CREATE INDEX ledger_by_job ON ledger (job_id);
)sql",
    // 4: the job state machine enforced (issue 12). `validated` goes (it was
    // entered and left in one transaction); a job whose step threw carries
    // the error and when it is tried again; what later steps need from a
    // manifest is kept as `spec` (parsed once); chunks keep their expected
    // custom_ids and what their merge accounted for.
    R"sql(
CREATE TABLE jobs_v4 (
  id               INTEGER PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  kind             TEXT NOT NULL CHECK (kind IN ('requests', 'manifest')),
  source           TEXT NOT NULL,
  stage            TEXT NOT NULL CHECK (stage IN ('received', 'assembled', 'held', 'running',
                                                  'merged', 'completed', 'failed', 'cancelled')),
  endpoint         TEXT,
  model            TEXT,
  total            INTEGER NOT NULL DEFAULT 0,
  succeeded        INTEGER NOT NULL DEFAULT 0,
  failed           INTEGER NOT NULL DEFAULT 0,
  error            TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
  created_at       REAL NOT NULL,
  finished_at      REAL,
  est_input_tokens  INTEGER NOT NULL DEFAULT 0,
  est_output_tokens INTEGER NOT NULL DEFAULT 0,
  max_cost          INTEGER,
  hold_reason       TEXT,
  released          INTEGER NOT NULL DEFAULT 0 CHECK (released IN (0, 1)),
  spec              TEXT,                        -- JSON: what later steps need from the manifest
  last_error        TEXT,                        -- the last step that threw, while it is retried
  step_failures     INTEGER NOT NULL DEFAULT 0,  -- steps that threw in a row
  retry_at          REAL,                        -- when the rescuer runs the job again
  CHECK ((stage IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
  CHECK ((retry_at IS NULL) OR (last_error IS NOT NULL))
);
INSERT INTO jobs_v4 (id, name, kind, source, stage, endpoint, model, total, succeeded, failed, error,
                     cancel_requested, created_at, finished_at, est_input_tokens, est_output_tokens, max_cost,
                     hold_reason, released)
  SELECT id, name, kind, source, CASE stage WHEN 'validated' THEN 'received' ELSE stage END, endpoint, model,
         total, succeeded, failed, error, cancel_requested, created_at, finished_at, est_input_tokens,
         est_output_tokens, max_cost, hold_reason, released FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_v4 RENAME TO jobs;

CREATE INDEX jobs_by_retry ON jobs (retry_at) WHERE retry_at IS NOT NULL;

ALTER TABLE chunks ADD COLUMN ids_path TEXT;  -- the attempt's custom_ids, one a line, as validated
ALTER TABLE chunks ADD COLUMN merged_succeeded INTEGER NOT NULL DEFAULT 0;  -- requests, by the merge
ALTER TABLE chunks ADD COLUMN merged_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunks ADD COLUMN merged_retry INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chunks ADD COLUMN merged_lost INTEGER NOT NULL DEFAULT 0;  -- failed as batchd_result_missing
ALTER TABLE chunks ADD COLUMN unsure_at REAL;  -- an upload or create whose outcome is unknown ended then
)sql",
    // 5: reconciliation (issue 16). A batch's own `usage` (on batches created
    // since 2025-09-07), kept from its final poll, and whether the merge found
    // it different from the tokens booked from the batch's result lines.
    R"sql(
ALTER TABLE chunks ADD COLUMN api_input_tokens INTEGER;  -- NULL: the batch carried no usage
ALTER TABLE chunks ADD COLUMN api_cached_tokens INTEGER;
ALTER TABLE chunks ADD COLUMN api_output_tokens INTEGER;
ALTER TABLE chunks ADD COLUMN usage_mismatch INTEGER NOT NULL DEFAULT 0 CHECK (usage_mismatch IN (0, 1));
)sql",
    // 6: synchronous calls in the ledger (a search's query embedding): no
    // chunk, booked at the regular price in both cost columns.
    R"sql(
CREATE TABLE ledger_v6 (
  id                INTEGER PRIMARY KEY,
  job_id            INTEGER NOT NULL REFERENCES jobs(id),
  chunk_id          INTEGER REFERENCES chunks(id),  -- NULL for a synchronous call
  kind              TEXT NOT NULL DEFAULT 'batch' CHECK (kind IN ('batch', 'sync')),
  model             TEXT NOT NULL,
  booked_at         REAL NOT NULL,
  day               TEXT NOT NULL,
  requests          INTEGER NOT NULL,
  prompt_tokens     INTEGER NOT NULL,
  cached_tokens     INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  batch_cost        INTEGER,                   -- what was paid: the batch price, or the regular one for a sync call
  regular_cost      INTEGER,
  UNIQUE (chunk_id, model),
  CHECK ((batch_cost IS NULL) = (regular_cost IS NULL)),
  CHECK ((kind = 'sync') = (chunk_id IS NULL))
);
INSERT INTO ledger_v6 (id, job_id, chunk_id, model, booked_at, day, requests, prompt_tokens, cached_tokens,
                       completion_tokens, batch_cost, regular_cost)
  SELECT id, job_id, chunk_id, model, booked_at, day, requests, prompt_tokens, cached_tokens, completion_tokens,
         batch_cost, regular_cost FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_v6 RENAME TO ledger;
CREATE INDEX ledger_by_day ON ledger (day);
CREATE INDEX ledger_by_job ON ledger (job_id);
)sql",
    // 7: refusals (issue 22). A held job says why it is held: over a cost
    // limit, or its account out of quota (then it asks the API again at
    // look_again_at). A scaled clock keeps its origin. A chunk's unsure_at is now the one sign that an upload
    // or create may have happened (NULL: nothing is in doubt); chunks left
    // mid-call by an older batchd are taken as in doubt since their last move.
    R"sql(
ALTER TABLE jobs ADD COLUMN held_for TEXT CHECK (held_for IN ('cost', 'quota'));
ALTER TABLE jobs ADD COLUMN look_again_at REAL;  -- a quota hold: when the API is asked again
UPDATE jobs SET held_for = 'cost' WHERE stage = 'held';
UPDATE chunks SET unsure_at = updated_at WHERE stage IN ('uploading', 'creating') AND unsure_at IS NULL;
-- A scaled clock (tests, the demo) goes on from its origin across restarts.
CREATE TABLE clock_origins (
  scale REAL PRIMARY KEY,
  clock REAL NOT NULL,  -- the clock's reading …
  real  REAL NOT NULL   -- … at this real unix time
);
)sql",
    // 8: today's models (issue 24). A booking keeps the tokens the API
    // counts apart (reasoning within output; cache writes and image tokens
    // within input) and the price row that priced it; a job keeps the
    // warnings intake gave it (a model with no price, one shutting down).
    R"sql(
ALTER TABLE ledger ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN image_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ledger ADD COLUMN priced_as TEXT;  -- NULL: the cost is unknown
ALTER TABLE jobs ADD COLUMN warnings TEXT;     -- JSON array of strings
)sql",
};

}  // namespace batchd::store
