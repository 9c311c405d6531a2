#include "jobs/results/job_report.hpp"

#include <algorithm>

#include "io/atomic_file.hpp"
#include "jobs/core/job_spec.hpp"
#include "io/clock.hpp"
#include "ledger/reconciliation.hpp"
#include "jobs/core/stage.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

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

json job_document(const store::job_row& job, const std::vector<store::chunk_row>& chunks, const json& money) {
  const auto stage = parse_job_stage(job.stage).value_or(job_stage::failed);
  json batches = json::array();
  for (const auto& c : chunks) {
    if (!c.batch_id) continue;
    const auto api = ledger::api_usage(c);
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
              {"created_at", io::rfc3339(job.created_at)},
              {"finished_at", job.finished_at ? json(io::rfc3339(*job.finished_at)) : json(nullptr)},
              {"endpoint", opt(job.endpoint)},
              {"model", opt(job.model)},
              {"counts", {{"total", job.total}, {"succeeded", job.succeeded}, {"failed", job.failed}}},
              {"progress", job_progress(job, chunks)},
              {"batches", batches},
              {"cost", nullptr}};
  for (const auto& [k, v] : money.items()) doc[k] = v;
  // Why a held job waits: over a cost limit ("cost"), or its account out of quota ("quota"; it asks the
  // API again at look_again_at, or on `batchctl resume`).
  const bool held = stage == job_stage::held;
  doc["held_reason"] = held && job.hold_reason ? json(*job.hold_reason) : json(nullptr);
  doc["held_for"] = held && job.held_for ? json(*job.held_for) : json(nullptr);
  doc["look_again_at"] = held && job.look_again_at ? json(io::rfc3339(*job.look_again_at)) : json(nullptr);
  if (job.error) doc["error"] = *job.error;
  // What intake warned of: a model with no price, one shutting down.
  doc["warnings"] = job.warnings.empty() ? json::array() : json::parse(job.warnings, nullptr, false);
  // A step that threw, while the rescuer tries it again.
  doc["last_error"] = opt(job.last_error);
  doc["retry_at"] = job.retry_at ? json(io::rfc3339(*job.retry_at)) : json(nullptr);
  doc["step_failures"] = job.step_failures;
  return doc;
}

void write_job_json(const spool& dirs, const store::job_row& job,
                    const std::vector<store::chunk_row>& chunks, const json& money) {
  const auto dir = dirs.outbox / job.name;
  fs::create_directories(dir);
  io::write_file_atomically(dir / "job.json", job_document(job, chunks, money).dump(2) + "\n");
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
