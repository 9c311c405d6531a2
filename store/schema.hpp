#pragma once
// The database schema as migrations: migration N takes user_version N-1 to N.
// Append, never edit, once released.
#include <array>
#include <string_view>

namespace batchd::store {

inline constexpr std::array<std::string_view, 2> migrations = {
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
};

}  // namespace batchd::store
