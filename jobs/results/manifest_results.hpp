#pragma once
// A manifest job's outbox: one line per input. Packed embedding requests
// are unpacked (each input's line carries its custom_id and its embedding);
// lines are put in input order when the manifest asks for it (the default).
#include "jobs/core/job_spec.hpp"

namespace batchd::jobs {

class outbox_writer;
struct result_parts;

// Writes every ended attempt's lines through `out`; an input a packed
// response left out gets a `missing_embedding` error line. Throws
// std::runtime_error when a part cannot be read.
void publish_manifest_results(outbox_writer& out, const result_parts& parts, const job_spec& spec);

}  // namespace batchd::jobs
