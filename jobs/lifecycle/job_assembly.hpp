#pragma once
// The loop's half of assembly (intake.hpp has the worker's): what assembly
// made of a received job becomes its chunks (→ assembled), or the job is
// rejected (→ failed, its file and companions in rejected/ with the reason).
#include <nlohmann/json.hpp>
#include <optional>

#include "jobs/core/spool.hpp"
#include "jobs/kinds/job_kind.hpp"
#include "store/database.hpp"

namespace batchd::ledger {
class pricing_table;
}

namespace batchd::jobs {

class job_transitions;

// What the price table says of the job's model at intake: a model already
// shut down refuses the job (with OpenAI's replacement named); one shutting
// down inside the 24h window, or one with no price, gives a warning.
void check_model(assembly& a, const store::job_row& job, const ledger::pricing_table& prices, double now);

// Records what assembly made (→ assembled), after check_model, or rejects
// the job. Returns the rejection (the .error.json's content) when there is one.
std::optional<nlohmann::json> record_assembly(job_transitions& moves, const spool& dirs, const store::job_row& job,
                                              assembly a);

// Both halves on the caller's thread (tests): validates a `received` job and
// cuts it into chunks, or rejects it. Safe to run again after a crash.
std::optional<nlohmann::json> assemble_job(job_transitions& moves, const spool& dirs, const store::job_row& job,
                                           const jobfiles::intake_options& opt);

}  // namespace batchd::jobs
