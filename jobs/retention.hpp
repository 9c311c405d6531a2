#pragma once
// The state directory does not only grow: a job's working files (its kept
// source, chunks, id lists, downloads, sorted parts) are removed once it
// ended more than `retention_days` ago. Its outbox, rejected/ files, ledger
// bookings and database row stay.
#include <cstdint>
#include <filesystem>

#include "spool.hpp"

namespace batchd::store {
class database;
}

namespace batchd::jobs {

// Removes the working files of jobs that ended before `now - days`; returns
// how many jobs' files went. Never touches an unfinished job's.
int remove_expired_work(store::database& db, const spool& dirs, double now, double days);

// Bytes of the files under `dir` (what cannot be read is not counted).
std::uintmax_t directory_bytes(const std::filesystem::path& dir);

}  // namespace batchd::jobs
