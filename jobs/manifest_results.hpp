#pragma once
// A manifest job's outbox: results.jsonl and errors.jsonl with one line per
// input. Packed embedding requests are unpacked (each input's line carries
// its custom_id and its embedding); lines are put in input order when the
// manifest asks for it (the default).
#include <filesystem>
#include <vector>

#include "database.hpp"
#include "manifest.hpp"
#include "spool.hpp"

namespace batchd::jobs {

// `ids`: the assembler's file of custom_ids, one per input in input order.
void publish_manifest_results(const spool& dirs, const store::job_row& job,
                              const std::vector<store::chunk_row>& chunks, const manifest& m,
                              const std::filesystem::path& ids);

}  // namespace batchd::jobs
