#pragma once
// The folders batchd works in (DESIGN.md "Folders"): users drop files into
// inbox/, read outbox/<job>/ and rejected/; the state directory is batchd's own.
#include <filesystem>
#include <string>

namespace batchd::jobs {

struct spool {
  std::filesystem::path inbox, outbox, rejected;
  std::filesystem::path state;  // the database and each job's working files

  static spool under(const std::filesystem::path& spool_dir, const std::filesystem::path& state_dir) {
    return {spool_dir / "inbox", spool_dir / "outbox", spool_dir / "rejected", state_dir};
  }
  // A job's folder: the dropped file (and a manifest's inputs file) as taken in …
  std::filesystem::path job_dir(const std::string& job) const { return state / "jobs" / job; }
  // … and, apart, the files batchd writes for it, so that no name a user
  // chose can ever be one of batchd's.
  std::filesystem::path work_dir(const std::string& job) const { return job_dir(job) / "work"; }
  void create_all() const;
};

// `dir/name`, or `dir/name-2…` (before the extensions) if taken.
std::filesystem::path free_path(const std::filesystem::path& dir, const std::string& name);

}  // namespace batchd::jobs
