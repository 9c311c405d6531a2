#include "ledger/reconciliation.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace batchd::ledger {
using nlohmann::json;

namespace {

std::string describe(const batch_tokens& t) {
  return std::to_string(t.input) + " input (" + std::to_string(t.cached) + " cached), " + std::to_string(t.output) +
         " output";
}

}  // namespace

std::optional<batch_tokens> api_usage(const store::chunk_row& c) {
  if (!c.api_input_tokens) return std::nullopt;
  return batch_tokens{*c.api_input_tokens, c.api_cached_tokens.value_or(0), c.api_output_tokens.value_or(0)};
}

batch_tokens booked_tokens(const std::map<std::string, token_usage>& usage) {
  batch_tokens t;
  for (const auto& [_, u] : usage) {
    t.input += u.prompt;
    t.cached += u.cached;
    t.output += u.completion;
  }
  return t;
}

bool usage_differs(const store::job_row& job, const store::chunk_row& c, const batch_tokens& booked) {
  const auto api = api_usage(c);
  if (!api || *api == booked) return false;
  spdlog::warn("job {} chunk {} attempt {}: batch {}: usage mismatch: the batch's usage says {}; its result lines "
               "say {} (the ledger books the lines)",
               job.name, c.idx, c.attempt, c.batch_id.value_or("?"), describe(*api), describe(booked));
  return true;
}

json to_json(const batch_tokens& t) {
  return {{"input_tokens", t.input}, {"cached_tokens", t.cached}, {"output_tokens", t.output}};
}

json usage_mismatches(store::database& db, const store::job_row& job) {
  json out = json::array();
  const auto chunks = db.chunks_of(job.id);
  if (std::none_of(chunks.begin(), chunks.end(), [](const auto& c) { return c.usage_mismatch; })) return out;
  std::map<std::string, batch_tokens> booked;  // by chunk id
  for (const auto& s : db.ledger({"chunk", std::nullopt, std::nullopt, job.id}))
    booked[s.key] = {s.prompt_tokens, s.cached_tokens, s.completion_tokens};
  for (const auto& c : chunks) {
    const auto api = api_usage(c);
    if (!c.usage_mismatch || !api) continue;
    out.push_back({{"batch", c.batch_id.value_or("")},
                   {"chunk", c.idx},
                   {"attempt", c.attempt},
                   {"api", to_json(*api)},
                   {"booked", to_json(booked[std::to_string(c.id)])}});
  }
  return out;
}

}  // namespace batchd::ledger
