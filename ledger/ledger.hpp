#pragma once
// The cost ledger's rules: what a merged chunk books, what a job is estimated
// to cost before it is sent, and when a job is held instead of sent. The
// store keeps the bookings; the pricing table gives the prices.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/database.hpp"
#include "ledger/money.hpp"
#include "ledger/pricing.hpp"
#include "ledger/usage.hpp"

namespace batchd::ledger {

// The bookings for one chunk attempt: one per model, priced at the batch
// and the regular price; a model missing from the table is booked with an
// unknown cost (and a warning in the log), never as zero.
std::vector<store::ledger_entry> bookings_for(const store::job_row& job, const store::chunk_row& chunk,
                                             const std::map<std::string, token_usage>& usage,
                                             const pricing_table& prices);

// {requests, prompt_tokens, cached_tokens, completion_tokens, reasoning_tokens,
//  cache_write_tokens, image_tokens, batch_usd, regular_usd, saved_usd,
//  batch_pusd, regular_pusd, unpriced_requests}; the
// USD figures are exact decimal strings (format_usd), the pusd ones the same
// as integer pico-dollars; null when nothing in the sum has a known price.
nlohmann::json money_json(const store::ledger_sum& s);

// Before submission. Input tokens: request bytes / 4 (JSON is at least as
// long as its text, so this errs high). Output tokens: the requests'
// max_tokens / max_completion_tokens / max_output_tokens where given, none
// otherwise. Priced at the batch price, no cache discount assumed.
struct cost_estimate {
  std::int64_t input_tokens = 0, output_tokens = 0;
  std::optional<picousd> batch, regular;  // unset: unknown, and why
  std::string unknown_because;
};
cost_estimate estimate(const store::job_row& job, const pricing_table& prices);

struct budget {
  std::optional<picousd> daily;  // configured daily budget at the batch price; unset: none
};

// Why `job` must wait rather than be sent, or nullopt if it may go.
// `committed_today`: booked today plus what jobs running now are estimated
// to add. Released jobs always go.
std::optional<std::string> hold_reason(const store::job_row& job, const cost_estimate& e, const budget& b,
                                       picousd committed_today, const std::string& today);

// Booked today (UTC `today`) plus the unbooked rest of the estimates of jobs
// running now.
picousd committed_today(store::database& db, const pricing_table& prices, const std::string& today);

// What job.json and the socket show about money: {"cost", "estimate",
// "max_cost_usd", "usage_mismatches"} (cost null until something is booked;
// the mismatches: reconciliation.hpp, empty when none).
nlohmann::json job_money(store::database& db, const store::job_row& job, const pricing_table& prices);

}  // namespace batchd::ledger
