#include "job_report.hpp"

#include <algorithm>
#include <ctime>

#include "atomic_file.hpp"
#include "job_kind.hpp"
#include "reconciliation.hpp"
#include "stage.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string utc_format(double unix_seconds, const char* format) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

}  // namespace

json job_progress(const store::job_row& job, const std::vector<store::chunk_row>& chunks) {
  std::int64_t in_flight_done = 0, first_attempt_requests = 0;
  for (const auto& c : chunks) {
    if (c.stage == name(chunk_stage::polling) || c.stage == name(chunk_stage::downloading))
      in_flight_done += c.req_completed + c.req_failed;
    if (c.attempt == 1) first_attempt_requests += c.requests;
  }
  if (job_spec::parse(job.spec).packs && first_attempt_requests > 0 && job.total > first_attempt_requests)
    in_flight_done = in_flight_done * job.total / first_attempt_requests;
  const auto finished = std::min(job.total, job.succeeded + job.failed + in_flight_done);
  return {{"finished", finished}, {"total", job.total}};
}

std::string rfc3339(double unix_seconds) { return utc_format(unix_seconds, "%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_day(double unix_seconds) { return utc_format(unix_seconds, "%Y-%m-%d"); }

json job_document(const store::job_row& job, const std::vector<store::chunk_row>& chunks, const json& money) {
  const auto stage = parse_job_stage(job.stage).value_or(job_stage::failed);
  json batches = json::array();
  for (const auto& c : chunks) {
    if (!c.batch_id) continue;
    const auto api = api_usage(c);
    batches.push_back({{"id", *c.batch_id},
                       {"status", c.batch_status.value_or("unknown")},
                       {"chunk", c.idx},
                       {"attempt", c.attempt},
                       {"request_counts",
                        {{"total", c.req_total}, {"completed", c.req_completed}, {"failed", c.req_failed}}},
                       {"usage", api ? to_json(*api) : json(nullptr)}});
  }
  auto opt = [](const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); };
  json doc = {{"job", job.name},
              {"id", job.id},
              {"status", public_status(stage)},
              {"stage", job.stage},
              {"created_at", rfc3339(job.created_at)},
              {"finished_at", job.finished_at ? json(rfc3339(*job.finished_at)) : json(nullptr)},
              {"endpoint", opt(job.endpoint)},
              {"model", opt(job.model)},
              {"counts", {{"total", job.total}, {"succeeded", job.succeeded}, {"failed", job.failed}}},
              {"progress", job_progress(job, chunks)},
              {"batches", batches},
              {"cost", nullptr}};
  for (const auto& [k, v] : money.items()) doc[k] = v;
  if (job.error) doc["error"] = *job.error;
  // A step that threw, while the rescuer tries it again.
  doc["last_error"] = opt(job.last_error);
  doc["retry_at"] = job.retry_at ? json(rfc3339(*job.retry_at)) : json(nullptr);
  doc["step_failures"] = job.step_failures;
  return doc;
}

void write_job_json(const spool& dirs, const store::job_row& job,
                    const std::vector<store::chunk_row>& chunks, const json& money) {
  const auto dir = dirs.outbox / job.name;
  fs::create_directories(dir);
  write_file_atomically(dir / "job.json", job_document(job, chunks, money).dump(2) + "\n");
}

fs::path attempt_prefix(const spool& dirs, const store::job_row& job, const store::chunk_row& c) {
  // Jobs begun before work/ existed keep their results where they were.
  const auto before_work = dirs.job_dir(job.name) / "results";
  const auto dir = fs::exists(before_work) ? before_work : dirs.work_dir(job.name) / "results";
  return dir / ("chunk-" + std::to_string(c.idx) + "-attempt-" + std::to_string(c.attempt));
}

result_parts sorted_parts(const spool& dirs, const store::job_row& job, const std::vector<store::chunk_row>& chunks) {
  result_parts parts;
  for (const auto& c : chunks) {
    if (c.stage != name(chunk_stage::merged) && c.stage != name(chunk_stage::failed) &&
        c.stage != name(chunk_stage::cancelled))
      continue;
    const auto prefix = attempt_prefix(dirs, job, c).string();
    parts.results.push_back(prefix + ".results.jsonl");
    parts.errors.push_back(prefix + ".errors.jsonl");
  }
  return parts;
}

}  // namespace batchd::jobs
