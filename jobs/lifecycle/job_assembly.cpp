#include "jobs/lifecycle/job_assembly.hpp"

#include "io/atomic_file.hpp"
#include "io/clock.hpp"
#include "ledger/pricing.hpp"
#include "jobs/core/stage.hpp"
#include "jobs/intake/intake.hpp"
#include "jobs/lifecycle/job_transitions.hpp"

namespace batchd::jobs {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Refuses a received job: its file (and any companions, such as a manifest's
// inputs) into rejected/ with `doc` as <file>.error.json; the job fails.
json reject_job(job_transitions& moves, const spool& dirs, const store::job_row& job, json doc,
                const std::vector<fs::path>& companions) {
  doc["job"] = job.name;
  const auto where = reject_file(dirs, job.source, doc);
  for (const auto& f : companions)
    if (fs::exists(f)) io::move_file(f, free_path(dirs.rejected, f.filename().string()));  // nothing dropped is lost
  (void)moves.to_rejected(job, doc["error"], where.string() + ".error.json");
  return doc;
}

}  // namespace

void check_model(assembly& a, const store::job_row& job, const ledger::pricing_table& prices, double now) {
  const auto& model = a.model;
  const auto found = prices.find(model);
  if (!found) {
    a.warnings.push_back("model " + model + " has no price in the table in force (" + prices.origin +
                         "): its cost is booked as unknown, never as 0, and with max_cost_usd or a daily budget "
                         "set the job is held until the table prices it (batchctl prices; SIGHUP reloads)");
    return;
  }
  const auto& p = *found->price;
  if (!p.batch_offered)
    a.warnings.push_back("model " + model + " has no batch price (row " + found->row + " of " + prices.origin +
                         "): OpenAI lists none, so its cost is booked as unknown");
  if (p.shutdown.empty()) return;
  const auto instead = p.replacement.empty() ? std::string() : "; OpenAI names " + p.replacement + " in its place";
  if (p.shutdown <= io::utc_day(now)) {
    a.rejection = refusal(fs::path(job.source).filename().string(),
                          "model " + model + " was shut down on " + p.shutdown + " (price row " + found->row +
                              ", from OpenAI's deprecations page)",
                          p.replacement.empty() ? "use a model that is still served"
                                                : "use " + p.replacement + ", which OpenAI names in its place");
  } else if (p.shutdown <= io::utc_day(now + 86400)) {
    a.warnings.push_back("model " + model + " shuts down on " + p.shutdown +
                         ", inside this job's 24h completion window: batches still running then may fail" + instead);
  }
}

std::optional<json> record_assembly(job_transitions& moves, const spool& dirs, const store::job_row& job,
                                    assembly a) {
  if (job.stage != name(job_stage::received)) return std::nullopt;
  if (!a.rejection) check_model(a, job, moves.prices(), moves.clock().now());
  if (a.rejection) return reject_job(moves, dirs, job, *a.rejection, a.companions);
  (void)moves.to_assembled(job, a);
  return std::nullopt;
}

std::optional<json> assemble_job(job_transitions& moves, const spool& dirs, const store::job_row& job,
                                 const jobfiles::intake_options& opt) {
  if (job.stage != name(job_stage::received)) return std::nullopt;
  return record_assembly(moves, dirs, job, assemble_files(dirs, job, opt));
}

}  // namespace batchd::jobs
