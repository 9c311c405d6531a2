#pragma once
// What users read in outbox/<job>/job.json (DESIGN.md's contract with
// scripts), and where each chunk attempt's sorted results lie until the job
// ends and its kind publishes them (job_kind.hpp).
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "jobs/core/spool.hpp"

namespace batchd::jobs {


// Requests (a manifest: inputs) finished so far, {finished, total}, for
// both kinds of job alike: what merges counted exactly, plus what batches
// still in flight report in their request_counts. The API counts requests;
// a packed manifest's request carries several inputs, so there the
// in-flight part is scaled by inputs per request (an estimate until merged).
nlohmann::json job_progress(const store::job_row& job, const std::vector<store::chunk_row>& chunks);

// `money`: the cost, estimate and hold reason (ledger.hpp's job_money).
nlohmann::json job_document(const store::job_row& job, const std::vector<store::chunk_row>& chunks,
                            const nlohmann::json& money);

// Writes outbox/<job>/job.json.
void write_job_json(const spool& dirs, const store::job_row& job,
                    const std::vector<store::chunk_row>& chunks, const nlohmann::json& money);

// Where one chunk attempt's sorted results live (see chunk_results.hpp).
std::filesystem::path attempt_prefix(const spool& dirs, const store::job_row& job,
                                     const store::chunk_row& chunk);

// Every ended attempt's sorted result and error files, in chunk and attempt order.
struct result_parts {
  std::vector<std::filesystem::path> results, errors;
};
result_parts sorted_parts(const spool& dirs, const store::job_row& job, const std::vector<store::chunk_row>& chunks);

}  // namespace batchd::jobs
