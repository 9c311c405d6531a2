#pragma once
// Reconciliation: a batch's own `usage` (API-FACTS §2: on batches created
// since 2025-09-07) against the tokens the ledger booked from the batch's
// result lines. The ledger books the lines; the API's figure is only a
// cross-check, and a batch that carries none is no mismatch.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "store/database.hpp"
#include "ledger/usage.hpp"

namespace batchd::ledger {

struct batch_tokens {
  std::int64_t input = 0;   // cached ones included, as the API counts them
  std::int64_t cached = 0;
  std::int64_t output = 0;
  bool operator==(const batch_tokens&) const = default;
};

// What the API said the chunk's batch used; unset when it said nothing.
std::optional<batch_tokens> api_usage(const store::chunk_row& c);
// What the ledger books from a batch's lines, over all their models.
batch_tokens booked_tokens(const std::map<std::string, token_usage>& usage);
// Whether the batch's own figure differs from `booked`; when it does, a
// warning in the log names the job, the batch and both figures.
bool usage_differs(const store::job_row& job, const store::chunk_row& c, const batch_tokens& booked);

// {"input_tokens", "cached_tokens", "output_tokens"}
nlohmann::json to_json(const batch_tokens& t);

// job.json's "usage_mismatches": one {batch, chunk, attempt, api, booked}
// per merged batch of `job` whose usage differed from its bookings.
nlohmann::json usage_mismatches(store::database& db, const store::job_row& job);

}  // namespace batchd::ledger
