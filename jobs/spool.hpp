#pragma once
// The folders batchd works in (DESIGN.md "Folders"): users drop files into
// inbox/, read outbox/<job>/ and rejected/; the state directory is batchd's own.
#include <filesystem>

namespace batchd::jobs {

struct spool {
  std::filesystem::path inbox, outbox, rejected;
  std::filesystem::path state;  // the database and each job's working files

  static spool under(const std::filesystem::path& spool_dir, const std::filesystem::path& state_dir) {
    return {spool_dir / "inbox", spool_dir / "outbox", spool_dir / "rejected", state_dir};
  }
  std::filesystem::path job_dir(const std::string& job) const { return state / "jobs" / job; }
  void create_all() const;
};

// Moves `from` to `to` without ever losing it: rename, or across file
// systems copy + fsync + rename + unlink. Throws std::filesystem_error.
void move_file(const std::filesystem::path& from, const std::filesystem::path& to);

// `dir/name`, or `dir/name-2…` (before the extensions) if taken.
std::filesystem::path free_path(const std::filesystem::path& dir, const std::string& name);

// Writes `content` to `path` through a temporary name, fsync and rename, so a
// reader sees the old file or the new one, never half.
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

}  // namespace batchd::jobs
