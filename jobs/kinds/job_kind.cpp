#include "jobs/kinds/job_kind.hpp"

#include <stdexcept>

#include "store/database.hpp"
#include "jobs/kinds/manifest_kind.hpp"
#include "jobs/kinds/request_file_kind.hpp"

namespace batchd::jobs {
using nlohmann::json;

json refusal(const std::string& filename, const std::string& error, const std::string& fix) {
  return {{"file", filename}, {"error", error}, {"fix", fix}};
}

const job_kind& kind_of(std::string_view name) {
  static const request_file_kind requests;
  static const manifest_kind manifests;
  if (name == requests.name()) return requests;
  if (name == manifests.name()) return manifests;
  throw std::invalid_argument("unknown kind of job: " + std::string(name));
}

const job_kind* kind_for_file(const std::string& filename) {
  if (filename.ends_with(".job.json")) return &kind_of("manifest");
  if (filename.ends_with(".jsonl")) return &kind_of("requests");
  return nullptr;
}

}  // namespace batchd::jobs
