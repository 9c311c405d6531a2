#pragma once
// The state directory does not only grow: a job's working files (its kept
// source, chunks, id lists, downloads, sorted parts) are removed once it
// ended more than `retention_days` ago. Its outbox, rejected/ files, ledger
// bookings and database row stay.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "jobs/core/spool.hpp"

namespace batchd::store {
class database;
}

namespace batchd::jobs {

// The working folders of jobs that ended before `now - days` (never an
// unfinished job's). Uses the database: on the loop.
std::vector<std::filesystem::path> expired_work(store::database& db, const spool& dirs, double now, double days);
// Removes them; returns how many went. Files only: safe on a worker.
int remove_work(const std::vector<std::filesystem::path>& folders);
// Both, one after the other.
int remove_expired_work(store::database& db, const spool& dirs, double now, double days);

// Bytes of the files under `dir` (what cannot be read is not counted).
std::uintmax_t directory_bytes(const std::filesystem::path& dir);

}  // namespace batchd::jobs
