#include "jobs/lifecycle/retention.hpp"

#include <spdlog/spdlog.h>

#include "store/database.hpp"
#include "jobs/core/stage.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;

std::vector<fs::path> expired_work(store::database& db, const spool& dirs, double now, double days) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dirs.state / "jobs", ec)) {
    if (!entry.is_directory()) continue;
    const auto job = db.job_by_name(entry.path().filename().string());
    if (!job || !job->finished_at || !is_terminal(*parse_job_stage(job->stage))) continue;  // orphans are adopted
    if (job->retry_at) continue;  // its result files are still to be written from these
    if (*job->finished_at < now - days * 86400) out.push_back(entry.path());
  }
  return out;
}

int remove_work(const std::vector<fs::path>& folders) {
  int removed = 0;
  for (const auto& dir : folders) {
    std::error_code failed;
    fs::remove_all(dir, failed);
    if (failed) {
      spdlog::warn("job {}: could not remove its working files: {}", dir.filename().string(), failed.message());
      continue;
    }
    spdlog::info("job {}: working files removed (its retention passed)", dir.filename().string());
    ++removed;
  }
  return removed;
}

int remove_expired_work(store::database& db, const spool& dirs, double now, double days) {
  return remove_work(expired_work(db, dirs, now, days));
}

std::uintmax_t directory_bytes(const fs::path& dir) {
  std::uintmax_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      const auto n = it->file_size(size_ec);
      if (!size_ec) total += n;
    }
  }
  return total;
}

}  // namespace batchd::jobs
