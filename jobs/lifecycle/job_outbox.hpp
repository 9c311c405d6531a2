#pragma once
// Publishing an ending job's outbox — results.jsonl and errors.jsonl from
// every ended attempt, through the kind's publisher — with the completion
// invariant's accounting: which asked ids had no line, and why.
#include <cstdint>
#include <string>
#include <vector>

#include "jobs/results/chunk_results.hpp"
#include "store/database.hpp"
#include "jobs/kinds/job_kind.hpp"
#include "jobs/results/outbox_writer.hpp"
#include "jobs/core/spool.hpp"

namespace batchd::jobs {

struct outbox_result {
  outbox_writer::totals lines;
  std::int64_t asked = 0;  // ids the job was asked
  std::int64_t lost = 0;   // of the error lines: requests found missing when their chunk was sorted
  // Empty when every asked id has a line of its own; else what is missing and
  // where it is known ("2 of 5 requests have no result; …; chunk 1 accounted for 3 of its 5").
  std::string shortfall;
};

// What an id with no line gets when a job finishes (merged → completed).
struct missing_line {
  const char* code;
  const char* message;
};
inline constexpr missing_line finish_missing{
    result_missing_code, "batchd has no result for this request: it is in neither result file of its batches"};

// `tolerant` (a job that fails or is cancelled): a part that cannot be read
// is left out, and its ids get `missing_code` lines; else it is an error.
// Throws std::system_error / std::runtime_error on I/O, and
// std::logic_error when chunks exist but no record of the asked ids does.
outbox_result publish_outbox(const spool& dirs, const store::job_row& job, const job_spec& spec,
                             const std::vector<store::chunk_row>& chunks, bool tolerant,
                             const std::string& missing_code, const std::string& missing_message);

}  // namespace batchd::jobs
