#include "jobs/core/spool.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;

void spool::create_all() const {
  for (const auto& d : {inbox, outbox, rejected, state / "jobs"}) fs::create_directories(d);
}

fs::path free_path(const fs::path& dir, const std::string& name) {
  if (!fs::exists(dir / name)) return dir / name;
  const auto dot = name.find('.', 1);
  const auto stem = name.substr(0, dot);
  const auto ext = dot == std::string::npos ? "" : name.substr(dot);
  for (int n = 2;; ++n) {
    auto p = dir / (stem + "-" + std::to_string(n) + ext);
    if (!fs::exists(p)) return p;
  }
}

}  // namespace batchd::jobs
