#pragma once
// How big one OpenAI batch may be (API-FACTS §2). The defaults are the
// service's limits with a byte margin; tests and operators may set them lower.
#include <cstdint>

namespace batchd::jobfiles {

struct batch_limits {
  std::int64_t max_requests = 50'000;
  std::int64_t max_bytes = 200'000'000;  // the service takes 209,715,200; keep a margin
  std::int64_t max_embedding_inputs = 50'000;
};

// What a dropped file may be: how large, and what its batches may hold.
struct intake_options {
  std::int64_t max_file_bytes = 1LL << 31;  // 2 GiB
  batch_limits limits;
  double settle_s = 5;  // real seconds a file found by a rescan must have rested
};

}  // namespace batchd::jobfiles
