#include "jobs/lifecycle/job_assembly.hpp"

#include "io/atomic_file.hpp"
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

std::optional<json> record_assembly(job_transitions& moves, const spool& dirs, const store::job_row& job,
                                    const assembly& a) {
  if (job.stage != name(job_stage::received)) return std::nullopt;
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
